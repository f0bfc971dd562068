"""`fangkong bench rota`: a 4-week A/B rota for a street of 20 communities and 300 staff.

Measures `fangkong.care.rota.rota_solve` (CP-SAT per community, hard rest rules, soft
preferences and fairness, the greedy rota as hint) on a synthetic street from
`fangkong.synth.rota.street`: 20 communities, 15 staff each in teams A and B, six
person-shifts a day per community (gate morning and evening, night watch, two on grid
patrol, the office with a skill), some leave and preferences.

Floor, in the same run: the greedy rota of the very same instance (`force_greedy=True`),
the simplest fast way to produce a rota that keeps the same hard rules; best of three.
The quality of both (shifts left short, call-ins of the team off duty, broken preferences,
hours spread within a team) is reported next to the times.

No database: the solver is pure Python. `--db` is accepted, so that CI can call every
benchmark with both databases, and is only reported.

Target (issue 7): a 4-week rota for 20 communities and 300 staff in under 10 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from bench.common import emit, say

BENCH = "rota"
TARGET_SECONDS = 10.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fangkong bench rota")
    parser.add_argument("--staff", "--size", dest="staff", type=int, default=300)
    parser.add_argument("--communities", type=int, default=20)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds for CP-SAT (default: the Rules default)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite",
                        help="reported only: the rota needs no database")
    parser.add_argument("--quick", action="store_true", help="a small size in seconds (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.communities, args.staff, args.days = 3, 45, 14
        args.time_limit = args.time_limit or 1.5

    from fangkong.care.rota import Rules, Team, rota_solve
    from fangkong.synth.rota import street

    rules = Rules() if args.time_limit is None else Rules(time_limit_s=args.time_limit)
    problem = street(communities=args.communities,
                     staff_per_community=max(1, args.staff // args.communities),
                     days=args.days, seed=1, rules=rules)
    size = len(problem.staff)
    say(f"[rota] {args.communities} communities, {size} staff, {args.days} days, "
        f"time limit {rules.time_limit_s:g} s ({args.db} reported, not used)")

    def spread(rota) -> int:  # noqa: ANN001
        worst = 0
        for community in {p.community for p in problem.staff}:
            for team in Team:
                hours = [rota.hours[p.id] for p in problem.staff
                         if p.community == community and p.team == team and not p.leave]
                if len(hours) > 1:
                    worst = max(worst, max(hours) - min(hours))
        return worst

    def quality(rota) -> dict:  # noqa: ANN001
        return {"uncovered": rota.uncovered, "call_ins": len(rota.call_ins),
                "preferences_broken": len(rota.preferences_broken),
                "max_team_hours_spread": spread(rota), "assignments": len(rota.assignments)}

    floors = []
    for _ in range(3):
        started = time.perf_counter()
        greedy = rota_solve(replace(problem), force_greedy=True)
        floors.append(time.perf_counter() - started)
    floor = min(floors)
    say(f"[rota] floor (greedy): {floor:.3f} s, {quality(greedy)}")

    started = time.perf_counter()
    rota = rota_solve(problem)
    seconds = time.perf_counter() - started
    say(f"[rota] {rota.method}: {seconds:.2f} s, {quality(rota)}")
    emit(bench=BENCH, metric="rota_seconds", value=seconds, unit="s", db=args.db, size=size,
         floor_value=floor, ratio=seconds / floor,
         target="4-week rota, 20 communities and 300 staff in < 10 s",
         # Only an instance at least the target's size can meet it (--quick is a smoke run).
         meets_target=(seconds < TARGET_SECONDS and size >= 300 and args.communities >= 20
                       and args.days >= 28), seconds=round(seconds, 3),
         floor_seconds=round(floor, 3), communities=args.communities, days=args.days,
         time_limit_s=rules.time_limit_s, method=rota.method, quality=quality(rota),
         floor_quality=quality(greedy))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
