"""Figures of the errands of an area, and their export.

Who reads them: workers with the errands capability and the leads who read care figures
(street officers, district administrators), for an area of their own subtree;
`area_for_errand_figures` is the access gate (404 for anyone else). The page counts in a
fixed number of queries whatever the number of errands. The export lists one row per
errand asked in a date range, the resident's name masked and never a phone or ID number,
stamped with the exporter and audited (EXPORT, object type "errands").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import Count, DecimalField, F, FloatField, Func, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from fangkong.accounts.models import Role, User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_in_scope, area_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.errands.models import (
    OPEN,
    Errand,
    ErrandKind,
    ErrandStatus,
    Urgency,
)
from fangkong.followup.channels.base import masked_name
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
from fangkong.places.models import Area, AreaKind
from fangkong.places.selectors import area_breadcrumbs

FIGURE_DAYS = 30  # the window of the closed errands, delivery times and hours
TOP_HELPERS = 10
# Above a street, only the communities with open errands are listed, the worst first, at
# most this many (a city has thousands of communities).
BELOW_CAP = 300
EXPORT_MAX_DAYS = 366
_ZERO_HOURS = Value(Decimal("0.0"), output_field=DecimalField(max_digits=9, decimal_places=1))


PERCENTILE_ROWS = 20_000


def may_read_figures(user) -> bool:  # noqa: ANN001
    return can(user, Can.HANDLE_ERRANDS) or can(user, Can.VIEW_CARE_FIGURES)


def area_for_errand_figures(user, area_id: int) -> Area:  # noqa: ANN001
    """The access gate of the errand figures and their export: 404 unless the user
    handles errands or reads care figures, and the area lies in their own."""
    if not may_read_figures(user):
        raise Http404
    return area_in_scope(user, area_id)


def errands_in(area: Area) -> QuerySet[Errand]:
    """Every errand of the residents under `area`: one equality on an area column."""
    return Errand.objects.filter(area.scoped_rows_q())


class HoursBetween(Func):
    """The hours from one timestamp column to another, as a number computed by the
    database (reading both timestamps into Python costs more than the whole query)."""

    output_field = FloatField()
    arity = 2

    def as_sqlite(self, compiler, connection, **extra):  # noqa: ANN001, ANN003, ANN201
        return self.as_sql(compiler, connection,
                           template="((julianday(%(expressions)s)) * 24.0)",
                           arg_joiner=") - julianday(", **extra)

    def as_postgresql(self, compiler, connection, **extra):  # noqa: ANN001, ANN003, ANN201
        return self.as_sql(compiler, connection,
                           template="(EXTRACT(EPOCH FROM (%(expressions)s)) / 3600.0)",
                           arg_joiner=" - ", **extra)


def quantile(ordered: list[float], q: float) -> float | None:
    """The q-quantile (0..1) of sorted values, interpolated between the two nearest ranks
    (so the median of an even count is the mean of the middle two); None when empty."""
    if not ordered:
        return None
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class BelowRow:
    """An area right below (a community of a street or district, a grid of a community)
    with its open and overdue errands."""

    area: Area
    open: int
    overdue: int


@dataclass
class HelperRow:
    name: str
    role: str
    is_volunteer: bool
    tasks: int
    hours: Decimal


@dataclass
class ErrandFigures:
    area: Area
    since: datetime  # the start of the closed-errand window (FIGURE_DAYS)
    open: int
    overdue: int
    flagged: int
    by_status: list[tuple[str, str, int]]  # (status, label, open errands), every open status
    by_kind: list[tuple[str, str, int, int]]  # (kind, label, open, overdue), every kind
    below_kind: str | None  # AreaKind of the rows below, None for a grid
    below: list[BelowRow]
    below_hidden: int  # communities with open errands left out past BELOW_CAP
    asked: int  # errands asked in the window
    delivered: int
    failed: int
    cancelled: int
    median_hours: float | None  # asked to delivered, over those delivered in the window
    p90_hours: float | None
    volunteer_hours: Decimal
    volunteer_tasks: int
    helpers: list[HelperRow] = field(default_factory=list)

    @property
    def top_kind(self) -> int:
        return max((n for _v, _l, n, _o in self.by_kind), default=0)


def _below_kind(area: Area) -> str | None:
    if area.kind == AreaKind.COMMUNITY:
        return AreaKind.GRID
    if area.kind == AreaKind.GRID:
        return None
    return AreaKind.COMMUNITY


def _below(area: Area, rows: QuerySet[Errand], now: datetime,
           ) -> tuple[str | None, list[BelowRow], int]:
    """The open and overdue errands per community (per grid for a community): every one
    of a street or community, and above that those with open errands, the worst first.
    Two queries."""
    kind = _below_kind(area)
    if kind is None:
        return None, [], 0
    column = f"{kind}_id"
    counts = {r[column]: (r["n"], r["late"]) for r in
              rows.filter(status__in=OPEN).values(column).order_by()
              .annotate(n=Count("pk"), late=Count("pk", filter=Q(due_at__lt=now)))}
    if area.kind in (AreaKind.STREET, AreaKind.COMMUNITY):
        areas = list(Area.objects.filter(parent=area).order_by("sort_order", "path"))
        return kind, [BelowRow(a, *counts.get(a.pk, (0, 0))) for a in areas], 0
    worst = sorted(counts, key=lambda pk: (-counts[pk][1], -counts[pk][0], pk))
    shown = worst[:BELOW_CAP]
    areas = Area.objects.in_bulk(shown)
    below = [BelowRow(areas[pk], *counts[pk]) for pk in shown if pk in areas]
    return kind, below, len(worst) - len(shown)


def _helpers(rows: QuerySet[Errand]) -> list[HelperRow]:
    """Who delivered the most errands of `rows` (already the delivered of the window),
    with their hours. One query."""
    roles = dict(Role.choices)
    top = (rows.filter(assigned_to__isnull=False)
           .values("assigned_to_id", "assigned_to__full_name", "assigned_to__username",
                   "assigned_to__role").order_by()
           .annotate(tasks=Count("pk"), spent=Coalesce(Sum("hours"), _ZERO_HOURS))
           .order_by("-tasks", "-spent", "assigned_to_id")[:TOP_HELPERS])
    return [HelperRow(name=r["assigned_to__full_name"] or r["assigned_to__username"],
                      role=str(roles.get(r["assigned_to__role"], "")),
                      is_volunteer=r["assigned_to__role"] == Role.VOLUNTEER,
                      tasks=r["tasks"], hours=r["spent"]) for r in top]


def area_errand_figures(area: Area, *, now: datetime | None = None) -> ErrandFigures:
    """The errand figures of `area` at `now`: open errands by status and kind, overdue
    (open past their due time) and flagged; per community (per grid of a community) the
    open and overdue; over the last FIGURE_DAYS days the errands asked, delivered, failed
    and cancelled, the median and 90th percentile of hours from asked to delivered, the
    volunteers' hours and the helpers who delivered most. Seven queries whatever the
    number of errands. The caller has passed `area_for_errand_figures`."""
    now = now or clock.now()
    since = now - timedelta(days=FIGURE_DAYS)
    rows = errands_in(area)
    late = Q(due_at__lt=now)
    per_status_kind = (rows.filter(status__in=OPEN).values("status", "kind").order_by()
                       .annotate(n=Count("pk"), late=Count("pk", filter=late),
                                 flagged=Count("pk", filter=Q(flagged=True))))
    status_n: dict[str, int] = {}
    kind_n: dict[str, list[int]] = {}
    overdue = flagged = 0
    for r in per_status_kind:
        status_n[r["status"]] = status_n.get(r["status"], 0) + r["n"]
        kind = kind_n.setdefault(r["kind"], [0, 0])
        kind[0] += r["n"]
        kind[1] += r["late"]
        overdue += r["late"]
        flagged += r["flagged"]
    below_kind, below, below_hidden = _below(area, rows, now)

    delivered = Q(status=ErrandStatus.DELIVERED)
    by_volunteer = delivered & Q(assigned_to__role=Role.VOLUNTEER)
    closed_recently = Q(closed_at__gte=since)
    window = rows.filter(Q(created_at__gte=since) | closed_recently).aggregate(
        asked=Count("pk", filter=Q(created_at__gte=since)),
        delivered=Count("pk", filter=closed_recently & delivered),
        failed=Count("pk", filter=closed_recently & Q(status=ErrandStatus.FAILED)),
        cancelled=Count("pk", filter=closed_recently & Q(status=ErrandStatus.CANCELLED)),
        volunteer_tasks=Count("pk", filter=closed_recently & by_volunteer),
        volunteer_hours=Coalesce(Sum("hours", filter=closed_recently & by_volunteer),
                                 _ZERO_HOURS))
    done = rows.filter(delivered, closed_recently)
    # The latest 20,000 deliveries are plenty for a median and a p90, and keep a city's
    # page bounded.
    hours = sorted(float(h) for h in done.annotate(
        took=HoursBetween(F("closed_at"), F("created_at"))).order_by("-closed_at")
        .values_list("took", flat=True)[:PERCENTILE_ROWS])
    return ErrandFigures(
        area=area, since=since, open=sum(status_n.values()), overdue=overdue,
        flagged=flagged,
        by_status=[(s, str(ErrandStatus(s).label), status_n.get(s, 0)) for s in OPEN],
        by_kind=[(value, str(label), *kind_n.get(value, [0, 0]))
                 for value, label in ErrandKind.choices],
        below_kind=below_kind, below=below, below_hidden=below_hidden,
        asked=window["asked"], delivered=window["delivered"], failed=window["failed"],
        cancelled=window["cancelled"], median_hours=quantile(hours, 0.5),
        p90_hours=quantile(hours, 0.9), volunteer_hours=window["volunteer_hours"],
        volunteer_tasks=window["volunteer_tasks"], helpers=_helpers(done))


# The export -------------------------------------------------------------------------------


def export_window(first: date, last: date) -> tuple[datetime, datetime]:
    """The instants bounding the days `first` to `last` (inclusive), local time."""
    zone = timezone.get_current_timezone()
    return (datetime.combine(first, time.min, tzinfo=zone),
            datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone))


_EXPORT_FIELDS = ("pk", "created_at", "kind", "urgency", "status", "community__name",
                  "grid__name", "household__label", "resident__name", "assigned_to__full_name",
                  "assigned_to__username", "closed_at", "hours", "failure_reason")


def _export_layout(by: User, area: Area, title: str, rows: int) -> Layout:
    footer, watermark = stamp(by, rows)
    return Layout(
        title=title,
        subtitle=area_line(a.name for a in area_breadcrumbs(by, area)),
        columns=(
            Column(_("No."), width=8, kind="number"),
            Column(pgettext("errand", "Asked"), width=17, kind="datetime"),
            Column(_("Kind"), width=10),
            Column(_("Urgency"), width=14),
            Column(_("Status"), width=10),
            Column(_("Community"), width=14),
            Column(_("Grid"), width=10),
            Column(_("Address"), width=18),
            Column(_("Resident"), width=10),
            Column(_("Helper"), width=12),
            Column(_("Closed"), width=17, kind="datetime"),
            Column(_("Hours spent"), width=8, kind="number"),
            Column(_("Why it could not be done"), width=30),
        ),
        footer=footer, watermark=watermark, sheet_name=_("Errands"))


def _export_rows(rows: QuerySet[Errand]):  # noqa: ANN202 - a generator of cell lists
    kinds = {v: str(label) for v, label in ErrandKind.choices}
    urgencies = {v: str(label) for v, label in Urgency.choices}
    statuses = {v: str(label) for v, label in ErrandStatus.choices}
    for (pk, created, kind, urgency, status, community, grid, address, name, helper_name,
         helper_login, closed, hours, failure) in rows.values_list(*_EXPORT_FIELDS).iterator(
            chunk_size=2000):
        yield [pk, created, kinds.get(kind, kind), urgencies.get(urgency, urgency),
               statuses.get(status, status), community, grid, address, masked_name(name),
               helper_name or helper_login or "", closed, hours, failure]


def errands_export(*, by: User, area: Area, first: date, last: date, fmt: str,
                   ip: str | None = None) -> Export:
    """The errands of `area` asked from `first` to `last` (local days, inclusive) as .xlsx
    or .csv: one row each, the resident's name masked, never a phone or ID number, the
    exporter and time printed in the file. Needs the figures of the area and the export
    capability (PermissionDenied otherwise); audited as an export with the days, the rows
    and the format."""
    if not (may_read_figures(by) and can(by, Can.EXPORT)):
        raise PermissionDenied(_("Your role cannot export errands."))
    if fmt not in FORMATS:
        raise ValueError(fmt)
    if last < first or (last - first).days >= EXPORT_MAX_DAYS:
        raise ValueError(f"bad range {first}..{last}")
    if not Area.objects.filter(area_scope_q(by), pk=area.pk).exists():
        raise PermissionDenied(_("This area is outside yours."))
    start, end = export_window(first, last)
    rows = (errands_in(area).filter(created_at__gte=start, created_at__lt=end)
            .order_by("created_at", "pk"))
    total = rows.count()
    days = f"{first:%Y-%m-%d} – {last:%Y-%m-%d}"
    title = _("%(area)s errands %(days)s") % {"area": area.name, "days": days}
    out, n = spool(fmt, _export_layout(by, area, title, total), _export_rows(rows))
    audit_record(by=by, action=AuditAction.EXPORT, object_type="errands", object_id=area.pk,
                 object_label=title, area_path=area.path, ip=ip,
                 changes={"from": ["", f"{first:%Y-%m-%d}"], "to": ["", f"{last:%Y-%m-%d}"],
                          "rows": ["", n], "format": ["", fmt]})
    stem = pgettext("export file name", "errands")
    return Export(out, f"{area.name}{stem}_{first:%Y%m%d}-{last:%Y%m%d}.{fmt}",
                  content_type(fmt), n)
