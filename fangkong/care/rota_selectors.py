"""Reads of the shift rota: the access gates of a community's rota, a plan and a swap, and
the lists the pages show.

Who reads what:
- every staff member: their own shifts and the swaps they asked for or were asked to take;
- a rota manager (capability MANAGE_ROTA: community secretary, street officer,
  administrator): the rota, plans and swaps of the communities in their area.
Nobody else: the gates answer 404.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from fangkong.accounts.models import User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import area_in_scope, area_scope_q
from fangkong.care.models import (
    SWAP_OPEN,
    Attendance,
    DayOff,
    PlanStatus,
    Post,
    PostShift,
    RotaMember,
    RotaPlan,
    ShiftAssignment,
    ShiftSwap,
    SwapStatus,
)
from fangkong.lib import clock
from fangkong.places.models import Area, AreaKind

_ASSIGNMENT_RELATED = ("shift", "shift__post", "user", "plan")


def communities_for_rota(user) -> list[Area]:  # noqa: ANN001
    """The communities whose rota the user manages."""
    if not can(user, Can.MANAGE_ROTA):
        return []
    return list(Area.objects.filter(area_scope_q(user), kind=AreaKind.COMMUNITY)
                .order_by("path"))


def communities_overview(user) -> list[Area]:  # noqa: ANN001
    """The communities whose rota the user manages, each with `n_staff` and `n_posts` (active)
    and `latest` (its newest plan not discarded, or None): three queries."""
    if not can(user, Can.MANAGE_ROTA):
        return []
    areas = list(Area.objects.filter(area_scope_q(user), kind=AreaKind.COMMUNITY)
                 .annotate(n_staff=Count("rota_members", filter=Q(rota_members__active=True),
                                       distinct=True),
                           n_posts=Count("rota_posts", filter=Q(rota_posts__active=True),
                                       distinct=True))
                 .order_by("path"))
    latest: dict[int, RotaPlan] = {}
    for plan in (RotaPlan.objects.filter(community__in=[a.pk for a in areas])
                 .exclude(status=PlanStatus.DISCARDED).order_by("community_id", "-created_at",
                                                                "-pk")):
        latest.setdefault(plan.community_id, plan)
    for area in areas:
        area.latest = latest.get(area.pk)
    return areas


def community_for_rota(user, area_id: int) -> Area:  # noqa: ANN001
    """The access gate of a community's rota: 404 unless the user manages rotas and the
    community lies in their area."""
    if not can(user, Can.MANAGE_ROTA):
        raise Http404
    return area_in_scope(user, area_id, kind=AreaKind.COMMUNITY)


def may_manage(user, community_id: int) -> bool:  # noqa: ANN001
    return (can(user, Can.MANAGE_ROTA)
            and Area.objects.filter(area_scope_q(user), pk=community_id).exists())


def plan_for_user(user, plan_id: int) -> RotaPlan:  # noqa: ANN001
    """The access gate of a plan: its community's rota managers only."""
    plan = RotaPlan.objects.select_related("community", "created_by", "published_by").filter(
        pk=plan_id).first()
    if plan is None or not may_manage(user, plan.community_id):
        raise Http404
    return plan


def own_assignment(user, assignment_id: int) -> ShiftAssignment:  # noqa: ANN001
    """One of the user's own published shifts (to swap it); 404 otherwise."""
    assignment = (ShiftAssignment.objects.select_related(*_ASSIGNMENT_RELATED)
                  .filter(pk=assignment_id, user_id=user.pk,
                          plan__status=PlanStatus.PUBLISHED).first())
    if assignment is None:
        raise Http404
    return assignment


def swap_for_user(user, swap_id: int) -> ShiftSwap:  # noqa: ANN001
    """The access gate of a swap: the two workers and the community's rota managers."""
    swap = (ShiftSwap.objects.select_related(
        "shift", "shift__shift", "shift__shift__post", "in_return", "in_return__shift",
        "in_return__shift__post", "asked_by", "colleague", "decided_by", "community")
        .filter(pk=swap_id).first())
    if swap is None:
        raise Http404
    if user.pk in (swap.asked_by_id, swap.colleague_id) or may_manage(user, swap.community_id):
        return swap
    raise Http404


# Lists -------------------------------------------------------------------------------------


def posts_of(community: Area) -> list[Post]:
    return list(Post.objects.filter(community=community).prefetch_related("shifts")
                .order_by("-active", "pk"))


def members_of(community: Area) -> list[RotaMember]:
    return list(RotaMember.objects.filter(community=community)
                .select_related("user").prefetch_related("days_off")
                .order_by("-active", "team", "user__full_name", "pk"))


def staff_for_rota(community: Area) -> QuerySet[User]:
    """Who may be put on a community's rota: its active staff (community and grid posts)
    not yet on a rota."""
    return (User.objects.filter(community.subtree_q("area__path"), is_active=True,
                                rota_member__isnull=True)
            .select_related("area").order_by("area__path", "full_name", "username"))


def days_off_ahead(community: Area, today: date) -> list[DayOff]:
    return list(DayOff.objects.filter(member__community=community, last_day__gte=today)
                .select_related("member", "member__user").order_by("first_day", "pk"))


def plans_of(community: Area) -> list[RotaPlan]:
    return list(RotaPlan.objects.filter(community=community)
                .exclude(status=PlanStatus.DISCARDED)
                .select_related("created_by", "published_by").order_by("-created_at",
                                                                       "-pk")[:20])


@dataclass
class RotaTable:
    """Shifts as a table: one row per day, one column per post shift, names in cells."""

    days: list[date]
    columns: list[PostShift]
    cells: dict[tuple[date, int], list[ShiftAssignment]]
    short: dict[tuple[date, int], int] = field(default_factory=dict)  # people missing

    @property
    def rows(self) -> list[tuple[date, list[tuple[list[ShiftAssignment], int]]]]:
        return [(day, [(self.cells.get((day, c.pk), []), self.short.get((day, c.pk), 0))
                       for c in self.columns]) for day in self.days]


def rota_table(assignments: list[ShiftAssignment], *, first_day: date, days: int,
               columns: list[PostShift]) -> RotaTable:
    cells: dict[tuple[date, int], list[ShiftAssignment]] = defaultdict(list)
    for a in assignments:
        cells[a.day, a.shift_id].append(a)
    dates = [first_day + timedelta(days=d) for d in range(days)]
    short = {(day, c.pk): c.people - len(cells.get((day, c.pk), []))
             for day in dates for c in columns
             if len(cells.get((day, c.pk), [])) < c.people}
    return RotaTable(days=dates, columns=columns, cells=cells, short=short)


def columns_of(community: Area) -> list[PostShift]:
    return list(PostShift.objects.filter(post__community=community, post__active=True)
                .select_related("post").order_by("post_id", "start_hour", "pk"))


def published_shifts(community: Area, first_day: date, last_day: date
                     ) -> list[ShiftAssignment]:
    return list(ShiftAssignment.objects.filter(
        community=community, plan__status=PlanStatus.PUBLISHED,
        day__gte=first_day, day__lte=last_day).select_related(*_ASSIGNMENT_RELATED)
        .order_by("day", "starts_at", "pk"))


def plan_shifts(plan: RotaPlan) -> list[ShiftAssignment]:
    return list(plan.assignments.select_related(*_ASSIGNMENT_RELATED)
                .order_by("day", "starts_at", "pk"))


def swaps_to_approve(community: Area) -> list[ShiftSwap]:
    return list(ShiftSwap.objects.filter(community=community, status=SwapStatus.AGREED)
                .select_related("shift", "shift__shift", "shift__shift__post", "in_return",
                                "in_return__shift", "in_return__shift__post", "asked_by",
                                "colleague").order_by("asked_at", "pk"))


def recent_shifts(community: Area, today: date) -> list[ShiftAssignment]:
    """The last 7 days' published shifts, to mark absences (the allowance counts them)."""
    return list(ShiftAssignment.objects.filter(
        community=community, plan__status=PlanStatus.PUBLISHED,
        day__gte=today - timedelta(days=7), ends_at__lte=clock.now())
        .select_related(*_ASSIGNMENT_RELATED).order_by("-day", "starts_at", "pk"))


@dataclass
class MyShifts:
    upcoming: list[ShiftAssignment]
    recent: list[ShiftAssignment]
    asked_of_me: list[ShiftSwap]
    asked_by_me: list[ShiftSwap]
    open_swap_shift_ids: set[int]
    hours_this_week: int


def my_shifts(user, today: date) -> MyShifts:  # noqa: ANN001
    """The user's published shifts (the last 7 days and the next 28), and their swaps."""
    rows = list(ShiftAssignment.objects.filter(
        user_id=user.pk, plan__status=PlanStatus.PUBLISHED,
        day__gte=today - timedelta(days=7), day__lte=today + timedelta(days=28))
        .select_related(*_ASSIGNMENT_RELATED).order_by("day", "starts_at", "pk"))
    now = clock.now()
    swaps = list(ShiftSwap.objects.filter(Q(asked_by_id=user.pk) | Q(colleague_id=user.pk))
                 .filter(Q(status__in=SWAP_OPEN) | Q(asked_at__gte=now - timedelta(days=14)))
                 .select_related("shift", "shift__shift", "shift__shift__post", "in_return",
                                 "in_return__shift", "in_return__shift__post", "asked_by",
                                 "colleague").order_by("-asked_at", "-pk"))
    monday = today - timedelta(days=today.weekday())
    return MyShifts(
        upcoming=[a for a in rows if a.ends_at > now],
        recent=[a for a in rows if a.ends_at <= now][::-1],
        asked_of_me=[s for s in swaps if s.colleague_id == user.pk],
        asked_by_me=[s for s in swaps if s.asked_by_id == user.pk],
        open_swap_shift_ids={s.shift_id for s in swaps if s.status in SWAP_OPEN},
        hours_this_week=sum(a.hours for a in rows if monday <= a.day < monday
                            + timedelta(days=7) and a.attendance == Attendance.PLANNED))


def swap_colleagues(assignment: ShiftAssignment) -> list[RotaMember]:
    """Who may be asked to take a shift: the other active members of its community."""
    return list(RotaMember.objects.filter(community_id=assignment.community_id, active=True)
                .exclude(user_id=assignment.user_id).select_related("user")
                .order_by("team", "user__full_name", "pk"))


def colleague_shifts(assignment: ShiftAssignment, colleague_ids: list[int]
                     ) -> list[ShiftAssignment]:
    """The colleagues' future published shifts in the same plan, to take one in return."""
    return list(ShiftAssignment.objects.filter(
        plan_id=assignment.plan_id, user_id__in=colleague_ids, starts_at__gt=clock.now())
        .exclude(pk=assignment.pk).select_related(*_ASSIGNMENT_RELATED)
        .order_by("day", "starts_at", "pk")[:300])
