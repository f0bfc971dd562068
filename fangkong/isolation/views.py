"""Isolation pages: the open periods of an area, starting, extending and ending one."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.accounts.roles import Can, can
from fangkong.isolation import selectors, services
from fangkong.isolation.forms import EndForm, ExtendForm, StartForm
from fangkong.lib import clock
from fangkong.residents.forms import apply_errors
from fangkong.residents.selectors import resident_for_user


@login_required
@require_GET
def period_list(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Can.VIEW_REGISTRY):
        raise PermissionDenied
    today = clock.local_today()
    periods = selectors.open_periods(request.user)
    for period in periods:
        period.days_left = (period.planned_end - today).days
    return render(request, "isolation/list.html", {"periods": periods, "today": today})


@login_required
@require_http_methods(["GET", "POST"])
def period_start(request: HttpRequest, resident_id: int) -> HttpResponse:
    resident = resident_for_user(request.user, resident_id)
    if not can(request.user, Can.HANDLE_ALERTS):
        raise PermissionDenied
    today = clock.local_today()
    form = StartForm(request.POST or None, initial={
        "kind": "isolation", "starts_on": today, "planned_end": today + timedelta(days=13),
        "place": _("At home")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            period = services.isolation_start(
                resident=resident, kind=data["kind"], starts_on=data["starts_on"],
                planned_end=data["planned_end"], reason=data["reason"], place=data["place"],
                by=request.user)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Period recorded."))
            return redirect("isolation:period", period.pk)
    return render(request, "isolation/start.html", {"resident": resident, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def period_detail(request: HttpRequest, period_id: int) -> HttpResponse:
    period = selectors.period_for_user(request.user, period_id)
    extend_form = ExtendForm(request.POST if request.POST.get("do") == "extend" else None,
                             initial={"until": period.planned_end + timedelta(days=7)})
    end_form = EndForm(request.POST if request.POST.get("do") == "end" else None,
                       initial={"ended_on": clock.local_today(), "end_reason": "early"})
    if request.method == "POST":
        if not can(request.user, Can.HANDLE_ALERTS):
            raise PermissionDenied
        form = extend_form if request.POST.get("do") == "extend" else end_form
        if form.is_valid():
            data = form.cleaned_data
            try:
                if form is extend_form:
                    services.isolation_extend(period=period, until=data["until"],
                                              reason=data["reason"], by=request.user)
                    messages.success(request, _("Period extended."))
                else:
                    services.isolation_end(period=period, on=data["ended_on"],
                                           end_reason=data["end_reason"], note=data["note"],
                                           by=request.user)
                    messages.success(request, _("Period ended."))
            except ValidationError as exc:
                errors = dict(exc.message_dict)
                if form is extend_form and "planned_end" in errors:
                    errors["until"] = errors.pop("planned_end")
                apply_errors(form, errors)
            else:
                return redirect("isolation:period", period.pk)
    return render(request, "isolation/period.html", {
        "period": period, "extend_form": extend_form, "end_form": end_form,
        "can_change": can(request.user, Can.HANDLE_ALERTS) and period.status == "open"})
