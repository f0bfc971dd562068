"""Workload of the staff of an area, and the warnings the community secretary gets when
someone is overloaded (`care.workload`, daily).

Definitions (one place; the page, the warnings and the tests read these):

- **Staff of an area:** active users whose post (`user.area`) lies in the area's subtree
  with role grid worker, community worker or community secretary, and the active rota
  members of the communities in the subtree whatever their role (sent-down cadres). A
  person's *home* is their post for those three roles, otherwise their rota community;
  their *community* is the community of their home. The page of a grid shows its staff
  (its figures are computed over its community, which they depend on).
- **Residents per worker:** residents who live there (status "lives here": moved-out and
  deceased residents are not counted). A grid worker looks after the residents of their
  grid divided by the number of active grid workers of that grid. A community worker
  looks after the residents of the grids of their community that have no active grid
  worker, divided by the number of the community's community workers. A secretary leads
  and carries 0, and so does a rota member of another role.
- **Open alerts:** open alerts assigned to the grid (shared by its grid workers), or to
  the community or to one of its grids without a grid worker (shared by its community
  workers). Alerts escalated above the community are the street's.
- **Door visits waiting:** pending contacts at a door-visit step whose time has come
  (`fangkong.followup.selectors.visit_waiting_q`), by grid, shared like residents.
- **Hours and rest in the last 7 days:** assigned shifts that count as worked
  (`models.worked_q(now)`: published plan, ended, not absent) on the local days
  [today-7, today-1]; hours are their sum, rest days 7 minus the distinct days worked.
  *Days in a row* counts the days worked back from yesterday, looking back at most
  `streak_window` days.
- **Overloaded** when any figure passes its limit (settings, with defaults):
  residents > CARE_OVERLOAD_RESIDENTS (500), open alerts > CARE_OVERLOAD_ALERTS (20),
  door visits > CARE_OVERLOAD_VISITS (30), hours > CARE_MAX_WEEKLY_HOURS (48), rest days <
  CARE_MIN_REST_DAYS_PER_WEEK (1), days in a row > CARE_MAX_CONSECUTIVE_DAYS (6).
  Work that no worker's share holds (a community without community workers) is shown on
  the community's line as not covered.

Every figure of an area comes from a fixed number of GROUP BY queries (areas, staff,
residents, alerts, rounds and visits, shifts), never a query per worker.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from fangkong.accounts.models import Role, User
from fangkong.care.models import OverloadWarning, ShiftAssignment, worked_q
from fangkong.followup.models import Alert, AlertStatus
from fangkong.followup.selectors import visits_waiting_by_grid
from fangkong.lib import clock
from fangkong.places.models import Area, AreaKind
from fangkong.residents.models import Resident, ResidentStatus

STAFF_ROLES = (Role.GRID_WORKER, Role.COMMUNITY_WORKER, Role.COMMUNITY_SECRETARY)
WEEK = 7
COMMUNITY_DEPTH = 3  # city 0, district 1, street 2, community 3, grid 4


@dataclass(frozen=True)
class Limits:
    residents: int = 500
    alerts: int = 20
    visits: int = 30
    weekly_hours: int = 48
    min_rest_days: int = 1
    max_consecutive_days: int = 6

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(residents=settings.CARE_OVERLOAD_RESIDENTS,
                   alerts=settings.CARE_OVERLOAD_ALERTS, visits=settings.CARE_OVERLOAD_VISITS,
                   weekly_hours=settings.CARE_MAX_WEEKLY_HOURS,
                   min_rest_days=settings.CARE_MIN_REST_DAYS_PER_WEEK,
                   max_consecutive_days=settings.CARE_MAX_CONSECUTIVE_DAYS)

    @property
    def streak_window(self) -> int:
        """How many days back the days in a row are counted (enough to pass the limit)."""
        return max(2 * WEEK, self.max_consecutive_days + 1)


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _wording(key: str, value: float, limit: int) -> str:
    """A reason worded for the secretary, in the active language."""
    words = {"value": _num(value), "limit": _num(limit)}
    if key == "residents":  # a share: whole people read better
        words["value"] = _num(round(value))
        return _("looks after %(value)s residents (limit %(limit)s)") % words
    if key == "alerts":
        return _("has %(value)s open alerts (limit %(limit)s)") % words
    if key == "visits":
        return _("has %(value)s door visits waiting (limit %(limit)s)") % words
    if key == "hours":
        return _("worked %(value)s hours in the last 7 days (limit %(limit)s)") % words
    if key == "rest":
        return ngettext("took %(value)s rest day in the last 7 days (at least %(limit)s)",
                        "took %(value)s rest days in the last 7 days (at least %(limit)s)",
                        int(value)) % words
    return ngettext("worked %(value)s day in a row (limit %(limit)s)",
                    "worked %(value)s days in a row (limit %(limit)s)", int(value)) % words


REASON_KEYS = ("residents", "alerts", "visits", "hours", "rest", "streak")


@dataclass(frozen=True)
class Reason:
    key: str  # residents | alerts | visits | hours | rest | streak
    value: float
    limit: int

    @property
    def message(self) -> str:
        """Worded for the secretary, in the active language."""
        return _wording(self.key, self.value, self.limit)

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "limit": self.limit,
                "message": self.message}


def reason_messages(reasons: Iterable[dict[str, Any]]) -> list[str]:
    """The stored reasons of a warning worded again in the active language (a stored
    message is kept when its key is unknown)."""
    out = []
    for r in reasons:
        if r.get("key") in REASON_KEYS:
            out.append(Reason(r["key"], r["value"], r["limit"]).message)
        else:
            out.append(str(r.get("message", "")))
    return out


@dataclass
class WorkloadRow:
    user: User
    home: Area  # post, or rota community for a rota member of another role
    community: Area
    residents: float = 0
    alerts: float = 0
    visits: float = 0
    hours: int = 0
    days_worked: int = 0  # distinct days in the last 7
    consecutive_days: int = 0
    reasons: list[Reason] = field(default_factory=list)

    @property
    def rest_days(self) -> int:
        return WEEK - self.days_worked

    @property
    def overloaded(self) -> bool:
        return bool(self.reasons)

    @property
    def role_label(self) -> str:
        if self.user.role in STAFF_ROLES:
            return self.user.get_role_display()
        member = getattr(self.user, "rota_member", None)
        return str(member.get_kind_display()) if member else self.user.get_role_display()


@dataclass
class CommunityLine:
    community: Area
    staff: int = 0
    overloaded: int = 0
    # Work of the community that no worker's share holds (no community worker).
    uncovered_residents: int = 0
    uncovered_alerts: int = 0
    uncovered_visits: int = 0


@dataclass
class Workload:
    area: Area
    on_day: date
    limits: Limits
    rows: list[WorkloadRow]  # the staff of the area, by post
    communities: list[CommunityLine]  # the communities of the area (or the grid's)

    @property
    def overloaded(self) -> list[WorkloadRow]:
        return [r for r in self.rows if r.overloaded]

    @property
    def top_hours(self) -> int:
        """The scale of the hours bars: the limit, or the most anyone worked."""
        return max([self.limits.weekly_hours, *(r.hours for r in self.rows)])


def _in(path: str, root: Area) -> bool:
    return path == root.path or path.startswith(root.path + ".")


def _community_path(path: str) -> str:
    return ".".join(path.split(".")[:COMMUNITY_DEPTH + 1])


def _staff(root: Area) -> QuerySet[User]:
    in_post = Q(role__in=STAFF_ROLES) & root.subtree_q("area__path")
    on_rota = Q(rota_member__active=True) & root.subtree_q("rota_member__community__path")
    return User.objects.filter(in_post | on_rota, is_active=True)


def _home(user: User, root: Area) -> Area | None:
    area = user.area
    if (user.role in STAFF_ROLES and area is not None and area.depth >= COMMUNITY_DEPTH
            and _in(area.path, root)):
        return area
    member = getattr(user, "rota_member", None)
    if member is not None and member.active and _in(member.community.path, root):
        return member.community
    return None


def _shift_days(staff: QuerySet[User], *, on_day: date, now: datetime,
                window: int) -> dict[int, dict[date, int]]:
    """{user id: {day: hours worked}} for the days [on_day - window, on_day - 1]."""
    rows = (ShiftAssignment.objects
            .filter(worked_q(now), user_id__in=staff.values("pk"),
                    day__gte=on_day - timedelta(days=window), day__lt=on_day)
            .values("user_id", "day").annotate(h=Sum("hours")).order_by())
    days: dict[int, dict[date, int]] = defaultdict(dict)
    for row in rows:
        days[row["user_id"]][row["day"]] = row["h"] or 0
    return days


def _reasons(row: WorkloadRow, limits: Limits) -> list[Reason]:
    checks = [("residents", row.residents, limits.residents, row.residents > limits.residents),
              ("alerts", row.alerts, limits.alerts, row.alerts > limits.alerts),
              ("visits", row.visits, limits.visits, row.visits > limits.visits),
              ("hours", row.hours, limits.weekly_hours, row.hours > limits.weekly_hours),
              ("rest", row.rest_days, limits.min_rest_days,
               row.rest_days < limits.min_rest_days),
              ("streak", row.consecutive_days, limits.max_consecutive_days,
               row.consecutive_days > limits.max_consecutive_days)]
    return [Reason(key, value, limit) for key, value, limit, over in checks if over]


@dataclass
class _Work:
    """Residents, open alerts and door visits of a root area: by grid, and what falls to
    each community's workers (assigned to the community, or of its grids without a grid
    worker)."""

    by_grid: dict[str, Counter[int]]
    by_community: dict[str, Counter[int]]


def _work(root: Area, *, now: datetime, grid_workers: Counter[int],
          community_of: dict[int, int]) -> _Work:
    residents: Counter[int] = Counter()
    for row in (Resident.objects.filter(root.scoped_rows_q(), status=ResidentStatus.ACTIVE)
                .values("grid_id").annotate(n=Count("pk")).order_by()):
        residents[row["grid_id"]] = row["n"]
    alerts: Counter[int] = Counter()  # by the grid or community they are assigned to
    for row in (Alert.objects.filter(root.scoped_rows_q(), status=AlertStatus.OPEN)
                .values("grid_id", "community_id", "assigned_area_id")
                .annotate(n=Count("pk")).order_by()):
        if row["assigned_area_id"] in (row["grid_id"], row["community_id"]):
            alerts[row["assigned_area_id"]] += row["n"]
    visits = Counter(visits_waiting_by_grid(root, now=now))
    by_grid = {"residents": residents, "alerts": alerts, "visits": visits}
    by_community: dict[str, Counter[int]] = {name: Counter() for name in by_grid}
    for name, counts in by_grid.items():
        for area_id, n in counts.items():
            if area_id in community_of:
                if not grid_workers[area_id]:
                    by_community[name][community_of[area_id]] += n
            else:  # an alert assigned to the community itself
                by_community[name][area_id] += n
    return _Work(by_grid=by_grid, by_community=by_community)


def _time(row: WorkloadRow, worked: dict[date, int], *, on_day: date) -> None:
    week = [on_day - timedelta(days=d) for d in range(1, WEEK + 1)]
    row.hours = sum(worked.get(day, 0) for day in week)
    row.days_worked = sum(1 for day in week if day in worked)
    streak = 0
    while on_day - timedelta(days=streak + 1) in worked:
        streak += 1
    row.consecutive_days = streak


def area_workload(area: Area, *, now: datetime | None = None,
                  on_day: date | None = None) -> Workload:
    """The workload of the staff of `area` (no access check: the caller has passed the
    area's gate). `on_day` is the local day the figures are for (today by default): hours
    and rest count the 7 days before it. A fixed number of queries."""
    now = now or clock.now()
    on_day = on_day or timezone.localdate(now)
    limits = Limits.from_settings()
    # A grid's workers share its community's work: compute over the community.
    root = Area.objects.get(pk=area.parent_id) if area.kind == AreaKind.GRID else area
    areas = list(Area.objects.filter(root.subtree_q(),
                                     kind__in=(AreaKind.COMMUNITY, AreaKind.GRID)))
    communities = {a.path: a for a in sorted(areas, key=lambda a: a.path)
                   if a.kind == AreaKind.COMMUNITY}
    community_of = {a.pk: a.parent_id for a in areas if a.kind == AreaKind.GRID}

    staff = _staff(root)
    rows: list[WorkloadRow] = []
    for user in staff.select_related("area", "rota_member", "rota_member__community"):
        home = _home(user, root)
        community = home and communities.get(_community_path(home.path))
        if home is not None and community is not None:
            rows.append(WorkloadRow(user=user, home=home, community=community))
    grid_workers = Counter(r.home.pk for r in rows if r.user.role == Role.GRID_WORKER
                           and r.home.kind == AreaKind.GRID)
    community_workers = Counter(r.home.pk for r in rows if r.user.role == Role.COMMUNITY_WORKER
                                and r.home.kind == AreaKind.COMMUNITY)
    work = _work(root, now=now, grid_workers=grid_workers, community_of=community_of)
    shift_days = _shift_days(staff, on_day=on_day, now=now, window=limits.streak_window)

    for row in rows:
        home_id, role = row.home.pk, row.user.role
        if role == Role.GRID_WORKER and grid_workers[home_id]:
            share, counts = grid_workers[home_id], work.by_grid
        elif role == Role.COMMUNITY_WORKER and community_workers[home_id]:
            share, counts = community_workers[home_id], work.by_community
        else:  # secretaries lead; other rota members carry no residents
            share, counts = 0, {}
        if share:
            row.residents = counts["residents"][home_id] / share
            row.alerts = counts["alerts"][home_id] / share
            row.visits = counts["visits"][home_id] / share
        _time(row, shift_days.get(row.user.pk, {}), on_day=on_day)
        row.reasons = _reasons(row, limits)

    lines = {c.pk: CommunityLine(community=c) for c in communities.values()}
    for community_id, line in lines.items():
        if not community_workers[community_id]:
            line.uncovered_residents = work.by_community["residents"][community_id]
            line.uncovered_alerts = work.by_community["alerts"][community_id]
            line.uncovered_visits = work.by_community["visits"][community_id]
    rows = [r for r in rows if _in(r.home.path, area)]
    for row in rows:
        line = lines[row.community.pk]
        line.staff += 1
        line.overloaded += row.overloaded
    rows.sort(key=lambda r: (r.home.path, r.user.display_name, r.user.pk))
    return Workload(area=area, on_day=on_day, limits=limits, rows=rows,
                    communities=list(lines.values()))


# Sorting the table: key -> (value of a row, worst first when True = descending).
SORTS: dict[str, tuple[Callable[[WorkloadRow], Any], bool]] = {
    "name": (lambda r: r.user.display_name, False),
    "post": (lambda r: r.home.path, False),
    "residents": (lambda r: r.residents, True),
    "alerts": (lambda r: r.alerts, True),
    "visits": (lambda r: r.visits, True),
    "hours": (lambda r: r.hours, True),
    "rest": (lambda r: r.rest_days, False),
    "streak": (lambda r: r.consecutive_days, True),
    "load": (lambda r: len(r.reasons), True),
}
DEFAULT_SORT = "load"


def sorted_rows(rows: list[WorkloadRow], sort: str) -> tuple[list[WorkloadRow], str]:
    """Rows sorted by a column of the table (`SORTS`, "-key" reverses it; anything else
    sorts the overloaded first); returns the rows and the sort applied. Stable: equal rows
    keep their order by post."""
    key = sort.removeprefix("-")
    if key not in SORTS:
        key, sort = DEFAULT_SORT, DEFAULT_SORT
    value, worst_first = SORTS[key]
    descending = worst_first != sort.startswith("-")
    return sorted(rows, key=value, reverse=descending), sort


# Warnings ---------------------------------------------------------------------------------


def open_warnings_for(user) -> QuerySet[OverloadWarning]:  # noqa: ANN001
    """The overload warnings the user should see: for a community secretary, those of
    their community nobody has noted yet (the newest first); nothing for anyone else."""
    if (not getattr(user, "is_authenticated", False) or not user.is_active
            or user.role != Role.COMMUNITY_SECRETARY or not user.area_id):
        return OverloadWarning.objects.none()
    return (OverloadWarning.objects.filter(community_id=user.area_id, noted_at__isnull=True)
            .select_related("user", "user__area").order_by("-on_day", "pk"))


def warning_to_note(user, warning_id: object) -> OverloadWarning:  # noqa: ANN001
    """The access gate of noting a warning: 403 unless a community secretary, 404 unless
    a warning of their community."""
    if not (getattr(user, "is_authenticated", False) and user.is_active
            and user.role == Role.COMMUNITY_SECRETARY and user.area_id):
        raise PermissionDenied
    try:
        pk = int(str(warning_id))
    except ValueError:
        raise Http404 from None
    warning = OverloadWarning.objects.filter(community_id=user.area_id, pk=pk).first()
    if warning is None:
        raise Http404
    return warning


@transaction.atomic
def overload_warning_note(*, warning: OverloadWarning, by: User) -> int:
    """The secretary has seen the warning: it and the earlier open warnings of the same
    person in that community are marked noted (by, at). Idempotent: returns how many
    were still open."""
    if by.role != Role.COMMUNITY_SECRETARY or by.area_id != warning.community_id:
        raise PermissionDenied(_("Only the secretary of the community notes its warnings."))
    return OverloadWarning.objects.filter(
        user_id=warning.user_id, community_id=warning.community_id,
        on_day__lte=warning.on_day, noted_at__isnull=True,
    ).update(noted_by=by, noted_at=clock.now())


def workload_warn(*, on_day: date, now: datetime) -> int:
    """Raise one warning per overloaded staff member for `on_day`, for the secretary of
    their community, district by district. Idempotent (unique per person and day): a
    second run the same day adds only the people newly overloaded and never changes a
    warning already raised. Returns the warnings created."""
    created = 0
    for district in Area.objects.filter(kind=AreaKind.DISTRICT).order_by("path"):
        overloaded = area_workload(district, now=now, on_day=on_day).overloaded
        if not overloaded:
            continue
        done = set(OverloadWarning.objects.filter(
            on_day=on_day, user_id__in=[r.user.pk for r in overloaded])
            .values_list("user_id", flat=True))
        new = [OverloadWarning(user=r.user, community=r.community, on_day=on_day,
                               reasons=[reason.as_json() for reason in r.reasons])
               for r in overloaded if r.user.pk not in done]
        OverloadWarning.objects.bulk_create(new, ignore_conflicts=True)
        created += len(new)
    return created
