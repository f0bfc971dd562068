"""The gate figures page of an area: one day (today by default), per hour, per gate, per
community. The chart is drawn by fangkong/static/passes/figures.js from a json_script
blob; the same numbers are in tables for people who would rather read, and without
JavaScript."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from fangkong.lib import clock
from fangkong.passes.figures import area_for_gate_figures, area_gate_figures
from fangkong.places.models import AreaKind
from fangkong.places.selectors import area_breadcrumbs


class DayForm(forms.Form):
    day = forms.DateField(label=gettext_lazy("Day"), required=False,
                          widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                          error_messages={"invalid": gettext_lazy(
                              "Enter a date such as 2020-02-10.")})
    gate = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def chosen(self) -> tuple[date, int | None]:
        today = clock.local_today()
        if not self.is_valid():
            return today, None
        return self.cleaned_data["day"] or today, self.cleaned_data["gate"]


@login_required
@require_GET
def figures(request: HttpRequest, area_id: int) -> HttpResponse:
    """Passages in and out, refused and fevers of the area on one day: per hour (of one
    gate with ?gate=), per gate, per community."""
    area = area_for_gate_figures(request.user, area_id)
    form = DayForm(request.GET)
    day, gate_id = form.chosen()
    figures = area_gate_figures(area, day, gate_id=gate_id)
    return render(request, "passes/figures.html", {
        "area": area, "figures": figures, "form": form, "day": day,
        "previous_day": day - timedelta(days=1), "next_day": day + timedelta(days=1),
        "today": clock.local_today(), "chart": figures.chart(),
        "is_community": area.kind == AreaKind.COMMUNITY,
        "breadcrumbs": area_breadcrumbs(request.user, area)})
