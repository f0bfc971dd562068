from __future__ import annotations

from django.core.management.base import BaseCommand

from fangkong.synth.city import CitySpec
from fangkong.synth.load import load_city


class Command(BaseCommand):
    help = "Generate and load a synthetic city (made-up people) into the database."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--residents", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=2020)
        parser.add_argument("--streets", type=int)
        parser.add_argument("--communities", type=int)

    def handle(self, *args, **options) -> None:
        spec = CitySpec(residents=options["residents"], seed=options["seed"],
                        streets=options["streets"], communities=options["communities"])
        report = load_city(spec)
        self.stdout.write(f"loaded {report.residents} residents, {report.households} "
                          f"households, {report.buildings} buildings, {report.grids} grids "
                          f"in {report.seconds:.1f} s")
