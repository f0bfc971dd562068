"""The errand figures of an area, and their export (a POST on the same page: a deliberate,
audited download)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from fangkong.audit.services import client_ip
from fangkong.errands.figures import (
    EXPORT_MAX_DAYS,
    FIGURE_DAYS,
    area_errand_figures,
    area_for_errand_figures,
    errands_export,
)
from fangkong.lib import clock
from fangkong.lib.spreadsheets.exports import FORMATS


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


_DAYS_MISSING = {"required": gettext_lazy("Choose the first and the last day."),
                 "invalid": gettext_lazy("Choose the first and the last day.")}


class ErrandsExportForm(forms.Form):
    first = forms.DateField(label=gettext_lazy("From"), widget=_date_input(),
                            error_messages=_DAYS_MISSING)
    last = forms.DateField(label=gettext_lazy("To"), widget=_date_input(),
                           error_messages=_DAYS_MISSING)
    format = forms.ChoiceField(label=gettext_lazy("Format"),
                               choices=[(f, label) for f, label in
                                        zip(FORMATS, ("Excel (.xlsx)", "CSV"), strict=True)],
                               error_messages={"required": gettext_lazy("Choose the format."),
                                               "invalid_choice": gettext_lazy(
                                                   "Choose the format.")})

    def clean(self) -> dict:
        data = super().clean()
        first, last = data.get("first"), data.get("last")
        if first and last:
            if last < first:
                raise forms.ValidationError(_("The last day comes before the first."))
            if (last - first).days >= EXPORT_MAX_DAYS:
                raise forms.ValidationError(_("Export at most %(n)d days at a time.") % {
                    "n": EXPORT_MAX_DAYS})
        return data


@login_required
@require_http_methods(["GET", "POST"])
def figures(request: HttpRequest, area_id: int) -> HttpResponse:
    """Open errands by status and kind, overdue and flagged, per community; the last 30
    days' deliveries, times and helpers. POST downloads the errands of a date range."""
    area = area_for_errand_figures(request.user, area_id)
    if request.method == "POST":
        form = ErrandsExportForm(request.POST)
        if not form.is_valid():
            said = dict.fromkeys(str(m) for errors in form.errors.values() for m in errors)
            messages.error(request, " ".join(said))
            return redirect("errands:figures", area.pk)
        data = form.cleaned_data
        return errands_export(by=request.user, area=area, first=data["first"],
                              last=data["last"], fmt=data["format"],
                              ip=client_ip(request)).response()
    today = clock.local_today()
    export_form = ErrandsExportForm(initial={
        "first": today - timedelta(days=FIGURE_DAYS - 1), "last": today, "format": "xlsx"})
    return render(request, "errands/figures.html", {
        "area": area, "figures": area_errand_figures(area), "days": FIGURE_DAYS,
        "export_form": export_form})
