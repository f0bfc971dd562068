from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from fangkong.isolation.models import EndReason, PeriodKind

DATE = forms.DateInput(attrs={"type": "date"})


class StartForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=PeriodKind.choices,
                             widget=forms.RadioSelect)
    starts_on = forms.DateField(label=_("Starts on"), widget=DATE)
    planned_end = forms.DateField(label=_("Planned end"), widget=DATE, required=False,
                                  help_text=_("Empty: 14 days including the first"))
    reason = forms.CharField(label=_("Reason"), max_length=200,
                             help_text=_("For example: close contact, returned from a risk area"))
    place = forms.CharField(label=_("Place"), max_length=100, required=False,
                            help_text=_("For example: at home"))


class ExtendForm(forms.Form):
    until = forms.DateField(label=_("New planned end"), widget=DATE)
    reason = forms.CharField(label=_("Why"), max_length=150)


class EndForm(forms.Form):
    ended_on = forms.DateField(label=_("Ended on"), widget=DATE)
    end_reason = forms.ChoiceField(label=_("Why it ends"), choices=EndReason.choices)
    note = forms.CharField(label=_("Note"), max_length=150, required=False)
