"""The monthly allowance ledger of an area, computed from the shifts actually worked and the
allowance rules (`fangkong.care.allowances`), and its export for payroll.

Secretaries, street officers and administrators (MANAGE_PAY) read and export the ledger of
an area of theirs; `pay_area_for_user` is the access gate of an area's pay pages (this
ledger and the insurance of its staff). The export is audited (EXPORT).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, Sum
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from fangkong.accounts.models import User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_in_scope, area_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.care.allowances import first_valid, role_labels, rules_applying
from fangkong.care.models import (
    AllowanceRule,
    Attendance,
    MemberKind,
    PlanStatus,
    RotaMember,
    ShiftAssignment,
    worked_q,
)
from fangkong.lib import clock
from fangkong.lib.spreadsheets.exports import (
    FORMATS,
    Export,
    area_line,
    content_type,
    spool,
    stamp,
)
from fangkong.lib.spreadsheets.write import Column, Layout
from fangkong.places.models import AREA_LEVELS, Area, AreaKind
from fangkong.places.selectors import area_breadcrumbs

ZERO = Decimal("0.00")
_COMMUNITY_DEPTH = AREA_LEVELS[AreaKind.COMMUNITY]
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _kind_labels() -> dict[str, str]:
    return {value: str(label) for value, label in MemberKind.choices}


# --- Access gate ----------------------------------------------------------------------------


def pay_area_for_user(user, area_id: int) -> Area:  # noqa: ANN001
    """The access gate of the ledger and insurance pages: 404 unless the user manages pay
    and the area lies in their own."""
    if not can(user, Can.MANAGE_PAY):
        raise Http404
    return area_in_scope(user, area_id)


def areas_below(area: Area) -> list[Area]:
    """The areas right below `area` that have pay pages of their own (down to
    communities)."""
    if area.depth >= _COMMUNITY_DEPTH:
        return []
    return list(Area.objects.filter(parent=area).order_by("path"))


# --- The monthly ledger ---------------------------------------------------------------------


def parse_month(text: str | None) -> date | None:
    """The first day of the month that text such as "2026-11" names; None when the text
    names no month (from 2000 to 2100)."""
    match = _MONTH.match((text or "").strip())
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        return None
    return date(year, month, 1)


def month_last_day(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


@dataclass
class LedgerRow:
    """One staff member's month. `rates` are the yuan per day paid, in the order of the
    days; `unruled` the days on duty no rule covers (paid nothing, to be looked at)."""

    user_id: int
    name: str
    role: str
    kind: str
    community: str
    area_path: str
    days: int = 0
    shifts: int = 0
    hours: int = 0
    total: Decimal = ZERO
    rates: list[Decimal] = field(default_factory=list)
    unruled: list[date] = field(default_factory=list)
    absent: int = 0

    @property
    def rate_text(self) -> str:
        """The yuan per day: one amount, or the lowest–highest when it changed."""
        if not self.rates:
            return ""
        low, high = min(self.rates), max(self.rates)
        return f"{low:.2f}" if low == high else f"{low:.2f}–{high:.2f}"

    @property
    def unruled_text(self) -> str:
        return ", ".join(f"{d:%m-%d}" for d in self.unruled)


@dataclass
class LedgerTotal:
    people: int = 0
    days: int = 0
    shifts: int = 0
    hours: int = 0
    total: Decimal = ZERO
    unruled: int = 0
    absent: int = 0


@dataclass
class Ledger:
    area: Area
    month: date  # its first day
    rows: list[LedgerRow]
    total: LedgerTotal

    @property
    def last_day(self) -> date:
        return month_last_day(self.month)


@dataclass(frozen=True)
class DayFacts:
    """One staff member's day: shifts counting as worked, their hours, shifts absent."""

    worked: int
    hours: int
    absent: int


def _ledger_rules(area: Area, first: date, last: date) -> list[AllowanceRule]:
    """Every rule that may pay someone posted under `area` during [first, last]; withdrawn
    rules pay nothing."""
    where = Q(area_path__in=[*area.ancestor_paths(), area.path]) | area.subtree_q("area_path")
    return list(AllowanceRule.objects.filter(where, valid_from__lte=last,
                                             withdrawn_at__isnull=True)
                .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=first)))


def _community_path(path: str) -> str | None:
    parts = path.split(".")
    return ".".join(parts[:_COMMUNITY_DEPTH + 1]) if len(parts) > _COMMUNITY_DEPTH else None


def ledger_row(user: User, days: dict[date, DayFacts], rules: Iterable[AllowanceRule], *,
               community: str) -> LedgerRow:
    """A staff member's month from their days (pure): a day counts when a shift of it was
    worked, and is paid by the rule `allowance_rule_for` finds for it."""
    try:
        kind = user.rota_member.kind
    except RotaMember.DoesNotExist:
        kind = ""
    row = LedgerRow(user_id=user.pk, name=user.display_name,
                    role=role_labels().get(user.role, user.role),
                    kind=_kind_labels().get(kind, ""), community=community,
                    area_path=user.area.path)
    ranked = rules_applying(rules, area_path=user.area.path, role=user.role, kind=kind)
    for day in sorted(days):
        facts = days[day]
        row.absent += facts.absent
        if not facts.worked:
            continue
        row.days += 1
        row.shifts += facts.worked
        row.hours += facts.hours
        rule = first_valid(ranked, day)
        if rule is None:
            row.unruled.append(day)
            continue
        row.total += rule.amount
        if rule.amount not in row.rates:
            row.rates.append(rule.amount)
    return row


def allowance_ledger(area: Area, month: date, *, now: datetime | None = None) -> Ledger:
    """The ledger of `area` for the month of `month`: a row per staff member posted in the
    area (or below) who is on a rota or has shifts of a published rota that month, in a
    fixed number of queries whatever the number of staff.

    A day on duty is a day with at least one shift counting as worked at `now`
    (`worked_q`: published, ended, not marked absent); drafts, future shifts and absences
    are not paid. Shifts marked absent are counted apart. The caller has passed the area's
    access gate (`pay_area_for_user`)."""
    now = now or clock.now()
    first = month.replace(day=1)
    last = month_last_day(first)
    shifts = ShiftAssignment.objects.filter(area.subtree_q("user__area__path"),
                                            plan__status=PlanStatus.PUBLISHED,
                                            day__gte=first, day__lte=last)
    worked = worked_q(now)
    per_day = (shifts.values("user_id", "day").order_by()
               .annotate(n_worked=Count("pk", filter=worked),
                         n_hours=Sum("hours", filter=worked),
                         n_absent=Count("pk", filter=Q(attendance=Attendance.ABSENT))))
    days: dict[int, dict[date, DayFacts]] = defaultdict(dict)
    for d in per_day:
        days[d["user_id"]][d["day"]] = DayFacts(d["n_worked"], d["n_hours"] or 0,
                                                d["n_absent"])
    staff = list(User.objects.filter(area.subtree_q("area__path"))
                 .filter(Q(is_active=True, rota_member__active=True)
                         | Q(pk__in=shifts.values("user_id")))
                 .select_related("area", "rota_member"))
    paths = {p for u in staff if (p := _community_path(u.area.path))}
    communities = dict(Area.objects.filter(path__in=paths).values_list("path", "name"))
    rules = _ledger_rules(area, first, last)
    rows = [ledger_row(u, days.get(u.pk, {}), rules,
                       community=communities.get(_community_path(u.area.path) or "",
                                                 u.area.name))
            for u in staff]
    rows.sort(key=lambda r: (r.area_path, r.name, r.user_id))
    total = LedgerTotal(people=len(rows))
    for r in rows:
        total.days += r.days
        total.shifts += r.shifts
        total.hours += r.hours
        total.total += r.total
        total.unruled += len(r.unruled)
        total.absent += r.absent
    return Ledger(area=area, month=first, rows=rows, total=total)


# --- The export for payroll -----------------------------------------------------------------


def _ledger_layout(by: User, area: Area, title: str, rows: int) -> Layout:
    footer, watermark = stamp(by, rows)
    return Layout(
        title=title,
        subtitle=area_line(a.name for a in area_breadcrumbs(by, area)),
        columns=(
            Column(_("No."), width=6, kind="number"),
            Column(_("Name"), width=12),
            Column(_("Role"), width=14),
            Column(_("Kind"), width=12),
            Column(_("Community"), width=16),
            Column(_("Days on duty"), width=8, kind="number"),
            Column(_("Shifts"), width=8, kind="number"),
            Column(_("Hours"), width=8, kind="number"),
            Column(_("Yuan per day"), width=14, kind="number"),
            Column(_("Total (yuan)"), width=12, kind="number"),
            Column(_("Days with no rule"), width=9, kind="number"),
            Column(_("Shifts absent (not paid)"), width=9, kind="number"),
            Column(_("Note"), width=30),
        ),
        footer=footer, watermark=watermark, sheet_name=_("Allowances"))


def _ledger_cells(number: int, row: LedgerRow) -> list[object]:
    # One amount is a number payroll can add up; a changed one is shown as its range.
    rate: object = row.rates[0] if len(row.rates) == 1 else (row.rate_text or None)
    note = (_("No allowance rule covers these days: %(days)s") % {"days": row.unruled_text}
            if row.unruled else "")
    return [number, row.name, row.role, row.kind, row.community, row.days, row.shifts,
            row.hours, rate, row.total, len(row.unruled), row.absent, note]


def ledger_export(*, by: User, area: Area, month: date, fmt: str,
                  ip: str | None = None) -> Export:
    """The ledger of `area` for a month as .xlsx or .csv for payroll: a row per staff
    member and the total, names in full but no phone or ID number, the exporter's name and
    time printed in the file. Needs MANAGE_PAY in the area (PermissionDenied otherwise).
    Audited as an export with the month and the area."""
    if not can(by, Can.MANAGE_PAY):
        raise PermissionDenied(_("Your role cannot export the allowances."))
    if fmt not in FORMATS:
        raise ValueError(fmt)
    if not Area.objects.filter(area_scope_q(by), pk=area.pk).exists():
        raise PermissionDenied(_("This area is outside yours."))
    ledger = allowance_ledger(area, month)
    title = _("%(area)s allowance ledger %(month)s") % {"area": area.name,
                                                         "month": f"{ledger.month:%Y-%m}"}
    total = ledger.total
    cells = [_ledger_cells(n, row) for n, row in enumerate(ledger.rows, start=1)]
    cells.append([None, _("Total"), "", "", "", total.days, total.shifts, total.hours, None,
                  total.total, total.unruled, total.absent, ""])
    out, n = spool(fmt, _ledger_layout(by, area, title, len(ledger.rows)), cells)
    audit_record(by=by, action=AuditAction.EXPORT, object_type="allowance_ledger",
                 object_id=area.pk, object_label=title, area_path=area.path, ip=ip,
                 changes={"month": ["", f"{ledger.month:%Y-%m}"], "rows": ["", len(ledger.rows)],
                          "total": ["", f"{total.total:.2f}"], "format": ["", fmt]})
    stem = pgettext("export file name", "allowance ledger")
    return Export(out, f"{area.name}{stem}_{ledger.month:%Y%m}.{fmt}", content_type(fmt), n)
