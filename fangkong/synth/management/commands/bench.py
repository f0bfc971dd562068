from __future__ import annotations

import importlib
import pkgutil

from django.core.management.base import BaseCommand, CommandError

import bench


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                  if m.name not in {"common"} and not m.name.startswith("_"))


class Command(BaseCommand):
    help = ("Run a benchmark from bench/ (JSON lines on stdout, progress on stderr): "
            "fangkong bench NAME [--size N] [--db sqlite|postgresql] [--quick]")

    def run_from_argv(self, argv: list[str]) -> None:
        # Everything after NAME belongs to the benchmark's own parser.
        rest = argv[2:]
        if not rest or rest[0] in {"-h", "--help"}:
            self.stdout.write(self.help + "\nbenchmarks: " + ", ".join(available()))
            return
        name = rest[0]
        if name not in available():
            raise CommandError(f"no benchmark {name!r}; there are: {', '.join(available())}")
        module = importlib.import_module(f"bench.{name}")
        code = module.main(rest[1:])
        if code:
            raise SystemExit(code)
