from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class HouseholdForm(forms.Form):
    unit = forms.IntegerField(label=_("Unit"), min_value=1, max_value=99, initial=1)
    room = forms.CharField(label=_("Room"), max_length=16, help_text=_("e.g. 501"))
