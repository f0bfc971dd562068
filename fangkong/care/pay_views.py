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
from fangkong.care import pay
from fangkong.care.pay_forms import EndRuleForm, LedgerExportForm, PolicyForm, RuleForm
from fangkong.lib import clock
from fangkong.residents.forms import apply_errors


@login_required
@require_http_methods(["GET", "POST"])
def allowance_rules(request: HttpRequest) -> HttpResponse:
    """The allowance rules of the administrator's area: add one, end one (never delete)."""
    if not can(request.user, Can.SET_ALLOWANCES):
        raise PermissionDenied
    today = clock.local_today()
    areas = pay.rule_areas_for_user(request.user)
    ending = request.method == "POST" and request.POST.get("do") == "end"
    form = RuleForm(request.POST if request.method == "POST" and not ending else None,
                    areas=areas, initial={"valid_from": today})
    if ending:
        end_form = EndRuleForm(request.POST)
        rule_id = request.POST.get("rule", "")
        rule = pay.allowance_rule_for_user(request.user,
                                           int(rule_id) if rule_id.isdigit() else 0)
        if end_form.is_valid():
            try:
                pay.allowance_rule_end(rule=rule, valid_to=end_form.cleaned_data["valid_to"],
                                       by=request.user, ip=client_ip(request))
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, _("The rule ends on %(day)s.") % {
                    "day": f"{end_form.cleaned_data['valid_to']:%Y-%m-%d}"})
                return redirect("care:allowance_rules")
        else:
            messages.error(request, _("Choose the rule's last day."))
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        area = next(a for a in areas if a.pk == data["area"])
        try:
            pay.allowance_rule_add(by=request.user, area=area, role=data["role"],
                                   member_kind=data["member_kind"], amount=data["amount"],
                                   valid_from=data["valid_from"], valid_to=data["valid_to"],
                                   ip=client_ip(request))
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.success(request, _("Rule added: %(amount)s yuan per day on duty in "
                                        "%(area)s.") % {"amount": f"{data['amount']:.2f}",
                                                        "area": area.name})
            return redirect("care:allowance_rules")
    book = pay.allowance_rules_for_user(request.user, today=today)
    return render(request, "care/allowance_rules.html", {
        "form": form, "book": book, "today": today})


def _neighbour_months(month: date) -> tuple[date, date]:
    previous = (month - timedelta(days=1)).replace(day=1)
    following = pay.month_last_day(month) + timedelta(days=1)
    return previous, following


@login_required
@require_http_methods(["GET", "POST"])
def ledger(request: HttpRequest, area_id: int) -> HttpResponse:
    """The allowance ledger of an area for a month (?month=YYYY-MM, this month by
    default); POST downloads it for payroll (a deliberate, audited act)."""
    area = pay.pay_area_for_user(request.user, area_id)
    if request.method == "POST":
        form = LedgerExportForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose the month and the format."))
            return redirect("care:ledger", area.pk)
        data = form.cleaned_data
        return pay.ledger_export(by=request.user, area=area, month=data["month"],
                                 fmt=data["format"], ip=client_ip(request)).response()
    this_month = clock.local_today().replace(day=1)
    month = pay.parse_month(request.GET.get("month")) or this_month
    book = pay.allowance_ledger(area, month)
    previous, following = _neighbour_months(month)
    return render(request, "care/ledger.html", {
        "area": area, "ledger": book, "month": month, "previous": previous,
        "next": following if following <= this_month else None,
        "below": pay.areas_below(area),
        "export_form": LedgerExportForm(initial={"month": f"{month:%Y-%m}"})})


@login_required
@require_http_methods(["GET", "POST"])
def insurance(request: HttpRequest, area_id: int) -> HttpResponse:
    """The staff of an area with their policies and cover today; record a policy."""
    area = pay.pay_area_for_user(request.user, area_id)
    staff = pay.staff_for_insurance(area)
    form = PolicyForm(request.POST if request.method == "POST" else None, staff=staff)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = next(u for u in staff if u.pk == data["user"])
        try:
            pay.insurance_policy_record(
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
    board = pay.insurance_board(staff, today=today)
    counts = {status: sum(r.cover.status == status for r in board) for status in pay.Cover}
    return render(request, "care/insurance.html", {
        "area": area, "board": board, "form": form, "today": today,
        "covered": counts[pay.Cover.COVERED], "expiring": counts[pay.Cover.EXPIRING],
        "uncovered": counts[pay.Cover.EXPIRED] + counts[pay.Cover.NONE],
        "below": pay.areas_below(area)})


@login_required
@require_GET
def my_insurance(request: HttpRequest) -> HttpResponse:
    """The policies covering the user, read only."""
    today = clock.local_today()
    policies = pay.my_policies(request.user)
    return render(request, "care/my_insurance.html", {
        "policies": policies, "cover": pay.coverage_on(policies, today), "today": today})
