"""The form on the resident's errands page: what to ask for, in big buttons, without
JavaScript (five fixed rows of medicine lines instead of "add a line")."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fangkong.errands.models import ErrandKind, Payment, Urgency
from fangkong.errands.services import MAX_DETAILS, ErrandInput, ItemInput

MEDICINE_LINES = 5
_LINE_PARTS = ("name", "strength", "quantity", "prescription")


def _one_newline_kind(text: str) -> str:
    # Browsers send a textarea's line breaks as CR LF; the services store LF only.
    return text.replace("\r\n", "\n").replace("\r", "\n")


class ResidentErrandForm(forms.Form):
    kind = forms.ChoiceField(label=_("What do you need?"), choices=ErrandKind.choices,
                             widget=forms.RadioSelect,
                             error_messages={"required": _("Choose what you need.")})
    details = forms.CharField(
        label=_("What exactly?"), required=False, max_length=MAX_DETAILS,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For example: 1 bag of rice, 10 eggs; or: the kitchen tap is leaking."))
    urgency = forms.ChoiceField(label=_("How soon?"), choices=Urgency.choices,
                                widget=forms.RadioSelect, initial=Urgency.NORMAL,
                                error_messages={"required": _("Choose how soon.")})
    preferred_time = forms.CharField(label=_("A good time to come (if any)"), required=False,
                                     max_length=60,
                                     help_text=_("For example: this afternoon, after 7 pm"))
    payment = forms.ChoiceField(label=_("Payment"), choices=Payment.choices,
                                widget=forms.RadioSelect, initial=Payment.RESIDENT,
                                error_messages={"required": _("Choose how it is paid.")})

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.lines_errors: list[str] = []
        for n in range(1, MEDICINE_LINES + 1):
            self.fields[f"line{n}_name"] = forms.CharField(
                label=pgettext_lazy("medicine line", "Name of the medicine"), required=False,
                max_length=60)
            self.fields[f"line{n}_strength"] = forms.CharField(
                label=_("Strength (e.g. 0.25g)"), required=False, max_length=30)
            self.fields[f"line{n}_quantity"] = forms.IntegerField(
                label=_("How many"), required=False, min_value=1, max_value=999,
                error_messages={"invalid": _("Write a whole number, like 2."),
                                "min_value": _("At least 1."),
                                "max_value": _("At most 999.")})
            self.fields[f"line{n}_prescription"] = forms.BooleanField(
                label=_("Needs a prescription"), required=False)

    @property
    def lines(self) -> list[dict]:
        """The medicine rows for the template: number and bound fields."""
        rows = []
        for n in range(1, MEDICINE_LINES + 1):
            fields = {part: self[f"line{n}_{part}"] for part in _LINE_PARTS}
            rows.append({"n": n, "fields": list(fields.values()), **fields})
        return rows

    def clean_details(self) -> str:
        return _one_newline_kind(self.cleaned_data["details"])

    def clean(self) -> dict:
        data = super().clean()
        used = []
        for n in range(1, MEDICINE_LINES + 1):
            name = data.get(f"line{n}_name", "")
            rest = (data.get(f"line{n}_strength") or data.get(f"line{n}_quantity")
                    or data.get(f"line{n}_prescription"))
            if name:
                used.append(n)
            elif rest:
                self.add_error(f"line{n}_name", _("Write the name of the medicine, or clear "
                                                  "this line."))
        if used and data.get("kind") and data["kind"] != ErrandKind.MEDICINE:
            self.lines_errors.append(str(_(
                "The lines are for medicine. Choose “Medicine” above, or write what you "
                "need in the box and clear the lines.")))
        return data

    def is_valid(self) -> bool:
        # The lines' own messages are shown above the lines, not as a form error.
        return super().is_valid() and not self.lines_errors

    def errand_input(self) -> ErrandInput:
        data = self.cleaned_data
        # All five rows go to the service (it skips the empty ones), so that the line
        # numbers in its messages are the row numbers on the page.
        items = []
        if data["kind"] == ErrandKind.MEDICINE:
            items = [ItemInput(name=data[f"line{n}_name"],
                               strength=data[f"line{n}_strength"],
                               quantity=data[f"line{n}_quantity"] or 1,
                               prescription=data[f"line{n}_prescription"])
                     for n in range(1, MEDICINE_LINES + 1)]
        return ErrandInput(kind=data["kind"], details=data["details"], items=items,
                           urgency=data["urgency"], preferred_time=data["preferred_time"],
                           payment=data["payment"])

    def add_service_errors(self, exc: ValidationError) -> None:
        """Show a service's refusal next to the field it is about."""
        for field, messages in exc.message_dict.items():
            if field == "items":
                self.lines_errors.extend(messages)
            elif field in self.fields:
                for message in messages:
                    self.add_error(field, message)
            else:
                for message in messages:
                    self.add_error(None, message)
