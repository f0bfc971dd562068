"""Care for the workers in the demo: the first community's posts and staff in teams A and
B, a rota worked over the last two weeks and one published for the next two, the
allowance rules of the city and some insurance policies."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password

from fangkong.accounts.models import Role, User
from fangkong.care import rota_services
from fangkong.care.allowances import allowance_rule_add
from fangkong.care.models import DayOffKind, InsurancePolicy, PostKind
from fangkong.lib import clock
from fangkong.places.models import Area
from fangkong.synth import names

POSTS = [
    ("东门卡口", PostKind.GATE, [("白班", 8, 16, 1, ""), ("晚班", 16, 24, 1, "")]),
    ("夜间值守", PostKind.NIGHT, [("夜班", 0, 8, 1, "")]),
    ("网格巡查", PostKind.PATROL, [("白班", 9, 17, 2, "")]),
    ("社区办公室", PostKind.OFFICE, [("白班", 9, 17, 1, "办公")]),
]
EXTRA_STAFF = 12
# (role, kind on the rota, yuan per day on duty): blank is any.
ALLOWANCES = [("", "", "80"), (Role.COMMUNITY_WORKER, "", "100"),
              (Role.GRID_WORKER, "", "100"), (Role.COMMUNITY_SECRETARY, "", "120"),
              ("", "cadre", "90")]
ROTA_DAYS = 14


@dataclass
class CareDemo:
    community: str
    staff: int
    shifts_worked: int
    shifts_ahead: int


def demo_care_create(*, secretary: User, staff: list[User], admin: User | None = None,
                     seed: int = 2020) -> CareDemo:
    """Set up the rota of the secretary's community with `staff` (those working in it)
    and 12 more, and run it: a plan made and published two weeks ago (so the allowance
    ledger has worked days), then one from today. With `admin`, the allowance rules of
    their area (the city's)."""
    rng = random.Random(seed)
    community = secretary.area
    for name, kind, shifts in POSTS:
        post = rota_services.post_add(community=community, name=name, kind=kind, by=secretary)
        for shift, start, end, people, skill in shifts:
            rota_services.post_shift_add(post=post, name=shift, start_hour=start,
                                         end_hour=end, people=people, skill=skill,
                                         by=secretary)
    staff = list(staff)
    for n in range(EXTRA_STAFF):
        surname = rng.choice(names.SURNAMES)[0]
        given = rng.choice(names.MALE_GIVEN if n % 2 else names.FEMALE_GIVEN)
        staff.append(User.objects.create(
            username=f"duty{n + 1:02d}", password=make_password(None), full_name=surname + given,
            role=Role.COMMUNITY_WORKER, area=community))
    members = []
    for n, user in enumerate(staff):
        if not (user.area.pk == community.pk or user.area.path.startswith(community.path)):
            continue
        members.append(rota_services.member_add(
            community=community, user=user, team="AB"[n % 2],
            kind="cadre" if n % 3 == 2 else "worker",
            skills="办公" if n % 4 == 0 else "", avoid_shifts="夜班" if n % 5 == 1 else "",
            by=secretary))
    today = clock.local_today()
    rota_services.day_off_add(member=members[3], first_day=today + timedelta(days=4),
                              last_day=today + timedelta(days=6), kind=DayOffKind.LEAVE,
                              note="探亲", by=secretary)
    worked = _plan(community, secretary, today - timedelta(days=ROTA_DAYS))
    ahead = _plan(community, secretary, today)
    if admin is not None:
        for role, kind, amount in ALLOWANCES:
            allowance_rule_add(by=admin, area=admin.area, amount=Decimal(amount),
                               valid_from=date(today.year, 1, 1), role=role,
                               member_kind=kind)
    for n, member in enumerate(members[:8]):
        start = date(today.year, 1, 1)
        InsurancePolicy.objects.create(
            user=member.user, kind="accident", insurer="中国人寿",
            policy_number=f"DEMO{today.year}{n + 1:04d}", sum_insured=Decimal("500000"),
            covers_from=start, covers_to=today + timedelta(days=10 if n == 0 else 200),
            recorded_by=secretary, recorded_at=clock.now())
    return CareDemo(community=community.name, staff=len(members), shifts_worked=worked,
                    shifts_ahead=ahead)


def _plan(community: Area, secretary: User, first_day: date) -> int:
    """Make and publish a rota from `first_day`, as if on that day."""
    with clock.pinned(clock.now() - (clock.local_today() - first_day)):
        plan = rota_services.rota_plan_make(community=community, first_day=first_day,
                                            days=ROTA_DAYS, ab_mode="prefer",
                                            ab_block_days=1, by=secretary)
        rota_services.rota_plan_publish(plan=plan, by=secretary)
    return plan.assignments.count()
