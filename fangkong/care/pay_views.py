"""Allowance and insurance pages: the allowance rules (administrators), the monthly ledger
of an area and its export for payroll, the insurance of an area's staff, and one's own
insurance."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from fangkong.accounts.roles import Can, can
from fangkong.audit.services import client_ip
from fangkong.care import allowances
from fangkong.care.insurance import (
    Cover,
    coverage_on,
    insurance_board,
    insurance_policy_record,
    my_policies,
    staff_for_insurance,
)
from fangkong.care.ledger import (
    allowance_ledger,
    areas_below,
    ledger_export,
    month_last_day,
    parse_month,
    pay_area_for_user,
)
from fangkong.care.models import AllowanceRule
from fangkong.care.pay_forms import (
    EndRuleForm,
    LedgerExportForm,
    PolicyForm,
    RuleForm,
    WithdrawRuleForm,
)
from fangkong.lib import clock
from fangkong.residents.forms import apply_errors


def _posted_rule(request: HttpRequest) -> AllowanceRule:
    rule_id = request.POST.get("rule", "")
    return allowances.allowance_rule_for_user(request.user,
                                              int(rule_id) if rule_id.isdigit() else 0)


def _end_rule(request: HttpRequest) -> HttpResponse | None:
    """POST do=end: the redirect when the rule ended, None (with the message) when not."""
    rule = _posted_rule(request)
    form = EndRuleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the rule's last day."))
        return None
    valid_to = form.cleaned_data["valid_to"]
    try:
        allowances.allowance_rule_end(rule=rule, valid_to=valid_to, by=request.user,
                                      ip=client_ip(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return None
    messages.success(request, _("The rule ends on %(day)s.") % {"day": f"{valid_to:%Y-%m-%d}"})
    return redirect("care:allowance_rules")


def _withdraw_rule(request: HttpRequest) -> HttpResponse | None:
    """POST do=withdraw: the redirect when the rule was withdrawn, None (with the message)
    when not."""
    rule = _posted_rule(request)
    form = WithdrawRuleForm(request.POST)
    form.is_valid()  # a text field, never invalid: the service checks the reason
    try:
        allowances.allowance_rule_withdraw(rule=rule, reason=form.cleaned_data["reason"],
                                           by=request.user, ip=client_ip(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return None
    messages.success(request, _("Rule withdrawn: it pays nothing, past months included. Add "
                                "the corrected rule for the same days."))
    return redirect("care:allowance_rules")


@login_required
@require_http_methods(["GET", "POST"])
def allowance_rules(request: HttpRequest) -> HttpResponse:
    """The allowance rules of the administrator's area: add one, end one, withdraw one typed
    wrong (never delete)."""
    if not can(request.user, Can.SET_ALLOWANCES):
        raise PermissionDenied
    today = clock.local_today()
    areas = allowances.rule_areas_for_user(request.user)
    action = request.POST.get("do") if request.method == "POST" else None
    adding = request.method == "POST" and action not in ("end", "withdraw")
    form = RuleForm(request.POST if adding else None, areas=areas,
                    initial={"valid_from": today})
    if action in ("end", "withdraw"):
        done = _end_rule(request) if action == "end" else _withdraw_rule(request)
        if done is not None:
            return done
    elif adding and form.is_valid():
        data = form.cleaned_data
        area = next(a for a in areas if a.pk == data["area"])
        try:
            allowances.allowance_rule_add(
                by=request.user, area=area, role=data["role"],
                member_kind=data["member_kind"], amount=data["amount"],
                valid_from=data["valid_from"], valid_to=data["valid_to"], ip=client_ip(request))
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Rule added: %(amount)s yuan per day on duty in "
                                        "%(area)s.") % {"amount": f"{data['amount']:.2f}",
                                                        "area": area.name})
            return redirect("care:allowance_rules")
    book = allowances.allowance_rules_for_user(request.user, today=today)
    return render(request, "care/allowance_rules.html", {
        "form": form, "book": book, "today": today})


def _neighbour_months(month: date) -> tuple[date, date]:
    previous = (month - timedelta(days=1)).replace(day=1)
    following = month_last_day(month) + timedelta(days=1)
    return previous, following


@login_required
@require_http_methods(["GET", "POST"])
def ledger(request: HttpRequest, area_id: int) -> HttpResponse:
    """The allowance ledger of an area for a month (?month=YYYY-MM, this month by
    default); POST downloads it for payroll (a deliberate, audited act)."""
    area = pay_area_for_user(request.user, area_id)
    if request.method == "POST":
        form = LedgerExportForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose the month and the format."))
            return redirect("care:ledger", area.pk)
        data = form.cleaned_data
        return ledger_export(by=request.user, area=area, month=data["month"],
                                 fmt=data["format"], ip=client_ip(request)).response()
    this_month = clock.local_today().replace(day=1)
    month = parse_month(request.GET.get("month")) or this_month
    book = allowance_ledger(area, month)
    previous, following = _neighbour_months(month)
    return render(request, "care/ledger.html", {
        "area": area, "ledger": book, "month": month, "previous": previous,
        "next": following if following <= this_month else None,
        "below": areas_below(area),
        "export_form": LedgerExportForm(initial={"month": f"{month:%Y-%m}"})})


@login_required
@require_http_methods(["GET", "POST"])
def insurance(request: HttpRequest, area_id: int) -> HttpResponse:
    """The staff of an area with their policies and cover today; record a policy."""
    area = pay_area_for_user(request.user, area_id)
    staff = staff_for_insurance(area)
    form = PolicyForm(request.POST if request.method == "POST" else None, staff=staff)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = next(u for u in staff if u.pk == data["user"])
        try:
            insurance_policy_record(
                by=request.user, user=user, kind=data["kind"], insurer=data["insurer"],
                policy_number=data["policy_number"], sum_insured=data["sum_insured"],
                covers_from=data["covers_from"], covers_to=data["covers_to"],
                ip=client_ip(request))
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Policy recorded for %(name)s.") % {
                "name": user.display_name})
            return redirect("care:insurance", area.pk)
    today = clock.local_today()
    board = insurance_board(staff, today=today)
    counts = {status: sum(r.cover.status == status for r in board) for status in Cover}
    return render(request, "care/insurance.html", {
        "area": area, "board": board, "form": form, "today": today,
        "covered": counts[Cover.COVERED], "expiring": counts[Cover.EXPIRING],
        "uncovered": counts[Cover.EXPIRED] + counts[Cover.NONE],
        "below": areas_below(area)})


@login_required
@require_GET
def my_insurance(request: HttpRequest) -> HttpResponse:
    """The policies covering the user, read only."""
    today = clock.local_today()
    policies = my_policies(request.user)
    return render(request, "care/my_insurance.html", {
        "policies": policies, "cover": coverage_on(policies, today), "today": today})
