"""Shared plumbing of the benchmarks: scratch databases, the child process, JSON lines."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(*, bench: str, metric: str, value: float, unit: str, db: str, size: int,
         floor_value: float | None = None, ratio: float | None = None,
         target: str | None = None, meets_target: bool | None = None, **extra) -> None:
    """One measurement as one JSON line on stdout (the contract of BENCH.md)."""
    row = {"bench": bench, "metric": metric, "value": round(value, 3), "unit": unit,
           "db": db, "size": size}
    if floor_value is not None:
        row["floor_value"] = round(floor_value, 3)
    if ratio is not None:
        row["ratio"] = round(ratio, 3)
    if target is not None:
        row["target"] = target
        row["meets_target"] = bool(meets_target)
    row.update(extra)
    print(json.dumps(row, ensure_ascii=False), flush=True)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@contextmanager
def scratch_environment(db: str) -> Iterator[dict[str, str]]:
    """Environment for a child process on a scratch database that is dropped afterwards:
    a temporary SQLite file, or a new PostgreSQL database on DATABASE_URL's server."""
    var = Path(tempfile.mkdtemp(prefix="fangkong-bench-"))
    env = {**os.environ, "FANGKONG_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE":
           "fangkong.settings",
           # A fresh key for a scratch database: the user's key is never needed here.
           "FANGKONG_DATA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
           # A benchmark's channels are the simulated carrier, on either database.
           "FANGKONG_SIMULATE_CHANNELS": "1"}
    env.pop("FANGKONG_DATA_KEY_FILE", None)
    dropdb = None
    if db == "postgresql":
        import psycopg

        url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fangkong")
        if not url.startswith("postgres"):
            url = "postgresql://postgres@127.0.0.1:5432/fangkong"
        base = url.rsplit("/", 1)[0]
        name = f"fangkong_bench_{os.getpid()}"
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = f"{base}/{name}"

        def dropdb() -> None:
            with psycopg.connect(base + "/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        env.pop("DATABASE_URL", None)
    try:
        yield env
    finally:
        if dropdb:
            dropdb()
        shutil.rmtree(var, ignore_errors=True)


def run_child(module: str, args: list[str], env: dict[str, str]) -> int:
    return subprocess.call([sys.executable, "-m", module, *args], env=env)  # noqa: S603
