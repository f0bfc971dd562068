"""The A/B shift rota (AB岗, 轮休): who covers which post's shift on which day, weeks ahead.

Pure Python, no models: dataclasses in (`RotaProblem`), a `Rota` out. `rota_solve` is the
one entry point; it has no side effects and never raises on an infeasible problem. Words
for people (`Conflict.message`, `Rota.notes`) go through gettext when read, so solving
needs no Django settings.

The model
- A community's posts (gate, grid patrol, office, night watch...) each have daily shifts
  (start and end hour, how many people, an optional skill). Staff cover posts of their
  own community only.
- Hard rules, never broken by either solver: leave days, skills, at most one shift a day,
  at least `min_rest_hours` between the end of one shift and the start of the next (no
  night watch followed by a morning gate), at most `max_consecutive_days` working days in
  a row, at most `max_weekly_hours` and at least `min_rest_days_per_week` rest days in
  every week. Weeks are 7-day blocks from the rota's first day; a trailing partial block
  of L days needs floor(R * L / 7) rest days. Days before the rota are not known, so a
  run of working days starts at the rota's first day.
- A/B alternation: teams take turns by a pattern. On day d the team on duty is
  `ab_pattern[(d // ab_block_days) % len(ab_pattern)]` ("AB" with blocks of 1 day:
  alternate days; blocks of 3 or 4 days: half-weeks). With `ab_mode="prefer"` (default)
  the team off duty is called in only when the team on duty cannot cover a shift, at a
  cost between a missed shift and a broken preference, and every call-in is listed in
  `Rota.call_ins` so the secretary sees it. `"strict"` forbids call-ins, `"off"` ignores
  teams.
- Coverage is soft with a big penalty (a relaxation): the solver always returns a rota,
  fills as many shifts as the hard rules allow, and every shift left short becomes a
  `Conflict` saying why: nobody has the skill, too few staff (leave, team), or which rule
  holds the other qualified staff back on that day.
- Soft objectives, cheaper than coverage and call-ins: days and shifts a worker would
  rather not work; hours spread evenly within a team; night shifts spread evenly.

Solvers: OR-Tools CP-SAT, one model per community (communities share nobody), each with
its share of `time_limit_s` and the greedy rota as a hint; the greedy rota alone when
OR-Tools is missing, when asked (`force_greedy`), or when CP-SAT finds no solution in time.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from django.utils.translation import gettext as _

# Objective weights: one missed person-shift outweighs everything else; a call-in of the
# team off duty outweighs any preference; a preference outweighs a few hours of spread.
WEIGHT_UNCOVERED = 10_000
WEIGHT_CALL_IN = 200
WEIGHT_PREFERENCE = 20
WEIGHT_NIGHT_SPREAD = 8
WEIGHT_HOURS_SPREAD = 1
MIN_SOLVE_S = 0.2
NIGHT_HOURS = frozenset({22, 23, 0, 1, 2, 3, 4, 5})


class Team(StrEnum):
    A = "A"
    B = "B"


class StaffKind(StrEnum):
    CADRE = "cadre"  # sent-down cadre (下沉干部)
    WORKER = "worker"  # community worker (社区工作者)


@dataclass(frozen=True)
class Shift:
    """A daily shift of a post: hours [start, end) of the day; end <= start runs past
    midnight into the next day."""

    name: str
    start: int
    end: int
    people: int = 1
    skill: str | None = None

    @property
    def hours(self) -> int:
        return (self.end - self.start) % 24 or 24

    @property
    def night(self) -> bool:
        return any((self.start + h) % 24 in NIGHT_HOURS for h in range(self.hours))

    def span(self, day: int) -> tuple[int, int]:
        """Start and end, in hours from the rota's first midnight, when worked on `day`."""
        begin = day * 24 + self.start
        return begin, begin + self.hours


@dataclass(frozen=True)
class Post:
    id: str
    community: str
    name: str
    shifts: tuple[Shift, ...]


@dataclass(frozen=True)
class Staff:
    id: str
    name: str
    community: str
    team: Team
    kind: StaffKind = StaffKind.WORKER
    skills: frozenset[str] = frozenset()
    leave: frozenset[date] = frozenset()
    # Soft: days, and shift names ("night"), this person would rather not work.
    avoid_days: frozenset[date] = frozenset()
    avoid_shifts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rules:
    max_consecutive_days: int = 6
    max_weekly_hours: int = 48
    min_rest_days_per_week: int = 1
    min_rest_hours: int = 11
    ab_mode: str = "prefer"  # "prefer" | "strict" | "off"
    ab_pattern: str = "AB"
    ab_block_days: int = 1
    time_limit_s: float = 8.0
    workers: int = 2

    def __post_init__(self) -> None:
        if self.ab_mode not in {"prefer", "strict", "off"}:
            raise ValueError(f"ab_mode must be prefer, strict or off, not {self.ab_mode!r}")
        if not self.ab_pattern or set(self.ab_pattern) - {"A", "B"} or self.ab_block_days < 1:
            raise ValueError("ab_pattern is a string of A and B, ab_block_days at least 1")

    def team_on_duty(self, day: int) -> Team:
        return Team(self.ab_pattern[(day // self.ab_block_days) % len(self.ab_pattern)])


@dataclass(frozen=True)
class RotaProblem:
    start: date
    days: int
    posts: tuple[Post, ...]
    staff: tuple[Staff, ...]
    rules: Rules = Rules()


@dataclass(frozen=True)
class Slot:
    """One post's shift on one day (day = index from the rota's first day)."""

    post: Post
    shift: Shift
    day: int


@dataclass(frozen=True)
class Assignment:
    staff_id: str
    post_id: str
    shift: str
    day: date
    hours: int
    call_in: bool = False  # worked by the team off duty


class Reason(StrEnum):
    NO_SKILL = "no_skill"
    SHORTAGE = "shortage"
    RULES = "rules"
    NOT_FOUND = "not_found"  # someone was free but the search ran out of time


class Rule(StrEnum):
    SAME_DAY = "same_day"
    REST_HOURS = "rest_hours"
    WEEKLY_HOURS = "weekly_hours"
    CONSECUTIVE = "consecutive"
    REST_DAYS = "rest_days"


@dataclass(frozen=True)
class Conflict:
    """A shift left short, and why, for the secretary (`message`, translated on access)."""

    post: Post
    shift: Shift
    day: date
    needed: int
    assigned: int
    reason: Reason
    community_size: int = 0
    skilled: int = 0
    on_leave: int = 0
    off_team: int = 0
    blocked_by: tuple[tuple[Rule, int], ...] = ()
    rules: Rules = Rules()

    @property
    def missing(self) -> int:
        return self.needed - self.assigned

    @property
    def message(self) -> str:
        head = _("%(post)s, %(shift)s shift (%(start)02d:00–%(end)02d:00) on %(day)s: "
                 "needs %(needed)d, %(assigned)d assigned.") % {
            "post": self.post.name, "shift": self.shift.name, "start": self.shift.start,
            "end": self.shift.end, "day": self.day.isoformat(), "needed": self.needed,
            "assigned": self.assigned}
        if self.reason == Reason.NO_SKILL:
            why = _("Nobody in community %(community)s has the skill “%(skill)s”.") % {
                "community": self.post.community, "skill": self.shift.skill}
        elif self.reason == Reason.SHORTAGE:
            why = _("Too few staff: %(size)d in the community, %(skilled)d qualified, "
                    "%(on_leave)d of them on leave, %(off_team)d in the team off duty.") % {
                "size": self.community_size, "skilled": self.skilled,
                "on_leave": self.on_leave, "off_team": self.off_team}
        elif self.reason == Reason.RULES:
            why = _("Everyone else who could take it is held back by the rules: %(rules)s.") % {
                "rules": "; ".join(f"{self._rule_words(rule)}: {count}"
                                   for rule, count in self.blocked_by)}
        else:
            why = _("The solver ran out of time before filling it; run it again with a "
                    "longer time limit.")
        return f"{head} {why}"

    def _rule_words(self, rule: Rule) -> str:
        return rule_words(rule, self.rules)


def rule_words(rule: Rule, r: Rules) -> str:
    """What a broken rule means, for the secretary and the worker (translated)."""
    words = {
        Rule.SAME_DAY: _("already on another shift that day"),
        Rule.REST_HOURS: _("less than %(hours)d hours of rest from an adjacent shift")
        % {"hours": r.min_rest_hours},
        Rule.WEEKLY_HOURS: _("would work more than %(hours)d hours that week")
        % {"hours": r.max_weekly_hours},
        Rule.CONSECUTIVE: _("would work more than %(days)d days in a row")
        % {"days": r.max_consecutive_days},
        Rule.REST_DAYS: _("would lose their %(days)d rest day(s) that week")
        % {"days": r.min_rest_days_per_week},
    }
    return words[rule]


def rules_broken(rules: Rules, *, first_day: date, days: int,
                 shifts: list[tuple[date, Shift]]) -> set[Rule]:
    """The hard rules one person's shifts break within a rota of `days` days from
    `first_day` (weeks are 7-day blocks from it, as the solvers count them). Used to check
    a change to a made rota (a swap) with the solvers' own rules. Shifts outside the rota's
    days are ignored."""
    broken: set[Rule] = set()
    spans: list[tuple[int, int]] = []
    by_day: dict[int, int] = defaultdict(int)
    weeks = math.ceil(days / 7)
    week_hours = [0] * weeks
    week_days: list[set[int]] = [set() for _ in range(weeks)]
    for day, shift in shifts:
        d = (day - first_day).days
        if not 0 <= d < days:
            continue
        by_day[d] += 1
        spans.append(shift.span(d))
        week_hours[d // 7] += shift.hours
        week_days[d // 7].add(d)
    if any(n > 1 for n in by_day.values()):
        broken.add(Rule.SAME_DAY)
    spans.sort()
    if any(b[0] - a[1] < rules.min_rest_hours for a, b in zip(spans, spans[1:], strict=False)):
        broken.add(Rule.REST_HOURS)
    if any(h > rules.max_weekly_hours for h in week_hours):
        broken.add(Rule.WEEKLY_HOURS)
    run = longest = 0
    for d in range(days):
        run = run + 1 if d in by_day else 0
        longest = max(longest, run)
    if longest > rules.max_consecutive_days:
        broken.add(Rule.CONSECUTIVE)
    for w in range(weeks):
        length = min(7, days - 7 * w)
        needed = (rules.min_rest_days_per_week if length == 7
                  else rules.min_rest_days_per_week * length // 7)
        if len(week_days[w]) > length - needed:
            broken.add(Rule.REST_DAYS)
    return broken


@dataclass
class Rota:
    start: date
    days: int
    assignments: list[Assignment]
    hours: dict[str, int]  # staff id -> hours over the whole rota
    weekly_hours: dict[str, list[int]]
    rest_days: dict[str, int]
    conflicts: list[Conflict]
    call_ins: list[Assignment]
    preferences_broken: list[Assignment]
    method: str  # "cp-sat", "greedy" or "cp-sat+greedy" (some communities fell back)
    seconds: float
    ortools_missing: bool = False
    greedy_communities: list[str] = field(default_factory=list)  # CP-SAT found none in time

    @property
    def notes(self) -> list[str]:
        """How the rota was made, when it was not by CP-SAT, for the secretary."""
        notes = []
        if self.ortools_missing:
            notes.append(_("OR-Tools is not installed: the rota was made by the greedy method."))
        notes.extend(_("Community %(community)s: no rota found in time; the greedy rota is "
                       "used.") % {"community": name} for name in self.greedy_communities)
        return notes

    @property
    def uncovered(self) -> int:
        return sum(c.missing for c in self.conflicts)

    def shifts_of(self, staff_id: str) -> list[Assignment]:
        return [a for a in self.assignments if a.staff_id == staff_id]


# --- the instance, precomputed ------------------------------------------------------------


class _Community:
    """One community's slots, staff, eligibility and rule windows, shared by both solvers."""

    def __init__(self, problem: RotaProblem, posts: list[Post], staff: list[Staff]) -> None:
        self.problem = problem
        self.rules = rules = problem.rules
        self.staff = staff
        self.dates = [problem.start + timedelta(days=d) for d in range(problem.days)]
        self.slots = [Slot(p, s, d) for d in range(problem.days) for p in posts
                      for s in p.shifts]
        self.weeks = [list(range(w, min(w + 7, problem.days)))
                      for w in range(0, problem.days, 7)]
        self.week_of = {d: i for i, week in enumerate(self.weeks) for d in week}
        self.rest_needed = [rules.min_rest_days_per_week if len(week) == 7
                            else rules.min_rest_days_per_week * len(week) // 7
                            for week in self.weeks]
        shifts = {s for p in posts for s in p.shifts}
        # Shift pairs (a on day d, b on day d + 1) too close together.
        self.too_close = {(a, b) for a in shifts for b in shifts
                          if b.span(1)[0] - a.span(0)[1] < rules.min_rest_hours}

    def on_duty(self, person: Staff, day: int) -> bool:
        return self.rules.ab_mode == "off" or self.rules.team_on_duty(day) == person.team

    def eligible(self, person: Staff, slot: Slot) -> bool:
        if slot.shift.skill and slot.shift.skill not in person.skills:
            return False
        if self.dates[slot.day] in person.leave:
            return False
        return self.rules.ab_mode != "strict" or self.on_duty(person, slot.day)

    def dislikes(self, person: Staff, slot: Slot) -> bool:
        return self.dates[slot.day] in person.avoid_days or slot.shift.name in person.avoid_shifts


# --- greedy -------------------------------------------------------------------------------


class _Ledger:
    """Who works what, with the checks of every hard rule for one more shift."""

    def __init__(self, c: _Community) -> None:
        self.c = c
        self.worked: dict[str, dict[int, Slot]] = defaultdict(dict)
        self.week_hours: dict[str, list[int]] = defaultdict(lambda: [0] * len(c.weeks))
        self.week_days: dict[str, list[int]] = defaultdict(lambda: [0] * len(c.weeks))
        self.nights: dict[str, int] = defaultdict(int)

    def blocked(self, person: Staff, slot: Slot) -> Rule | None:
        c, rules, days = self.c, self.c.rules, self.worked[person.id]
        if slot.day in days:
            return Rule.SAME_DAY
        before, after = days.get(slot.day - 1), days.get(slot.day + 1)
        if (before and (before.shift, slot.shift) in c.too_close) or (
                after and (slot.shift, after.shift) in c.too_close):
            return Rule.REST_HOURS
        week = c.week_of[slot.day]
        if self.week_hours[person.id][week] + slot.shift.hours > rules.max_weekly_hours:
            return Rule.WEEKLY_HOURS
        run_before = next(i for i in range(slot.day + 1) if slot.day - 1 - i not in days)
        run_after = next(i for i in range(c.problem.days + 1) if slot.day + 1 + i not in days)
        if run_before + 1 + run_after > rules.max_consecutive_days:
            return Rule.CONSECUTIVE
        if self.week_days[person.id][week] + 1 > len(c.weeks[week]) - c.rest_needed[week]:
            return Rule.REST_DAYS
        return None

    def add(self, person: Staff, slot: Slot) -> None:
        self.worked[person.id][slot.day] = slot
        week = self.c.week_of[slot.day]
        self.week_hours[person.id][week] += slot.shift.hours
        self.week_days[person.id][week] += 1
        self.nights[person.id] += slot.shift.night


def _greedy(c: _Community) -> dict[Slot, list[Staff]]:
    """Day by day, scarce slots first; each slot takes the free person the team on duty
    and their preferences favour, then the fewest hours so far (then fewest nights)."""
    ledger = _Ledger(c)
    filled: dict[Slot, list[Staff]] = defaultdict(list)
    by_day: dict[int, list[Slot]] = defaultdict(list)
    for slot in c.slots:
        by_day[slot.day].append(slot)
    for day in sorted(by_day):
        candidates = {slot: [p for p in c.staff if c.eligible(p, slot)] for slot in by_day[day]}
        order = sorted(by_day[day], key=lambda s: (len(candidates[s]) - s.shift.people,
                                                   s.shift.skill is None))
        for slot in order:
            ranked = sorted(candidates[slot], key=lambda p: (
                not c.on_duty(p, day), c.dislikes(p, slot),
                sum(ledger.week_hours[p.id]), ledger.nights[p.id] if slot.shift.night else 0,
                p.id))
            for person in ranked:
                if len(filled[slot]) >= slot.shift.people:
                    break
                if ledger.blocked(person, slot) is None:
                    ledger.add(person, slot)
                    filled[slot].append(person)
    return filled


# --- CP-SAT -------------------------------------------------------------------------------


def _cp_sat(c: _Community, deadline: float, hint: dict[Slot, list[Staff]]
            ) -> dict[Slot, list[Staff]] | None:
    """The optimal (or best found by `deadline`, a perf_counter time) rota of one
    community, starting from `hint`; None when CP-SAT found no solution in time."""
    from ortools.sat.python import cp_model

    rules, model = c.rules, cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}  # (person index, slot index)
    hinted = {(slot, p.id) for slot, people in hint.items() for p in people}
    per_person_day: dict[tuple[int, int], list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
    objective = []
    for j, slot in enumerate(c.slots):
        takers = []
        for i, person in enumerate(c.staff):
            if not c.eligible(person, slot):
                continue
            var = x[i, j] = model.new_bool_var(f"x{i}_{j}")
            model.add_hint(var, (slot, person.id) in hinted)
            takers.append(var)
            per_person_day[i, slot.day].append((j, var))
            if not c.on_duty(person, slot.day):
                objective.append(WEIGHT_CALL_IN * var)
            if c.dislikes(person, slot):
                objective.append(WEIGHT_PREFERENCE * var)
        short = model.new_int_var(0, slot.shift.people, f"short{j}")
        model.add(sum(takers) + short == slot.shift.people)
        model.add_hint(short, slot.shift.people - len(hint.get(slot, [])))
        objective.append(WEIGHT_UNCOVERED * short)

    works: dict[tuple[int, int], cp_model.LinearExprT] = {}
    for i, _person in enumerate(c.staff):
        for d in range(c.problem.days):
            day_vars = per_person_day.get((i, d), [])
            model.add_at_most_one(v for _j, v in day_vars)
            works[i, d] = sum(v for _j, v in day_vars)
            for j, v in day_vars:
                for k, w in per_person_day.get((i, d + 1), []):
                    if (c.slots[j].shift, c.slots[k].shift) in c.too_close:
                        model.add_bool_or([v.Not(), w.Not()])
        window = rules.max_consecutive_days + 1
        for d in range(c.problem.days - window + 1):
            model.add(sum(works[i, e] for e in range(d, d + window)) <= rules.max_consecutive_days)
        for w, week in enumerate(c.weeks):
            model.add(sum(v * c.slots[j].shift.hours for d in week
                          for j, v in per_person_day.get((i, d), [])) <= rules.max_weekly_hours)
            model.add(sum(works[i, d] for d in week) <= len(week) - c.rest_needed[w])

    # Fairness within each team, among those with no leave (leave makes hours unequal).
    horizon = 24 * c.problem.days
    for team in Team:
        members = [i for i, p in enumerate(c.staff) if p.team == team and not p.leave]
        if len(members) < 2:
            continue
        for weight, size, measure in (
                (WEIGHT_HOURS_SPREAD, horizon, lambda j: c.slots[j].shift.hours),
                (WEIGHT_NIGHT_SPREAD, c.problem.days, lambda j: int(c.slots[j].shift.night))):
            high, low = model.new_int_var(0, size, ""), model.new_int_var(0, size, "")
            hinted_totals = []
            for i in members:
                terms = [(v, j) for d in range(c.problem.days)
                         for j, v in per_person_day.get((i, d), [])]
                total = sum(v * measure(j) for v, j in terms)
                hinted_totals.append(sum(measure(j) for _v, j in terms
                                         if (c.slots[j], c.staff[i].id) in hinted))
                model.add(high >= total)
                model.add(low <= total)
            # A complete hint: CP-SAT starts from the greedy rota, never below it.
            model.add_hint(high, max(hinted_totals))
            model.add_hint(low, min(hinted_totals))
            objective.append(weight * (high - low))
    model.minimize(sum(objective))

    solver = cp_model.CpSolver()
    # A floor of time to load the hint, even when building the model used up the share.
    solver.parameters.max_time_in_seconds = max(deadline - time.perf_counter(), MIN_SOLVE_S)
    solver.parameters.num_workers = max(1, rules.workers)
    solver.parameters.random_seed = 1
    solver.parameters.keep_all_feasible_solutions_in_presolve = True
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    filled: dict[Slot, list[Staff]] = defaultdict(list)
    for (i, j), var in x.items():
        if solver.boolean_value(var):
            filled[c.slots[j]].append(c.staff[i])
    return filled


def _cost(c: _Community, filled: dict[Slot, list[Staff]]) -> int:
    """The CP-SAT objective of a rota, computed in Python to compare with the greedy's."""
    cost = 0
    hours: dict[str, int] = defaultdict(int)
    nights: dict[str, int] = defaultdict(int)
    for slot in c.slots:
        people = filled.get(slot, [])
        cost += WEIGHT_UNCOVERED * (slot.shift.people - len(people))
        for person in people:
            cost += WEIGHT_CALL_IN * (not c.on_duty(person, slot.day))
            cost += WEIGHT_PREFERENCE * c.dislikes(person, slot)
            hours[person.id] += slot.shift.hours
            nights[person.id] += slot.shift.night
    for team in Team:
        members = [p.id for p in c.staff if p.team == team and not p.leave]
        if len(members) >= 2:
            for weight, totals in ((WEIGHT_HOURS_SPREAD, hours), (WEIGHT_NIGHT_SPREAD, nights)):
                values = [totals[m] for m in members]
                cost += weight * (max(values) - min(values))
    return cost


# --- the rota and its explanations ---------------------------------------------------------


def _explain(c: _Community, slot: Slot, people: list[Staff], ledger: _Ledger) -> Conflict:
    """Why `slot` is short: its shortage of people, else the rule that holds back each
    qualified person given the rest of the rota (the binding rule of that day)."""
    skilled = [p for p in c.staff if not slot.shift.skill or slot.shift.skill in p.skills]
    on_leave = [p for p in skilled if c.dates[slot.day] in p.leave]
    off_team = [p for p in skilled if p not in on_leave and c.rules.ab_mode == "strict"
                and not c.on_duty(p, slot.day)]
    free = len(skilled) - len(on_leave) - len(off_team)
    counts = {"community_size": len(c.staff), "skilled": len(skilled),
              "on_leave": len(on_leave), "off_team": len(off_team)}
    base = {"post": slot.post, "shift": slot.shift, "day": c.dates[slot.day],
            "needed": slot.shift.people, "assigned": len(people), "rules": c.rules, **counts}
    if slot.shift.skill and not skilled:
        return Conflict(reason=Reason.NO_SKILL, **base)
    if free < slot.shift.people:
        return Conflict(reason=Reason.SHORTAGE, **base)
    blocked: dict[Rule, int] = defaultdict(int)
    for person in c.staff:
        if person in people or not c.eligible(person, slot):
            continue
        rule = ledger.blocked(person, slot)
        if rule is None:
            return Conflict(reason=Reason.NOT_FOUND, **base)
        blocked[rule] += 1
    return Conflict(reason=Reason.RULES, blocked_by=tuple(sorted(
        blocked.items(), key=lambda kv: (-kv[1], kv[0]))), **base)


def rota_solve(problem: RotaProblem, *, force_greedy: bool = False) -> Rota:
    """A rota for `problem`: CP-SAT per community (greedy as fallback), every hard rule
    kept, every shift left short explained in `Rota.conflicts`. Never raises on an
    infeasible problem; pure (no I/O, no database)."""
    started = time.perf_counter()
    rules = problem.rules
    use_cp_sat, ortools_missing, greedy_communities = not force_greedy, False, []
    if use_cp_sat:
        try:
            import ortools.sat.python.cp_model  # noqa: F401
        except ImportError:
            use_cp_sat, ortools_missing = False, True
    posts_of: dict[str, list[Post]] = defaultdict(list)
    staff_of: dict[str, list[Staff]] = defaultdict(list)
    for post in problem.posts:
        posts_of[post.community].append(post)
    for person in problem.staff:
        staff_of[person.community].append(person)

    methods: set[str] = set()
    assignments: list[Assignment] = []
    conflicts: list[Conflict] = []
    communities = sorted(posts_of)
    for n, name in enumerate(communities):
        c = _Community(problem, posts_of[name], staff_of.get(name, []))
        filled = _greedy(c)
        method = "greedy"
        if use_cp_sat:
            # Each community must be done by its share of the time limit, building included.
            deadline = started + rules.time_limit_s * (n + 1) / len(communities)
            solved = _cp_sat(c, deadline, filled)
            if solved is None:
                greedy_communities.append(name)
            elif _cost(c, solved) <= _cost(c, filled):
                filled, method = solved, "cp-sat"
        methods.add(method)
        ledger = _Ledger(c)
        for slot in c.slots:
            for person in filled.get(slot, []):
                ledger.add(person, slot)
                assignments.append(Assignment(
                    staff_id=person.id, post_id=slot.post.id, shift=slot.shift.name,
                    day=c.dates[slot.day], hours=slot.shift.hours,
                    call_in=not c.on_duty(person, slot.day)))
        for slot in c.slots:
            people = filled.get(slot, [])
            if len(people) < slot.shift.people:
                conflicts.append(_explain(c, slot, people, ledger))

    hours = {p.id: 0 for p in problem.staff}
    weekly = {p.id: [0] * math.ceil(problem.days / 7) for p in problem.staff}
    worked_days: dict[str, set[date]] = defaultdict(set)
    for a in assignments:
        hours[a.staff_id] += a.hours
        weekly[a.staff_id][(a.day - problem.start).days // 7] += a.hours
        worked_days[a.staff_id].add(a.day)
    staff = {p.id: p for p in problem.staff}
    return Rota(
        start=problem.start, days=problem.days, assignments=assignments, hours=hours,
        weekly_hours=weekly,
        rest_days={p.id: problem.days - len(worked_days[p.id]) for p in problem.staff},
        conflicts=conflicts, call_ins=[a for a in assignments if a.call_in],
        preferences_broken=[a for a in assignments if a.day in staff[a.staff_id].avoid_days
                            or a.shift in staff[a.staff_id].avoid_shifts],
        method="+".join(sorted(methods)) if methods else "greedy",
        seconds=time.perf_counter() - started, ortools_missing=ortools_missing,
        greedy_communities=greedy_communities)
