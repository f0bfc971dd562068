"""Allowance rules, rota shifts and staff for the allowance, ledger and insurance tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from fangkong.accounts.models import Role, User
from fangkong.care.models import (
    AllowanceRule,
    Attendance,
    MemberKind,
    PlanStatus,
    Post,
    PostKind,
    PostShift,
    RotaMember,
    RotaPlan,
    ShiftAssignment,
)
from fangkong.lib import clock
from fangkong.places.models import Area

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER = date(2026, 11, 1)  # the month before the pinned clock (2026-12-01 09:00)


def rule(path: str, amount: str, *, role: str = "", kind: str = "",
         valid_from: date = date(2026, 1, 1), valid_to: date | None = None) -> AllowanceRule:
    """An unsaved rule, for the pure resolution."""
    return AllowanceRule(area_path=path, role=role, member_kind=kind, amount=Decimal(amount),
                         valid_from=valid_from, valid_to=valid_to)


def saved_rule(area: Area, amount: str, *, role: str = "", kind: str = "",
               valid_from: date = date(2026, 1, 1),
               valid_to: date | None = None) -> AllowanceRule:
    return AllowanceRule.objects.create(area=area, area_path=area.path, role=role,
                                        member_kind=kind, amount=Decimal(amount),
                                        valid_from=valid_from, valid_to=valid_to,
                                        created_at=clock.now())


class Rota:
    """A community's gate post with a day shift, and plans to put shifts in."""

    def __init__(self, community: Area) -> None:
        self.community = community
        post = Post.objects.create(community=community, name="东门", kind=PostKind.GATE)
        self.shift = PostShift.objects.create(post=post, name="白班", start_hour=8,
                                              end_hour=16)
        self.published = self.plan(PlanStatus.PUBLISHED)

    def plan(self, status: str) -> RotaPlan:
        return RotaPlan.objects.create(community=self.community, first_day=NOVEMBER, days=61,
                                       status=status, method="greedy", seconds=0.1,
                                       created_at=clock.now())

    def member(self, user: User, kind: str = MemberKind.WORKER) -> RotaMember:
        return RotaMember.objects.create(user=user, community=self.community, team="A",
                                         kind=kind)

    def work(self, user: User, day: date, *, start: int = 8, hours: int = 8,
             plan: RotaPlan | None = None,
             attendance: str = Attendance.PLANNED) -> ShiftAssignment:
        starts = datetime(day.year, day.month, day.day, start, tzinfo=SHANGHAI)
        return ShiftAssignment.objects.create(
            plan=plan or self.published, community=self.community, user=user,
            shift=self.shift, day=day, starts_at=starts,
            ends_at=starts + timedelta(hours=hours), hours=hours, attendance=attendance)


def staff(username: str, area: Area, role: str = Role.COMMUNITY_WORKER) -> User:
    user = User.objects.create(username=username, role=role, area=area,
                               full_name=username.title())
    return User.objects.select_related("area").get(pk=user.pk)


def nov(day: int) -> date:
    return date(2026, 11, day)
