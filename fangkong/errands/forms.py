"""Forms of the workers' errand pages."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from fangkong.errands.models import ErrandKind, Payment, Source, Urgency
from fangkong.errands.services import MAX_DETAILS, ErrandInput, ItemInput

ITEM_LINES = 5


class ErrandForm(forms.Form):
    """An errand asked for on a resident's behalf: the request and up to five lines."""

    source = forms.ChoiceField(label=_("How did the request come?"), widget=forms.RadioSelect,
                               choices=[(Source.PHONE, Source.PHONE.label),
                                        (Source.VISIT, Source.VISIT.label)],
                               initial=Source.PHONE)
    kind = forms.ChoiceField(label=_("What is needed?"), choices=ErrandKind.choices,
                             widget=forms.RadioSelect)
    details = forms.CharField(label=_("Details"), required=False, max_length=MAX_DETAILS,
                              widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=_("What to buy or fix, where, anything the helper "
                                          "should know."))
    urgency = forms.ChoiceField(label=_("How urgent?"), choices=Urgency.choices,
                                widget=forms.RadioSelect, initial=Urgency.NORMAL)
    preferred_time = forms.CharField(label=_("Preferred time"), required=False, max_length=60,
                                     help_text=_("For example: 今天下午, 晚上7点后"))
    payment = forms.ChoiceField(label=_("Payment"), choices=Payment.choices,
                                initial=Payment.RESIDENT)
    supplier = forms.CharField(label=_("Where to buy (pharmacy, shop)"), required=False,
                               max_length=60)

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        for n in range(ITEM_LINES):
            self.fields[f"item_{n}_name"] = forms.CharField(
                label=_("Item %(n)d") % {"n": n + 1}, required=False, max_length=60)
            self.fields[f"item_{n}_strength"] = forms.CharField(
                label=_("Strength"), required=False, max_length=30)
            self.fields[f"item_{n}_quantity"] = forms.IntegerField(
                label=_("Quantity"), required=False, min_value=1, max_value=999)
            self.fields[f"item_{n}_prescription"] = forms.BooleanField(
                label=_("Prescription"), required=False)

    @property
    def main_fields(self) -> list:
        return [self[name] for name in ("source", "kind", "details", "urgency",
                                        "preferred_time", "payment", "supplier")]

    @property
    def item_rows(self) -> list[tuple]:
        return [(n + 1, self[f"item_{n}_name"], self[f"item_{n}_strength"],
                 self[f"item_{n}_quantity"], self[f"item_{n}_prescription"])
                for n in range(ITEM_LINES)]

    def clean(self) -> dict:
        data = super().clean()
        for n in range(ITEM_LINES):
            if not data.get(f"item_{n}_name") and (data.get(f"item_{n}_strength")
                                                   or data.get(f"item_{n}_quantity")
                                                   or data.get(f"item_{n}_prescription")):
                self.add_error(f"item_{n}_name", _("Write the item's name on this line."))
        return data

    def errand_input(self) -> ErrandInput:
        data = self.cleaned_data
        items = [ItemInput(name=data[f"item_{n}_name"], strength=data[f"item_{n}_strength"],
                           quantity=data[f"item_{n}_quantity"] or 1,
                           prescription=data[f"item_{n}_prescription"])
                 for n in range(ITEM_LINES) if data[f"item_{n}_name"]]
        return ErrandInput(kind=data["kind"], details=data["details"], items=items,
                           urgency=data["urgency"], preferred_time=data["preferred_time"],
                           payment=data["payment"], supplier=data["supplier"])


class AssignForm(forms.Form):
    to = forms.TypedChoiceField(label=_("Give it to"), coerce=int)

    def __init__(self, *args, helpers=(), **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [(c.user.pk, c.label) for c in helpers]


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Why"), max_length=200, required=False)


def show_errors(request: HttpRequest, form: forms.Form | None, exc: ValidationError) -> None:
    """A service's refusal next to the field it concerns, else as a message at the top."""
    for field, errors in exc.message_dict.items():
        for error in errors:
            if form is not None and field in form.fields:
                form.add_error(field, error)
            else:
                messages.error(request, error)
