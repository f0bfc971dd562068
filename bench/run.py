"""`fangkong bench NAME [options]`: run one benchmark of this folder."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench

USAGE = ("fangkong bench NAME [--size N] [--db sqlite|postgresql] [--quick]\n"
         "JSON lines on stdout, progress on stderr (docs/benchmarks.md)")


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                  if m.name not in {"common", "run"} and not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE + "\nbenchmarks: " + ", ".join(available()))
        return 0
    name = argv[0]
    if name not in available():
        print(f"no benchmark {name!r}; there are: {', '.join(available())}", file=sys.stderr)
        return 2
    return importlib.import_module(f"bench.{name}").main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
