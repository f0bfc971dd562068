"""The guard's visitor form: big fields, the phone's number pad where only digits go.

The form only reads what was typed; every check (and every message) is the service's
(`fangkong.passes.visitors.visitor_register`), so that all the problems come back at once
in the same words whichever way a visitor is registered."""

from __future__ import annotations

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

# Bounds on what is read at all; the service's limits are smaller and say so in words.
TYPED_MAX = 200


def _text(label, *, help_text="", **attrs) -> forms.CharField:  # noqa: ANN001
    return forms.CharField(label=label, required=False, max_length=TYPED_MAX,
                           help_text=help_text, widget=forms.TextInput(attrs={
                               "autocomplete": "off", **attrs}))


class VisitorForm(forms.Form):
    name = _text(_("Full name"), autocapitalize="words")
    id_number = _text(_("ID number"), autocapitalize="characters", spellcheck="false",
                      help_text=_("18 characters, as on the ID card; an X at the end is "
                                  "fine."))
    phone = _text(_("Phone"), inputmode="tel", help_text=_("Mobile, 11 digits."))
    came_from = _text(_("Coming from"), help_text=_("City or district, e.g. 武汉市江岸区."))
    purpose = _text(_("Purpose of the visit"), list="visit-purposes",
                    help_text=_("e.g. visiting family, delivery, repair."))
    host_room = _text(_("Household visited"),
                      help_text=_("As on the door: 3栋2单元501 or 3-2-501. Add the estate in "
                                  "front when the community has several."))
    temperature = _text(_("Temperature (°C)"), inputmode="decimal", placeholder="36.5",
                        help_text=_("36.5, or the digits 365."))
    from_risk_area = forms.BooleanField(
        label=_("Returning from a risk area (medium or high risk) in the last 14 days"),
        required=False)
    # The id of this form as shown: sent again (a double tap, a reload), the visitor is
    # registered once.
    client_id = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("client_id", uuid.uuid4().hex)

    @property
    def main_fields(self) -> list:
        return [self[name] for name in ("name", "id_number", "phone", "came_from", "purpose",
                                        "host_room", "temperature")]

    def service_kwargs(self) -> dict:
        """The typed values, as `visitor_register` takes them."""
        data = self.cleaned_data
        return {name: data[name] for name in ("name", "phone", "id_number", "came_from",
                                              "purpose", "host_room", "temperature",
                                              "from_risk_area", "client_id")}


def purpose_suggestions() -> list[str]:
    """What most visitors come for (a datalist: the guard may type anything else)."""
    return [str(_("Visiting family")), str(_("Delivery")), str(_("Repair")),
            str(_("Work")), str(_("Caring for an elderly person"))]
