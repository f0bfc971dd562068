"""The `fangkong` command: fangkong's own commands and every Django command.

    fangkong demo                 migrate, load the demo city once, serve on 127.0.0.1:8000
    fangkong serve [--port 8000]  the web app (uvicorn, ASGI) with an embedded worker
    fangkong worker               a background worker (run as many as you like)
    fangkong createstaff NAME --role ROLE --area CODE
    fangkong loadcity --residents N
    fangkong bench NAME [--size N] [--db sqlite|postgresql] [--quick]
    fangkong migrate | shell | dbshell | check | ...   (Django's commands)
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fangkong.settings")
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        argv = ["help"] if not argv else argv
        if argv[0] != "help":
            return
    if argv[0] == "bench":
        # Benchmarks run their work in a child process on a scratch database; the parent
        # needs no settings (and no data key) of its own.
        from bench.run import main as bench_main

        sys.exit(bench_main(argv[1:]))
    from django.core.management import execute_from_command_line

    execute_from_command_line(["fangkong", *argv])


if __name__ == "__main__":
    main()
