"""`fangkong bench NAME [options]`: run one benchmark of this folder."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench

# Benchmarks whose name is not a usable module name: `import` is a Python keyword, so the
# roster import benchmark lives in bench/rosters_import.py.
ALIASES = {"import": "rosters_import"}
USAGE = ("fangkong bench NAME [--size N] [--db sqlite|postgresql] [--quick]\n"
         "JSON lines on stdout, progress on stderr (docs/benchmarks.md)")


def available() -> list[str]:
    hidden = {"common", "run", *ALIASES.values()}
    return sorted([m.name for m in pkgutil.iter_modules(bench.__path__)
                   if m.name not in hidden and not m.name.startswith("_")] + list(ALIASES))


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE + "\nbenchmarks: " + ", ".join(available()))
        return 0
    name = argv[0]
    if name not in available():
        print(f"no benchmark {name!r}; there are: {', '.join(available())}", file=sys.stderr)
        return 2
    module = ALIASES.get(name, name)
    return importlib.import_module(f"bench.{module}").main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
