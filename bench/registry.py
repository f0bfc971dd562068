"""`fangkong bench registry`: build an N-resident city and time it, then time the pages.

Measures, on a scratch database created and dropped by the run:
- generation + load rate of the synthetic city (residents/s), against the floor of a bare
  bulk insert of the very same resident rows (executemany on SQLite, COPY on PostgreSQL)
  into an unindexed copy of the table, in the same run;
- p50/p95/p99 of the home page, the resident list and five searches (name, last 4 phone
  digits, pinyin initials, pinyin, room) for a grid worker and for a district administrator, over HTTP
  against `fangkong serve` (uvicorn), against the floor of `/healthz` on the same server.

Targets (issue 2): 1 million residents generated and loaded in under 60 s; every page's
p95 under 300 ms at 1 million residents.
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import socket
import subprocess
import sys
import time
import urllib.parse

from bench.common import emit, percentile, run_child, say, scratch_environment

BENCH = "registry"
LOAD_TARGET_PER_S = 1_000_000 / 60
PAGE_TARGET_MS = 300.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fangkong bench registry")
    parser.add_argument("--size", type=int, default=100_000, help="residents")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a small size in seconds (CI)")
    parser.add_argument("--samples", type=int, default=None, help="requests per page")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size = min(args.size, 5_000)
    if args.samples is None:
        args.samples = 12 if args.quick else 60
    if args.child:
        return child(args)
    with scratch_environment(args.db) as env:
        forwarded = ["--size", str(args.size), "--db", args.db, "--samples", str(args.samples),
                     "--child"]
        return run_child("bench.registry", forwarded, env)


def child(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    db = args.db
    size = args.size

    from fangkong.synth.city import CitySpec
    from fangkong.synth.load import load_city

    say(f"[registry] generating and loading {size:,} residents ({db}) ...")
    report = load_city(CitySpec(residents=size, seed=1))
    load_rate = report.residents / report.seconds
    say(f"[registry] loaded {report.residents:,} residents in {report.seconds:.1f} s")

    floor_seconds = bulk_insert_floor()
    floor_rate = report.residents / floor_seconds
    emit(bench=BENCH, metric="load_residents_per_s", value=load_rate, unit="1/s", db=db,
         size=report.residents, floor_value=floor_rate, ratio=floor_rate / load_rate,
         target="1M residents generated and loaded in < 60 s (>= 16,667/s)",
         meets_target=load_rate >= LOAD_TARGET_PER_S, seconds=round(report.seconds, 2),
         floor_seconds=round(floor_seconds, 2), phases=report.phases)

    users = make_users()
    pages(args, db, report.residents, users)
    return 0


def bulk_insert_floor() -> float:
    """Seconds to bulk-insert the same resident rows, prepared, into an unindexed table."""
    from django.db import connection, transaction

    from fangkong.lib.bulk import bulk_insert
    from fangkong.residents.models import Resident
    from fangkong.synth.load import RESIDENT_COLS

    table = Resident._meta.db_table
    cols = ", ".join(RESIDENT_COLS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {cols} FROM {table}")  # noqa: S608
        rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in cursor.fetchall()]
        cursor.execute(f"CREATE TABLE bench_floor AS SELECT {cols} FROM {table} WHERE 1 = 0")  # noqa: S608
    started = time.perf_counter()
    with transaction.atomic():
        bulk_insert("bench_floor", RESIDENT_COLS, rows)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_floor")
    return seconds


PASSWORD = "bench-password-not-secret"


def make_users() -> dict[str, str]:
    from fangkong.accounts.models import Role
    from fangkong.accounts.services import staff_create
    from fangkong.places.models import Area, AreaKind

    grid = Area.objects.filter(kind=AreaKind.GRID).order_by("path").first()
    district = Area.objects.filter(kind=AreaKind.DISTRICT).order_by("path").first()
    staff_create(username="bench_grid", password=PASSWORD, role=Role.GRID_WORKER, area=grid,
                 check_password=False)
    staff_create(username="bench_district", password=PASSWORD, role=Role.ADMIN, area=district,
                 check_password=False)
    return {"grid_worker": "bench_grid", "district_admin": "bench_district"}


class Browser:
    """A keep-alive HTTP client with a cookie jar of one session."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                   "Accept-Language": "zh-hans"}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = "http://127.0.0.1/"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, text

    def login(self, username: str) -> None:
        status, html = self.request("GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        status, _ = self.request("POST", "/accounts/login/", {
            "csrfmiddlewaretoken": token, "username": username, "password": PASSWORD})
        if status != 302:
            raise RuntimeError(f"login of {username} failed: HTTP {status}")

    def timed(self, path: str) -> float:
        started = time.perf_counter()
        status, _ = self.request("GET", path)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}")
        return elapsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pages(args: argparse.Namespace, db: str, size: int, users: dict[str, str]) -> None:
    import os

    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "fangkong.cli", "serve", "--port", str(port), "--no-migrate",
         "--no-worker"], env=os.environ.copy(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("fangkong serve did not start") from None
                time.sleep(0.2)
        rng = random.Random(7)
        floor_client = Browser(port)
        for _ in range(5):
            floor_client.timed("/healthz")
        floor = [floor_client.timed("/healthz") for _ in range(args.samples)]
        floor_p95 = percentile(floor, 95)
        emit(bench=BENCH, metric="healthz_p95_ms", value=floor_p95, unit="ms", db=db,
             size=size, p50_ms=round(percentile(floor, 50), 2))
        surnames = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "欧阳", "孙"]
        initials = ["zw", "wj", "ly", "cx", "lm", "zh", "wy", "hl"]
        pinyin = ["wang", "zhang", "li", "liuy", "chen", "yang", "huangm", "zhaol"]
        plan = {
            "home": lambda: "/",
            "resident_list": lambda: "/residents/",
            "search_name": lambda: "/residents/?q=" + urllib.parse.quote(rng.choice(surnames)),
            "search_last4": lambda: f"/residents/?q={rng.randint(0, 9999):04d}",
            "search_initials": lambda: "/residents/?q=" + rng.choice(initials),
            "search_pinyin": lambda: "/residents/?q=" + rng.choice(pinyin),
            "search_room": lambda: "/residents/?q=" + urllib.parse.quote(
                f"{rng.randint(1, 12)}-{rng.randint(1, 2)}-{rng.randint(1, 6)}0{rng.randint(1, 2)}"),
        }
        for persona, username in users.items():
            client = Browser(port)
            client.login(username)
            for page, make_path in plan.items():
                for _ in range(3):
                    client.timed(make_path())
                samples = [client.timed(make_path()) for _ in range(args.samples)]
                p95 = percentile(samples, 95)
                say(f"[registry] {persona:<15} {page:<16} p95 {p95:7.1f} ms")
                for pct in (50, 95, 99):
                    value = percentile(samples, pct)
                    is_p95 = pct == 95
                    emit(bench=BENCH, metric=f"{persona}.{page}.p{pct}_ms", value=value,
                         unit="ms", db=db, size=size,
                         floor_value=floor_p95 if is_p95 else None,
                         ratio=value / floor_p95 if is_p95 else None,
                         target="p95 < 300 ms" if is_p95 else None,
                         meets_target=value < PAGE_TARGET_MS if is_p95 else None)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
