"""HTML forms for residents. They parse input; the rules live in the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from fangkong.residents.models import Channel, Gender, Relation, ResidentStatus, Tag
from fangkong.residents.services import ResidentInput


class ResidentForm(forms.Form):
    name = forms.CharField(label=_("Full name"), max_length=64)
    id_number = forms.CharField(
        label=_("ID number"), required=False, max_length=40,
        help_text=_("18 characters; the last may be X."))
    phone = forms.CharField(label=_("Phone"), required=False, max_length=40,
                            help_text=_("Mobile 13812345678 or landline 027-85551234."))
    gender = forms.ChoiceField(label=_("Gender"), choices=Gender.choices, required=False,
                               help_text=_("Taken from the ID number when there is one."))
    birth_date = forms.DateField(label=_("Birth date"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}))
    relation = forms.ChoiceField(label=_("Relation to householder"), choices=Relation.choices)
    tags = forms.ModelMultipleChoiceField(label=_("Tags"), queryset=Tag.objects.all(),
                                          required=False,
                                          widget=forms.CheckboxSelectMultiple)
    preferred_channel = forms.ChoiceField(
        label=_("Preferred channel"), required=False,
        choices=[("", _("No preference")), *Channel.choices])
    language_note = forms.CharField(label=_("Language or dialect"), required=False,
                                    max_length=64)
    remarks = forms.CharField(label=_("Remarks"), required=False, max_length=1000,
                              widget=forms.Textarea(attrs={"rows": 3}))
    status = forms.ChoiceField(label=_("Status"), choices=ResidentStatus.choices,
                               required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def to_input(self, *, creating: bool) -> ResidentInput:
        data = self.cleaned_data
        id_number = data.get("id_number") or ""
        phone = data.get("phone") or ""
        return ResidentInput(
            name=data["name"],
            # On edit an empty box means "unchanged": the current value is never sent to
            # the browser, only its masked form.
            id_number=id_number if (id_number or creating) else None,
            phone=phone if (phone or creating) else None,
            gender=data.get("gender") or None,
            birth_date=data.get("birth_date"),
            relation=data.get("relation") or None,
            tags=list(data.get("tags") or []),
            preferred_channel=data.get("preferred_channel", ""),
            language_note=data.get("language_note", ""),
            remarks=data.get("remarks", ""),
            status=data.get("status") or None,
        )


def apply_errors(form: forms.Form, errors: dict[str, list[str]]) -> None:
    """Put a service's ValidationError messages next to the fields they concern."""
    for field, messages in errors.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)


class ProxyForm(forms.Form):
    proxy_name = forms.CharField(label=_("Proxy's full name"), max_length=64)
    proxy_relation = forms.CharField(label=_("Relation to the resident"), max_length=32,
                                     help_text=_("e.g. daughter, son, neighbour"))
    proxy_phone = forms.CharField(label=_("Proxy's phone"), max_length=40)
