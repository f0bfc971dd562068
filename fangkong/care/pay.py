"""Allowances and insurance of the workers: the daily allowance rules, the monthly ledger
of an area computed from the shifts actually worked (and its export for payroll), and the
insurance policies on record with their coverage.

Who does what:
- administrators (SET_ALLOWANCES) add and end the allowance rules of their city or
  district and of the areas below it, down to a community. A rule is never deleted: the
  ledger of past months is computed from it;
- secretaries, street officers and administrators (MANAGE_PAY) read and export the ledger
  of an area of theirs and record the insurance policies of its staff;
- every staff member reads their own policies.

Which rule pays a day: among the rules valid that day whose area is the staff member's
post or an area above it, the rule of the deepest area wins, then the most specific (role
and kind over role over kind over any). The kind is the one of the staff member's place
on the rota; without one, only rules for any kind apply. See `allowance_rule_for`.

Writes are atomic, refuse with a message a grid worker understands, and are audited
(ALLOWANCE_RULE_CHANGE, INSURANCE_CHANGE; EXPORT for the payroll file).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from fangkong.accounts.models import Role, User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import NOTHING, area_scope_q, path_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.care.models import (
    AllowanceRule,
    Attendance,
    InsuranceKind,
    InsurancePolicy,
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
from fangkong.lib.text import find_unsafe_char, squash_spaces, to_halfwidth
from fangkong.places.models import AREA_LEVELS, Area, AreaKind
from fangkong.places.selectors import area_breadcrumbs

ALLOWANCE_MAX = Decimal("10000")
SUM_INSURED_MAX = Decimal("99999999.99")  # the column holds 10 digits, 2 of them fen
FEN = Decimal("0.01")
ZERO = Decimal("0.00")
EXPIRING_DAYS = 30  # cover ending within this many days is flagged on the insurance page
MAX_INSURER = 60
MAX_POLICY_NUMBER = 40
_COMMUNITY_DEPTH = AREA_LEVELS[AreaKind.COMMUNITY]
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _active(user) -> bool:  # noqa: ANN001
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


def _day(value: date | None) -> str:
    return f"{value:%Y-%m-%d}" if value is not None else ""


def _role_labels() -> dict[str, str]:
    return {value: str(label) for value, label in Role.choices}


def _kind_labels() -> dict[str, str]:
    return {value: str(label) for value, label in MemberKind.choices}


# --- Access gates ---------------------------------------------------------------------------


def pay_area_for_user(user, area_id: int) -> Area:  # noqa: ANN001
    """The access gate of the ledger and insurance pages: 404 unless the user manages pay
    and the area lies in their own."""
    if not can(user, Can.MANAGE_PAY):
        raise Http404
    area = Area.objects.filter(area_scope_q(user), pk=area_id).first()
    if area is None:
        raise Http404
    return area


def rule_areas_for_user(user) -> list[Area]:  # noqa: ANN001
    """The areas the user may give an allowance rule: theirs and below, down to a
    community (grids have no rules of their own)."""
    if not can(user, Can.SET_ALLOWANCES):
        return []
    return list(Area.objects.filter(area_scope_q(user), depth__lte=_COMMUNITY_DEPTH)
                .order_by("path"))


def _rules_q(user) -> Q:  # noqa: ANN001
    if not can(user, Can.SET_ALLOWANCES):
        return NOTHING
    return path_scope_q(user, "area_path")


def allowance_rule_for_user(user, rule_id: int) -> AllowanceRule:  # noqa: ANN001
    """The access gate of a rule: 404 unless the user sets allowances and the rule's area
    lies in their own."""
    rule = (AllowanceRule.objects.filter(_rules_q(user), pk=rule_id)
            .select_related("area").first())
    if rule is None:
        raise Http404
    return rule


def areas_below(area: Area) -> list[Area]:
    """The areas right below `area` that have a ledger of their own (down to communities)."""
    if area.depth >= _COMMUNITY_DEPTH:
        return []
    return list(Area.objects.filter(parent=area).order_by("path"))


# --- Allowance rules ------------------------------------------------------------------------


@dataclass
class RuleBook:
    """The rules an administrator sees: those of their area and below still in force or to
    come, the ended ones (the latest 200), and those of the areas above, which apply too."""

    current: list[AllowanceRule]
    ended: list[AllowanceRule]
    inherited: list[AllowanceRule]


def _labelled(rules: Iterable[AllowanceRule]) -> list[AllowanceRule]:
    roles = _role_labels()
    for rule in rules:
        rule.role_label = roles.get(rule.role, rule.role)  # the model keeps no choices
    return list(rules)


def allowance_rules_for_user(user, *, today: date) -> RuleBook:  # noqa: ANN001
    rules = AllowanceRule.objects.filter(_rules_q(user)).select_related("area", "created_by")
    in_force = Q(valid_to__isnull=True) | Q(valid_to__gte=today)
    area = getattr(user, "area", None)
    above: QuerySet[AllowanceRule] = AllowanceRule.objects.none()
    if area is not None and not user.is_superuser and can(user, Can.SET_ALLOWANCES):
        above = (AllowanceRule.objects.filter(in_force, area_path__in=area.ancestor_paths())
                 .select_related("area"))
    return RuleBook(
        current=_labelled(rules.filter(in_force)),
        ended=_labelled(rules.filter(valid_to__lt=today).order_by("-valid_to", "-pk")[:200]),
        inherited=_labelled(above))


def _amount(value: object, *, field: str, limit: Decimal, message: str) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: [message]}) from None
    if not amount.is_finite() or amount < 0 or amount > limit:
        raise ValidationError({field: [message]})
    if amount != amount.quantize(FEN):
        raise ValidationError({field: [_("Use at most two decimals (fen).")]})
    return amount.quantize(FEN)


def _overlapping(area: Area, role: str, member_kind: str, valid_from: date,
                 valid_to: date | None) -> QuerySet[AllowanceRule]:
    rows = AllowanceRule.objects.filter(area=area, role=role, member_kind=member_kind)
    rows = rows.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=valid_from))
    if valid_to is not None:
        rows = rows.filter(valid_from__lte=valid_to)
    return rows.order_by("valid_from", "pk")


@transaction.atomic
def allowance_rule_add(*, by: User, area: Area, amount: Decimal, valid_from: date,
                       valid_to: date | None = None, role: str = "", member_kind: str = "",
                       ip: str | None = None) -> AllowanceRule:
    """Add a rule: `amount` yuan per day on duty for the staff of `area` (and below) with
    `role` and `member_kind` (blank = any), from `valid_from` until `valid_to` (inclusive;
    None = open). Refuses an area outside the caller's or below a community, and a rule
    overlapping another of the same area, role and kind. Audited."""
    if not can(by, Can.SET_ALLOWANCES):
        raise PermissionDenied(_("Only the district or city administrator sets allowances."))
    errors: dict[str, list[str]] = {}
    if (area.depth > _COMMUNITY_DEPTH
            or not Area.objects.filter(area_scope_q(by), pk=area.pk).exists()):
        errors["area"] = [_("Choose your area or an area below it, down to a community.")]
    if role not in ("", *Role.values):
        errors["role"] = [_("Choose a role, or any role.")]
    if member_kind not in ("", *MemberKind.values):
        errors["member_kind"] = [_("Choose a kind of staff, or any kind.")]
    try:
        amount = _amount(amount, field="amount", limit=ALLOWANCE_MAX,
                         message=_("Enter the yuan per day on duty, from 0 to 10000."))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if valid_to is not None and valid_to < valid_from:
        errors["valid_to"] = [_("The last day comes before the first day.")]
    if errors:
        raise ValidationError(errors)
    # Two administrators adding rules for one area at once: the second waits and sees the
    # first one's rule.
    Area.objects.select_for_update().filter(pk=area.pk).first()
    clash = _overlapping(area, role, member_kind, valid_from, valid_to).first()
    if clash is not None:
        raise ValidationError({"valid_from": [_(
            "A rule for the same area, role and kind already applies from %(from)s to "
            "%(to)s (%(amount)s yuan a day). End that rule first, or start this one after "
            "it.") % {"from": _day(clash.valid_from),
                      "to": _day(clash.valid_to) or _("no end date"),
                      "amount": f"{clash.amount:.2f}"}]})
    rule = AllowanceRule.objects.create(
        area=area, area_path=area.path, role=role, member_kind=member_kind, amount=amount,
        valid_from=valid_from, valid_to=valid_to, created_by=by, created_at=clock.now())
    audit_record(by=by, action=AuditAction.ALLOWANCE_RULE_CHANGE, object_type="allowance_rule",
                 object_id=rule.pk, object_label=f"{area.name} {amount:.2f}",
                 area_path=area.path, ip=ip,
                 changes={"role": ["", role], "member_kind": ["", member_kind],
                          "amount": ["", f"{amount:.2f}"], "valid_from": ["", _day(valid_from)],
                          "valid_to": ["", _day(valid_to)]})
    return rule


@transaction.atomic
def allowance_rule_end(*, rule: AllowanceRule, valid_to: date, by: User,
                       ip: str | None = None) -> AllowanceRule:
    """End a rule: `valid_to` becomes its last day. A rule ends earlier, never later (add
    a new rule for the days after) and is never deleted. Audited with the old and new last
    day."""
    if not AllowanceRule.objects.filter(_rules_q(by), pk=rule.pk).exists():
        raise PermissionDenied(_("This rule is outside your area."))
    locked = AllowanceRule.objects.select_for_update().get(pk=rule.pk)
    before = locked.valid_to
    if valid_to < locked.valid_from:
        raise ValidationError({"valid_to": [_(
            "The last day cannot come before the rule's first day (%(day)s).")
            % {"day": _day(locked.valid_from)}]})
    if before is not None and valid_to >= before:
        raise ValidationError({"valid_to": [_(
            "This rule already ends on %(day)s. A rule can end earlier, not later: add a "
            "new rule for the days after.") % {"day": _day(before)}]})
    locked.valid_to = valid_to
    locked.save(update_fields=["valid_to"])
    audit_record(by=by, action=AuditAction.ALLOWANCE_RULE_CHANGE, object_type="allowance_rule",
                 object_id=locked.pk, object_label=f"{locked.area} {locked.amount:.2f}",
                 area_path=locked.area_path, ip=ip,
                 changes={"valid_to": [_day(before), _day(valid_to)]})
    return locked


# --- Which rule pays a day ------------------------------------------------------------------


def _covers_area(rule: AllowanceRule, area_path: str) -> bool:
    return area_path == rule.area_path or area_path.startswith(rule.area_path + ".")


def _rank(rule: AllowanceRule) -> tuple[int, int]:
    """Deeper area first, then role and kind (3) over role (2) over kind (1) over any."""
    return rule.area_path.count("."), 2 * bool(rule.role) + bool(rule.member_kind)


def _valid_on(rule: AllowanceRule, day: date) -> bool:
    return rule.valid_from <= day and (rule.valid_to is None or day <= rule.valid_to)


def rules_applying(rules: Iterable[AllowanceRule], *, area_path: str, role: str,
                   kind: str) -> list[AllowanceRule]:
    """The rules that may pay a staff member posted at `area_path` with `role` and `kind`
    ("" when not on a rota), whatever the day, the winning one first. Pure."""
    found = [r for r in rules if _covers_area(r, area_path) and r.role in ("", role)
             and r.member_kind in ("", kind)]
    return sorted(found, key=lambda r: (*_rank(r), r.valid_from, r.pk or 0), reverse=True)


def first_valid(ranked: Sequence[AllowanceRule], day: date) -> AllowanceRule | None:
    """The rule that pays `day` among rules ranked by `rules_applying`. Pure."""
    return next((r for r in ranked if _valid_on(r, day)), None)


def allowance_rule_for(rules: Iterable[AllowanceRule], *, area_path: str, role: str,
                       kind: str, day: date) -> AllowanceRule | None:
    """The rule that pays a staff member for a day on duty, or None when no rule covers
    it. Pure: reads only the preloaded `rules`."""
    return first_valid(rules_applying(rules, area_path=area_path, role=role, kind=kind), day)


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
    """Every rule that may pay someone posted under `area` during [first, last]."""
    where = Q(area_path__in=[*area.ancestor_paths(), area.path]) | area.subtree_q("area_path")
    return list(AllowanceRule.objects.filter(where, valid_from__lte=last)
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
                    role=_role_labels().get(user.role, user.role),
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


# --- Insurance ------------------------------------------------------------------------------


class Cover(StrEnum):
    COVERED = "covered"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NONE = "none"


COVER_LABELS = {
    Cover.COVERED: gettext_lazy("Covered"),
    Cover.EXPIRING: gettext_lazy("Cover ends within 30 days"),
    Cover.EXPIRED: gettext_lazy("Not covered: the policy has expired"),
    Cover.NONE: gettext_lazy("Not covered: no policy on record"),
}


@dataclass(frozen=True)
class Coverage:
    """A staff member's cover on a day: `until` is the last day of unbroken cover from
    that day (policies following each other count as one), `starts` the first day of a
    policy still to come when not covered."""

    status: Cover
    until: date | None = None
    starts: date | None = None

    @property
    def label(self) -> str:
        return str(COVER_LABELS[self.status])

    @property
    def bad(self) -> bool:
        return self.status in (Cover.EXPIRED, Cover.NONE)


def coverage_on(policies: Iterable[InsurancePolicy], day: date) -> Coverage:
    """The cover the policies give on `day` (pure). Covered when a policy covers the day;
    flagged as ending when the unbroken cover ends within EXPIRING_DAYS days."""
    policies = list(policies)
    until: date | None = None
    cursor = day
    while True:
        ends = [p.covers_to for p in policies if p.covers_from <= cursor <= p.covers_to]
        if not ends:
            break
        until = max(ends)
        cursor = until + timedelta(days=1)
    if until is not None:
        ending = (until - day).days <= EXPIRING_DAYS
        return Coverage(Cover.EXPIRING if ending else Cover.COVERED, until=until)
    starts = min((p.covers_from for p in policies if p.covers_from > day), default=None)
    had = any(p.covers_to < day for p in policies)
    return Coverage(Cover.EXPIRED if had else Cover.NONE, starts=starts)


@dataclass
class InsuredStaff:
    user: User
    policies: list[InsurancePolicy]
    cover: Coverage


def staff_for_insurance(area: Area) -> list[User]:
    """The active staff posted in `area` or below, with their area and policies."""
    return list(User.objects.filter(area.subtree_q("area__path"), is_active=True)
                .select_related("area").prefetch_related("insurance_policies")
                .order_by("area__path", "full_name", "username"))


_COVER_ORDER = {Cover.NONE: 0, Cover.EXPIRED: 1, Cover.EXPIRING: 2, Cover.COVERED: 3}


def insurance_board(staff: Iterable[User], *, today: date) -> list[InsuredStaff]:
    """Each staff member (from `staff_for_insurance`) with their policies and cover today,
    those not covered first, then those whose cover ends soon."""
    rows = []
    for user in staff:
        policies = list(user.insurance_policies.all())
        rows.append(InsuredStaff(user=user, policies=policies,
                                 cover=coverage_on(policies, today)))
    rows.sort(key=lambda r: _COVER_ORDER[r.cover.status])
    return rows


def my_policies(user) -> list[InsurancePolicy]:  # noqa: ANN001
    """The user's own policies, the latest cover first."""
    if not _active(user):
        return []
    return list(InsurancePolicy.objects.filter(user_id=user.pk).order_by("-covers_to", "pk"))


def _line(value: str, *, field: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: [_("This is needed.")]})
    if find_unsafe_char(value) is not None:
        raise ValidationError({field: [_("The text holds a character that cannot be stored "
                                         "(a control character): type it again.")]})
    if len(value) > limit:
        raise ValidationError({field: [_("Keep it under %(n)d characters.") % {"n": limit}]})
    return value


@transaction.atomic
def insurance_policy_record(*, by: User, user: User, kind: str, insurer: str,
                            policy_number: str, covers_from: date, covers_to: date,
                            sum_insured: Decimal | None = None,
                            ip: str | None = None) -> InsurancePolicy:
    """Record a policy covering `user`, a staff member posted in the caller's area (who
    manages pay). The policy number is kept without spaces and in half-width characters; the
    same number of the same insurer is recorded once per person. Audited."""
    if not can(by, Can.MANAGE_PAY):
        raise PermissionDenied(_("Your role cannot record insurance policies."))
    if user.area_id is None or not Area.objects.filter(area_scope_q(by),
                                                       pk=user.area_id).exists():
        raise PermissionDenied(_("This staff member works outside your area."))
    errors: dict[str, list[str]] = {}
    if not user.is_active:
        errors["user"] = [_("This staff member's account is closed.")]
    if kind not in InsuranceKind.values:
        errors["kind"] = [_("Choose what the policy insures.")]
    try:
        insurer = " ".join(_line(insurer, field="insurer", limit=MAX_INSURER).split())
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        policy_number = squash_spaces(to_halfwidth(
            _line(policy_number, field="policy_number", limit=MAX_POLICY_NUMBER)))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if sum_insured is not None:
        try:
            sum_insured = _amount(sum_insured, field="sum_insured", limit=SUM_INSURED_MAX,
                                  message=_("Enter the sum insured in yuan, or leave it "
                                            "empty."))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if covers_to < covers_from:
        errors["covers_to"] = [_("The cover ends before it starts: check the dates.")]
    if errors:
        raise ValidationError(errors)
    duplicate = InsurancePolicy.objects.filter(user=user, insurer__iexact=insurer,
                                               policy_number__iexact=policy_number)
    message = _("Policy %(number)s of %(insurer)s is already recorded for %(name)s.") % {
        "number": policy_number, "insurer": insurer, "name": user.display_name}
    if duplicate.exists():
        raise ValidationError({"policy_number": [message]})
    try:
        with transaction.atomic():
            policy = InsurancePolicy.objects.create(
                user=user, kind=kind, insurer=insurer, policy_number=policy_number,
                sum_insured=sum_insured, covers_from=covers_from, covers_to=covers_to,
                recorded_by=by, recorded_at=clock.now())
    except IntegrityError:  # recorded at the same moment by someone else
        raise ValidationError({"policy_number": [message]}) from None
    audit_record(by=by, action=AuditAction.INSURANCE_CHANGE, object_type="insurance_policy",
                 object_id=policy.pk, object_label=f"{user.display_name} {insurer}",
                 area_path=user.area.path, ip=ip,
                 changes={"user": ["", user.pk], "kind": ["", kind], "insurer": ["", insurer],
                          "policy_number": ["", policy_number],
                          "sum_insured": ["", f"{sum_insured:.2f}" if sum_insured else ""],
                          "covers_from": ["", _day(covers_from)],
                          "covers_to": ["", _day(covers_to)]})
    return policy
