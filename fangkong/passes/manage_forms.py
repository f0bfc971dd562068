"""The forms of the gate management pages. They parse what was typed; the rules (a name
unique in the community, hours both or neither, the fever range, who may be on duty) are
the services' (fangkong.passes.gate_services), whose ValidationErrors land on the fields
through `add_service_errors`."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from fangkong.accounts.models import User

NAME_ERRORS = {"required": _("Give the gate a name, e.g. East gate."),
               "max_length": _("Keep the name under 40 characters.")}


class GateAddForm(forms.Form):
    name = forms.CharField(label=_("Name of the new gate"), max_length=40,
                           error_messages=NAME_ERRORS,
                           widget=forms.TextInput(attrs={"placeholder": _("e.g. East gate")}))


class GateEditForm(forms.Form):
    name = forms.CharField(label=_("Gate name"), max_length=40, error_messages=NAME_ERRORS)
    active = forms.BooleanField(label=_("In use"), required=False,
                                help_text=_("Out of use, nobody can scan there and its "
                                            "devices stop working. Its passages are kept."))


class _StaffChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:
        area = obj.area.name if obj.area_id else ""
        return " · ".join(p for p in (obj.display_name, obj.get_role_display(), area) if p)


class GuardsForm(forms.Form):
    guards = _StaffChoice(label=_("On duty at this gate"), queryset=User.objects.none(),
                          required=False, widget=forms.CheckboxSelectMultiple,
                          error_messages={"invalid_choice": _(
                              "Only guards, volunteers and workers of this community can be "
                              "put on duty at its gates.")})

    def __init__(self, *args, staff=None, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        if staff is not None:
            self.fields["guards"].queryset = staff


def _time_input() -> forms.TimeInput:
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class PolicyForm(forms.Form):
    opens_at = forms.TimeField(label=_("Opens at"), required=False, widget=_time_input(),
                               error_messages={"invalid": _("Enter a time such as 06:00.")})
    closes_at = forms.TimeField(label=_("Closes at"), required=False, widget=_time_input(),
                                error_messages={"invalid": _("Enter a time such as 22:00.")},
                                help_text=_("Leave both times empty for a gate open day and "
                                            "night. Outside the hours residents may come in, "
                                            "not go out."))
    outings_per_household = forms.IntegerField(
        label=_("Outings per household"), min_value=0,
        error_messages={"required": _("Enter 0 for no limit."),
                        "invalid": _("Enter a whole number, 0 for no limit."),
                        "min_value": _("Enter a whole number, 0 for no limit.")},
        help_text=_("How many times the people of one household may go out. 0: no limit."))
    outing_days = forms.IntegerField(
        label=_("Every how many days"), min_value=1,
        error_messages={"required": _("Enter a number of days, e.g. 2."),
                        "invalid": _("Enter a number of days, e.g. 2."),
                        "min_value": _("Enter a number of days, e.g. 2.")},
        help_text=_("\"One person every two days\": 1 outing every 2 days."))
    visitors_allowed = forms.BooleanField(label=_("Visitors allowed"), required=False)
    fever_threshold = forms.DecimalField(
        label=_("Fever from (°C)"), max_digits=3, decimal_places=1,
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "36.0", "max": "39.0"}),
        error_messages={"required": _("Fever starts between 36.0 and 39.0 °C, e.g. 37.3."),
                        "invalid": _("Fever starts between 36.0 and 39.0 °C, e.g. 37.3."),
                        "max_digits": _("Fever starts between 36.0 and 39.0 °C, e.g. 37.3."),
                        "max_decimal_places": _("One decimal is enough, e.g. 37.3."),
                        "max_whole_digits": _(
                            "Fever starts between 36.0 and 39.0 °C, e.g. 37.3.")})
    temperature_for_all = forms.BooleanField(
        label=_("Take everyone's temperature"), required=False,
        help_text=_("Otherwise only people under health monitoring (yellow) and visitors."))


class DeviceAddForm(forms.Form):
    name = forms.CharField(label=_("Name of the device"), max_length=40,
                           error_messages={"required": _("Name the device, e.g. Kiosk by "
                                                         "the door."),
                                           "max_length": _("Keep the name under 40 "
                                                           "characters.")})


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: on its field when the form has one,
    else above the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)
