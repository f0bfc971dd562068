"""A synthetic street for the shift rota: communities with their posts, staff in A and B
teams, some leave and some preferences. Deterministic from a seed; used by the rota tests
and `fangkong bench rota`."""

from __future__ import annotations

import random
from datetime import date, timedelta

from fangkong.care.rota import Post, RotaProblem, Rules, Shift, Staff, StaffKind, Team
from fangkong.synth import names

START = date(2026, 3, 2)  # a Monday; rotas are drawn against this day, not today
OFFICE_SKILL = "office"


def community_posts(community: str) -> tuple[Post, ...]:
    """Gate (two shifts), night watch, grid patrol (two people), office (a skill):
    six person-shifts, 48 hours, a day."""
    return (
        Post(f"{community}-gate", community, "门岗",
             (Shift("morning", 8, 16), Shift("evening", 16, 24))),
        Post(f"{community}-night", community, "夜间值守", (Shift("night", 0, 8),)),
        Post(f"{community}-patrol", community, "网格巡查", (Shift("day", 9, 17, people=2),)),
        Post(f"{community}-office", community, "办公室",
             (Shift("day", 9, 17, skill=OFFICE_SKILL),)),
    )


def street(*, communities: int = 20, staff_per_community: int = 15, days: int = 28,
           seed: int = 1, leave_share: float = 0.15, preference_share: float = 0.3,
           rules: Rules | None = None, start: date = START) -> RotaProblem:
    """A street of `communities` communities with `staff_per_community` staff each,
    alternating teams A and B, every third person able to work the office."""
    rng = random.Random(seed)
    posts: list[Post] = []
    staff: list[Staff] = []
    for c in range(communities):
        community = f"C{c + 1:02d}"
        posts.extend(community_posts(community))
        for i in range(staff_per_community):
            leave: set[date] = set()
            if rng.random() < leave_share:
                first = rng.randrange(days)
                leave = {start + timedelta(days=first + k) for k in range(rng.randint(1, 3))}
            avoid_days: set[date] = set()
            avoid_shifts: set[str] = set()
            if rng.random() < preference_share:
                if rng.random() < 0.5:
                    avoid_shifts.add("night")
                else:
                    avoid_days.update(start + timedelta(days=d)
                                      for d in range(rng.randrange(7), days, 7))
            staff.append(Staff(
                id=f"{community}-{i + 1:02d}",
                name=rng.choice(names.SURNAMES)[0] + rng.choice(names.MALE_GIVEN),
                community=community, team=Team.A if i % 2 == 0 else Team.B,
                kind=StaffKind.CADRE if rng.random() < 0.4 else StaffKind.WORKER,
                skills=frozenset({OFFICE_SKILL}) if i % 3 == 0 else frozenset(),
                leave=frozenset(leave), avoid_days=frozenset(avoid_days),
                avoid_shifts=frozenset(avoid_shifts)))
    return RotaProblem(start=start, days=days, posts=tuple(posts), staff=tuple(staff),
                       rules=rules or Rules())
