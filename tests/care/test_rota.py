"""The rota solver: coverage, rest rules and fairness on generated streets; infeasible
inputs explained, not crashed on; the greedy fallback keeps the same hard rules.

The hard rules are checked here by `assert_hard_rules`, written apart from the solver's own
checks so that a shared mistake cannot hide."""

from __future__ import annotations

import sys
from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fangkong.care.rota import (
    Post,
    Reason,
    Rota,
    RotaProblem,
    Rule,
    Rules,
    Shift,
    Staff,
    Team,
    rota_solve,
    rules_broken,
)
from fangkong.synth.rota import START, street

FAST = Rules(time_limit_s=2.0)


def assert_hard_rules(problem: RotaProblem, rota: Rota) -> None:
    """Every assignment keeps every hard rule, and every short shift is a conflict."""
    rules = problem.rules
    staff = {p.id: p for p in problem.staff}
    posts = {p.id: p for p in problem.posts}
    by_person: dict[str, dict[int, Shift]] = defaultdict(dict)
    filled: dict[tuple[str, str, int], int] = defaultdict(int)
    for a in rota.assignments:
        person, post = staff[a.staff_id], posts[a.post_id]
        shift = next(s for s in post.shifts if s.name == a.shift)
        day = (a.day - problem.start).days
        assert 0 <= day < problem.days
        assert person.community == post.community, a
        assert shift.skill is None or shift.skill in person.skills, a
        assert a.day not in person.leave, a
        if rules.ab_mode == "strict":
            assert rules.team_on_duty(day) == person.team, a
        assert day not in by_person[a.staff_id], f"two shifts on one day: {a}"
        by_person[a.staff_id][day] = shift
        filled[a.post_id, a.shift, day] += 1
    for person_id, days in by_person.items():
        for day, shift in days.items():
            after = days.get(day + 1)
            if after is not None:
                gap = (24 + after.start) - (shift.start + shift.hours)
                assert gap >= rules.min_rest_hours, (person_id, day, shift, after)
        run = longest = 0
        for day in range(problem.days):
            run = run + 1 if day in days else 0
            longest = max(longest, run)
        assert longest <= rules.max_consecutive_days, person_id
        for first in range(0, problem.days, 7):
            week = range(first, min(first + 7, problem.days))
            assert sum(days[d].hours for d in week if d in days) <= rules.max_weekly_hours
            rest = sum(d not in days for d in week)
            assert rest >= rules.min_rest_days_per_week * len(week) // 7, person_id
    short = {(c.post.id, c.shift.name, (c.day - problem.start).days): c.missing
             for c in rota.conflicts}
    for post in problem.posts:
        for shift in post.shifts:
            for day in range(problem.days):
                got = filled[post.id, shift.name, day]
                assert got <= shift.people
                assert short.get((post.id, shift.name, day), 0) == shift.people - got


def one_community(staff: list[Staff], shifts: tuple[Shift, ...], *, days: int = 7,
                  rules: Rules = FAST) -> RotaProblem:
    return RotaProblem(start=START, days=days, posts=(Post("P", "C1", "夜间值守", shifts),),
                       staff=tuple(staff), rules=rules)


def person(n: int, team: Team = Team.A, **kwargs) -> Staff:
    return Staff(id=f"S{n}", name=f"S{n}", community="C1", team=team, **kwargs)


def test_every_shift_of_a_generated_street_is_covered():
    problem = street(communities=3, days=14, rules=FAST)
    rota = rota_solve(problem)
    assert rota.method == "cp-sat"
    assert rota.conflicts == []
    assert rota.call_ins == []
    assert_hard_rules(problem, rota)


def test_tight_rest_rules_hold_and_leave_is_honoured():
    rules = Rules(max_consecutive_days=3, max_weekly_hours=32, min_rest_days_per_week=2,
                  min_rest_hours=12, ab_mode="off", time_limit_s=2.0)
    problem = street(communities=2, days=21, leave_share=0.5, rules=rules)
    rota = rota_solve(problem)
    assert_hard_rules(problem, rota)
    on_leave = [p for p in problem.staff if p.leave]
    assert on_leave
    for p in on_leave:
        assert not {a.day for a in rota.shifts_of(p.id)} & p.leave


def test_no_night_watch_is_followed_by_a_morning_shift():
    shifts = (Shift("night", 22, 6), Shift("morning", 8, 16))
    rules = Rules(max_consecutive_days=7, min_rest_days_per_week=0, ab_mode="off",
                  time_limit_s=2.0)
    problem = one_community([person(1), person(2)], shifts, days=5, rules=rules)
    rota = rota_solve(problem)
    assert rota.conflicts == []
    assert_hard_rules(problem, rota)
    worked = {(a.staff_id, (a.day - START).days): a.shift for a in rota.assignments}
    for (staff_id, day), shift in worked.items():
        if shift == "night":
            assert worked.get((staff_id, day + 1)) != "morning"


def test_hours_are_spread_evenly_within_each_team():
    problem = street(communities=2, days=28, leave_share=0, preference_share=0, rules=FAST)
    rota = rota_solve(problem)
    assert rota.conflicts == []
    for community in ("C01", "C02"):
        for team in Team:
            hours = [rota.hours[p.id] for p in problem.staff
                     if p.community == community and p.team == team]
            assert max(hours) - min(hours) <= 16, (community, team, hours)


def test_preferences_are_honoured_when_there_is_slack():
    staff = [person(1, avoid_shifts=frozenset({"night"})),
             person(2, avoid_days=frozenset({START, START + timedelta(days=1)})),
             person(3), person(4)]
    rules = Rules(ab_mode="off", time_limit_s=2.0)
    problem = one_community(staff, (Shift("night", 0, 8), Shift("day", 9, 17)), rules=rules)
    rota = rota_solve(problem)
    assert rota.conflicts == []
    assert rota.preferences_broken == []
    assert all(a.shift != "night" for a in rota.shifts_of("S1"))
    assert not {a.day for a in rota.shifts_of("S2")} & {START, START + timedelta(days=1)}


@pytest.mark.parametrize("force_greedy", [False, True])
def test_three_at_night_with_two_staff_is_explained_as_a_shortage(force_greedy):
    problem = one_community([person(1), person(2, Team.B)], (Shift("night", 0, 8, people=3),),
                            days=3)
    rota = rota_solve(problem, force_greedy=force_greedy)
    assert_hard_rules(problem, rota)
    assert [(c.day, c.shift.name, c.needed, c.assigned, c.reason) for c in rota.conflicts] == [
        (START + timedelta(days=d), "night", 3, 2, Reason.SHORTAGE) for d in range(3)]
    with translation.override("en"):
        message = rota.conflicts[0].message
    assert "夜间值守, night shift (00:00–08:00) on 2026-03-02: needs 3, 2 assigned." in message
    assert "Too few staff: 2 in the community, 2 qualified" in message


def test_a_missing_skill_is_named():
    problem = one_community([person(1)], (Shift("clinic", 9, 17, skill="nurse"),), days=1)
    rota = rota_solve(problem)
    (conflict,) = rota.conflicts
    assert conflict.reason == Reason.NO_SKILL
    with translation.override("en"):
        assert "Nobody in community C1 has the skill “nurse”." in conflict.message


@pytest.mark.parametrize("force_greedy", [False, True])
def test_rules_that_cannot_all_hold_name_the_binding_rule(force_greedy):
    rules = Rules(max_weekly_hours=16, ab_mode="off", time_limit_s=2.0)
    problem = one_community([person(1)], (Shift("day", 9, 17),), rules=rules)
    rota = rota_solve(problem, force_greedy=force_greedy)
    assert_hard_rules(problem, rota)
    assert len(rota.assignments) == 2
    assert len(rota.conflicts) == 5
    assert {c.reason for c in rota.conflicts} == {Reason.RULES}
    assert {c.blocked_by for c in rota.conflicts} == {((Rule.WEEKLY_HOURS, 1),)}
    with translation.override("en"):
        assert "would work more than 16 hours that week: 1" in rota.conflicts[0].message


def test_strict_alternation_reports_the_team_off_duty():
    rules = Rules(ab_mode="strict", time_limit_s=2.0)
    problem = one_community([person(1, Team.A), person(2, Team.A)], (Shift("day", 9, 17),),
                            days=2, rules=rules)
    rota = rota_solve(problem)
    assert_hard_rules(problem, rota)
    (conflict,) = rota.conflicts
    assert (conflict.day, conflict.reason, conflict.off_team) == (
        START + timedelta(days=1), Reason.SHORTAGE, 2)


def test_the_team_off_duty_is_called_in_only_when_needed_and_shown():
    problem = one_community([person(1, Team.A), person(2, Team.A)], (Shift("day", 9, 17),),
                            days=2)
    rota = rota_solve(problem)
    assert rota.conflicts == []
    assert [a.day for a in rota.call_ins] == [START + timedelta(days=1)]


def test_greedy_fallback_keeps_the_hard_rules_and_reports_what_it_left():
    rules = Rules(max_consecutive_days=2, max_weekly_hours=24, min_rest_days_per_week=3,
                  ab_mode="prefer", time_limit_s=2.0)
    problem = street(communities=3, staff_per_community=8, days=14, rules=rules)
    rota = rota_solve(problem, force_greedy=True)
    assert rota.method == "greedy"
    assert rota.conflicts
    assert_hard_rules(problem, rota)
    with translation.override("en"):
        assert all("needs" in c.message for c in rota.conflicts)


def test_without_or_tools_the_greedy_rota_is_used_and_said(monkeypatch):
    monkeypatch.setitem(sys.modules, "ortools.sat.python.cp_model", None)
    problem = street(communities=1, days=7, rules=FAST)
    rota = rota_solve(problem)
    assert rota.method == "greedy"
    assert_hard_rules(problem, rota)
    with translation.override("en"):
        assert rota.notes == ["OR-Tools is not installed: the rota was made by the greedy "
                              "method."]


@st.composite
def small_problems(draw) -> tuple[RotaProblem, bool]:
    communities = draw(st.integers(1, 2))
    posts, staff = [], []
    for c in range(communities):
        community = f"C{c}"
        for p in range(draw(st.integers(1, 2))):
            shifts = []
            for s in range(draw(st.integers(1, 3))):
                start = draw(st.integers(0, 23))
                shifts.append(Shift(f"s{s}", start, (start + draw(st.integers(4, 12))) % 24,
                                    people=draw(st.integers(1, 3)),
                                    skill=draw(st.sampled_from([None, None, "x"]))))
            posts.append(Post(f"{community}-{p}", community, f"post {p}", tuple(shifts)))
        for i in range(draw(st.integers(0, 5))):
            leave = draw(st.sets(st.integers(0, 9), max_size=3))
            staff.append(Staff(
                id=f"{community}-{i}", name=str(i), community=community,
                team=draw(st.sampled_from(list(Team))),
                skills=frozenset(draw(st.sampled_from([(), ("x",)]))),
                leave=frozenset(START + timedelta(days=d) for d in leave),
                avoid_shifts=frozenset(draw(st.sampled_from([(), ("s0",)])))))
    rules = Rules(max_consecutive_days=draw(st.integers(1, 6)),
                  max_weekly_hours=draw(st.integers(8, 48)),
                  min_rest_days_per_week=draw(st.integers(0, 3)),
                  min_rest_hours=draw(st.integers(0, 14)),
                  ab_mode=draw(st.sampled_from(["prefer", "strict", "off"])),
                  ab_block_days=draw(st.integers(1, 4)), time_limit_s=0.6)
    problem = RotaProblem(start=START, days=draw(st.integers(1, 10)), posts=tuple(posts),
                          staff=tuple(staff), rules=rules)
    return problem, draw(st.booleans())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_every_returned_assignment_keeps_the_hard_rules(case):
    problem, force_greedy = case
    rota = rota_solve(problem, force_greedy=force_greedy)
    assert_hard_rules(problem, rota)
    with translation.override("en"):
        for conflict in rota.conflicts:
            assert conflict.message
            assert conflict.reason != Reason.NOT_FOUND or not force_greedy


# rules_broken: the check of a changed rota (a swap) --------------------------------------

DAY = Shift("day", 8, 16)
NIGHT = Shift("night", 0, 8)
EVENING = Shift("evening", 16, 24)


def _on(*days_and_shifts: tuple[int, Shift]) -> list:
    return [(START + timedelta(days=d), s) for d, s in days_and_shifts]


def test_rules_broken_is_empty_for_a_kind_week():
    shifts = _on((0, DAY), (1, DAY), (3, EVENING), (5, DAY))
    assert rules_broken(Rules(), first_day=START, days=7, shifts=shifts) == set()


@pytest.mark.parametrize(("shifts", "rule"), [
    (_on((0, NIGHT), (0, DAY)), Rule.SAME_DAY),
    (_on((0, EVENING), (1, DAY)), Rule.REST_HOURS),  # ends 24:00, next starts 8:00
    (_on(*[(d, DAY) for d in range(7)]), Rule.CONSECUTIVE),
    (_on(*[(d, DAY) for d in range(6)]), Rule.REST_DAYS),
])
def test_rules_broken_names_the_rule(shifts, rule):  # noqa: ANN001
    rules = Rules(max_consecutive_days=6, min_rest_days_per_week=2)
    assert rule in rules_broken(rules, first_day=START, days=7, shifts=shifts)


def test_rules_broken_counts_weekly_hours_per_block_and_ignores_days_outside():
    rules = Rules(max_weekly_hours=24, min_rest_days_per_week=0, min_rest_hours=0)
    four = _on((0, DAY), (1, DAY), (2, DAY), (3, DAY))
    assert rules_broken(rules, first_day=START, days=14, shifts=four) == {Rule.WEEKLY_HOURS}
    # Two shifts in each of two weeks keep the limit; a shift before the rota is not seen.
    split = _on((5, DAY), (6, DAY), (7, DAY), (8, DAY), (-1, DAY))
    assert rules_broken(rules, first_day=START, days=14, shifts=split) == set()
