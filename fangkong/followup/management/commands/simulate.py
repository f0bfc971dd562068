from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from fangkong.followup.simulate import demo_followup, simulate_days


class Command(BaseCommand):
    help = ("Run the follow-up campaigns over simulated days on a movable clock, ending now, "
            "so that round tables, alerts and visit lists fill up in seconds.")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--days", type=int, default=1)
        parser.add_argument("--demo", action="store_true",
                            help="first create the demo campaigns in the demo community")
        parser.add_argument("--seed", type=int, default=2020,
                            help="seed of the simulated grid workers' choices (the "
                                 "simulated residents follow FANGKONG_SIM_SEED)")

    def handle(self, *args, days: int, demo: bool, seed: int, **options) -> None:  # noqa: ANN002, ANN003
        if not 1 <= days <= 30:
            raise CommandError("--days must be between 1 and 30")

        def progress(done: int, total: int) -> None:
            pct = done * 100 // max(total, 1)
            sys.stderr.write(f"\r  [{'#' * (pct // 4):<25}] {pct:3d}%")
            sys.stderr.flush()

        try:
            report = (demo_followup(days=days, progress=progress) if demo
                      else simulate_days(days=days, seed=seed, progress=progress))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        sys.stderr.write("\n")
        self.stdout.write(
            f"simulated {report.days} day(s): {report.rounds} rounds, {report.contacts:,} "
            f"contacts, {report.answered:,} answered, {report.alerts:,} alerts "
            f"({report.resolved:,} resolved)")
