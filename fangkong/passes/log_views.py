"""The passage log page: GET lists (filters in the query string), POST downloads the same
rows (a deliberate, audited export)."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_http_methods

from fangkong.accounts.roles import Can, can
from fangkong.audit.services import client_ip
from fangkong.lib import clock
from fangkong.lib.spreadsheets.exports import FORMATS
from fangkong.passes.log import (
    LOG_PAGE,
    MAX_DAYS,
    SEARCH_CHARS,
    LogFilter,
    kind_labels,
    log_gates,
    may_read_log,
    passage_row,
    passage_search,
    passages_export,
)
from fangkong.passes.models import Direction, Refusal, Result
from fangkong.places.models import AreaKind

_DAY_ERRORS = {"invalid": gettext_lazy("Enter a date such as 2020-02-10.")}


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class LogFilterForm(forms.Form):
    first = forms.DateField(label=gettext_lazy("From"), required=False, widget=_date_input(),
                            error_messages=_DAY_ERRORS)
    last = forms.DateField(label=gettext_lazy("To"), required=False, widget=_date_input(),
                           error_messages=_DAY_ERRORS)
    gate = forms.IntegerField(label=gettext_lazy("Gate"), required=False, min_value=1,
                              error_messages={"invalid": gettext_lazy("Choose a gate."),
                                              "min_value": gettext_lazy("Choose a gate.")})
    direction = forms.ChoiceField(
        label=pgettext_lazy("gate", "In/out"), required=False,
        choices=[("", gettext_lazy("In and out")), *Direction.choices],
        error_messages={"invalid_choice": gettext_lazy("Choose in or out.")})
    result = forms.ChoiceField(
        label=gettext_lazy("Result"), required=False,
        choices=[("", gettext_lazy("Passed and refused")), *Result.choices],
        error_messages={"invalid_choice": gettext_lazy("Choose passed or refused.")})
    refusal = forms.ChoiceField(
        label=gettext_lazy("Reason"), required=False,
        choices=[("", gettext_lazy("Any reason")), *Refusal.choices],
        error_messages={"invalid_choice": gettext_lazy("Choose a reason from the list.")})
    q = forms.CharField(label=gettext_lazy("Resident's name or room"), required=False,
                        max_length=SEARCH_CHARS, strip=True,
                        error_messages={"max_length": gettext_lazy(
                            "Type part of a name or a room such as 3-2-501.")})

    def clean(self) -> dict:
        data = super().clean()
        today = clock.local_today()
        first, last = data.get("first"), data.get("last")
        if "first" in data and "last" in data:
            first, last = first or last or today, last or first or today
            if last < first:
                raise forms.ValidationError(_("The last day comes before the first."))
            if (last - first).days >= MAX_DAYS:
                raise forms.ValidationError(_("Choose at most %(n)d days at a time.") % {
                    "n": MAX_DAYS})
            data["first"], data["last"] = first, last
        return data

    def filters(self) -> LogFilter:
        """The filter of a valid form; today's passages for an invalid or empty one."""
        today = clock.local_today()
        if not self.is_bound or not self.is_valid():
            return LogFilter(first=today, last=today)
        data = self.cleaned_data
        return LogFilter(first=data["first"], last=data["last"], gate_id=data["gate"],
                         direction=data["direction"], result=data["result"],
                         refusal=data["refusal"], q=data["q"])


class ExportFormatForm(forms.Form):
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS],
                               error_messages={"required": gettext_lazy("Choose the format."),
                                               "invalid_choice": gettext_lazy(
                                                   "Choose the format.")})


@login_required
@require_http_methods(["GET", "POST"])
def passages(request: HttpRequest) -> HttpResponse:
    """The passages the user may read (their grid's residents, their community's or
    area's gates), today by default, filtered; 50 a page. POST with the same filters and
    a format downloads them (the export capability)."""
    user = request.user
    if not may_read_log(user):
        raise PermissionDenied
    if request.method == "POST":
        if not can(user, Can.EXPORT):
            raise PermissionDenied
        form = LogFilterForm(request.POST)
        fmt = ExportFormatForm(request.POST)
        if form.is_valid() and fmt.is_valid():
            return passages_export(by=user, filters=form.filters(),
                                   fmt=fmt.cleaned_data["format"],
                                   ip=client_ip(request)).response()
        # Nothing downloaded: the page again, with what was wrong (the filters' errors
        # show on the form).
        for errors in fmt.errors.values():
            messages.error(request, " ".join(errors))
    else:
        form = LogFilterForm(request.GET if request.GET else None)
    filters = form.filters()
    page = Paginator(passage_search(user, filters), LOG_PAGE).get_page(request.GET.get("page"))
    return render(request, "passes/log.html", {
        "form": form, "filters": filters, "page": page,
        "rows": [passage_row(p) for p in page.object_list],
        "kinds": kind_labels(), "gates": log_gates(user),
        "query": urlencode(filters.as_params()), "params": filters.as_params(),
        "max_days": MAX_DAYS,
        "many_communities": user.is_superuser or getattr(user.area, "kind", "") not in (
            AreaKind.COMMUNITY, AreaKind.GRID)})
