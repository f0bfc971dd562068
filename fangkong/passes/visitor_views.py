"""Visitor pages: the guard's registration form and its result (the visitor's code for
leaving), the workers' list of visitors and one visitor with the tap that starts home
isolation, and the code's picture."""

from __future__ import annotations

import io

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.accounts.roles import Can, can
from fangkong.audit.services import client_ip
from fangkong.followup.channels.base import masked_name
from fangkong.lib.http import posted_id
from fangkong.passes.scan import gate_policy
from fangkong.passes.selectors import gate_for_guard
from fangkong.passes.tokens import visitor_token
from fangkong.passes.visitor_forms import VisitorForm, purpose_suggestions
from fangkong.passes.visitor_selectors import visitor_for_code, visitor_for_user, visitor_list
from fangkong.passes.visitors import visitor_isolate, visitor_register
from fangkong.residents.forms import apply_errors


@login_required
@require_http_methods(["GET", "POST"])
def visitor_new(request: HttpRequest, gate_id: int) -> HttpResponse:
    """Register a visitor at the guard's gate; on success, their code for leaving (the
    visitor photographs it), on a fever the refusal and what to do. The page is rendered
    in the answer to the POST: sent again, the same form id returns the same visitor."""
    gate = gate_for_guard(request.user, gate_id)
    form = VisitorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            visitor, outcome = visitor_register(gate=gate, by=request.user,
                                                **form.service_kwargs())
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            return render(request, "passes/visitor_done.html", {
                "gate": gate, "visitor": visitor, "outcome": outcome,
                "masked": masked_name(visitor.name) if visitor else ""})
    policy = gate_policy(gate.community_id)
    return render(request, "passes/visitor_new.html", {
        "gate": gate, "form": form, "policy": policy, "purposes": purpose_suggestions()})


@login_required
@require_GET
def visitors(request: HttpRequest) -> HttpResponse:
    """The visitors of the user's area (a grid worker: those visiting their grid)."""
    if not (can(request.user, Can.MANAGE_GATES) or can(request.user, Can.ISSUE_PASSES)):
        raise PermissionDenied
    data = visitor_list(request.user, show=request.GET.get("show", ""),
                        page=posted_id(request.GET.get("page")) or 1)
    return render(request, "passes/visitor_list.html", {"data": data})


@login_required
@require_http_methods(["GET", "POST"])
def visitor(request: HttpRequest, visitor_id: int) -> HttpResponse:
    """One visitor: what was registered (masked), their passages, their code, and for a
    worker who handles alerts the tap that starts home isolation (POST)."""
    row = visitor_for_user(request.user, visitor_id)
    if request.method == "POST":
        if request.POST.get("do") != "isolate":
            return redirect("passes:visitor", row.pk)
        try:
            period = visitor_isolate(visitor=row, by=request.user, ip=client_ip(request))
        except ValidationError as exc:
            for text in exc.messages:
                messages.error(request, text)
        else:
            messages.success(request, _("Home isolation recorded until %(day)s.")
                             % {"day": period.planned_end})
        return redirect("passes:visitor", row.pk)
    passages = list(row.passages.select_related("gate", "guard").order_by("at", "pk"))
    return render(request, "passes/visitor_detail.html", {
        "visitor": row, "passages": passages,
        "may_isolate": (can(request.user, Can.HANDLE_ALERTS)
                        and can(request.user, Can.EDIT_RESIDENTS) and row.host_household_id
                        and row.isolation_resident_id is None)})


@login_required
@require_GET
def visitor_code_png(request: HttpRequest, visitor_id: int) -> HttpResponse:
    """The visitor's code for leaving, as a PNG: for the guard on duty at their gate and
    the workers who may read them; 404 for anyone else. Never cached."""
    row = visitor_for_code(request.user, visitor_id)
    buffer = io.BytesIO()
    segno.make(visitor_token(row.pk), error="m").save(buffer, kind="png", scale=8, border=4)
    response = HttpResponse(buffer.getvalue(), content_type="image/png")
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
