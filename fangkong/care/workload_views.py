"""The workload page of an area: its staff's figures, who is overloaded and why, and for
the community secretary the warnings to note."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from fangkong.accounts.models import Role
from fangkong.care import selectors
from fangkong.care.workload import (
    SORTS,
    area_workload,
    open_warnings_for,
    overload_warning_note,
    reason_messages,
    sorted_rows,
    warning_to_note,
)
from fangkong.places.models import AreaKind


@login_required
@require_http_methods(["GET", "POST"])
def workload(request: HttpRequest, area_id: int) -> HttpResponse:
    """GET: the table (?sort=column, "-column" reversed). POST (secretary): note a
    warning of their community."""
    area = selectors.area_for_figures(request.user, area_id)
    if request.method == "POST":
        warning = warning_to_note(request.user, request.POST.get("warning"))
        if overload_warning_note(warning=warning, by=request.user):
            messages.success(request, _("Noted: %(name)s's warning is off your list.")
                             % {"name": warning.user.display_name})
        return redirect("care:workload", area.pk)
    data = area_workload(area)
    by_community = area.kind in (AreaKind.STREET, AreaKind.DISTRICT, AreaKind.CITY)
    rows, sort = sorted_rows(data.overloaded if by_community else data.rows,
                             request.GET.get("sort", ""))
    warnings = []
    if request.user.role == Role.COMMUNITY_SECRETARY and area.pk == request.user.area_id:
        warnings = list(open_warnings_for(request.user))
        for warning in warnings:
            warning.reason_lines = reason_messages(warning.reasons)
    return render(request, "care/workload.html", {
        "area": area, "workload": data, "rows": rows, "by_community": by_community,
        "sort": sort, "sorts": {key: key if key != sort else f"-{key}" for key in SORTS},
        "warnings": warnings, "top": data.top_hours})
