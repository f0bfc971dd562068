"""`fangkong bench round --residents N`: one follow-up round of N residents, end to end.

On a scratch database created and dropped by the run: a city of N residents, a campaign
asking all of them (web link at the start, a robot call 10 minutes later with one retry,
a door visit after 40 minutes). Measured from opening the round to its table: the round
opens (one INSERT ... SELECT), the dispatcher sends every attempt through the simulated
channels with their fallbacks, ingests the answers, raises the alerts, the round closes
(the unreached get their alerts) and the city's round table is computed. The clock is the
movable one: the benchmark jumps to the next due time instead of waiting.

Floor, in the same run: inserting the same number of rows and then updating them all with
the fastest plain bulk SQL (INSERT ... SELECT, one UPDATE).

Also measured: the round table page of the largest street, as its street officer opens
it while the round runs (after the web step, before the calls).

Targets (issue 4): a round of 10 million residents in under 310 s on PostgreSQL, at most
3x the floor; the street's round table (100k residents) in under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import time
from multiprocessing.connection import Connection

from bench.common import emit, percentile, run_child, say, scratch_environment

BENCH = "round"
TARGET_SECONDS_10M = 310.0
TARGET_RATIO = 3.0
TARGET_TABLE_MS = 300.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fangkong bench round")
    parser.add_argument("--residents", "--size", dest="residents", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=None,
                        help="dispatcher processes (default: one per core on PostgreSQL, "
                             "one on SQLite, whose writers take turns anyway)")
    parser.add_argument("--quick", action="store_true", help="a small size in seconds (CI)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = (os.cpu_count() or 1) if args.db == "postgresql" else 1
    if args.quick:
        args.residents = min(args.residents, 3_000)
    if args.child:
        return child(args)
    with scratch_environment(args.db) as env:
        return run_child("bench.round", ["--residents", str(args.residents), "--db", args.db,
                                         "--workers", str(args.workers), "--child"], env)


def child(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from datetime import datetime, timedelta

    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse

    from fangkong.accounts.models import Role, User
    from fangkong.accounts.services import staff_create
    from fangkong.followup.models import Contact, ContactState, Questionnaire
    from fangkong.followup.rounds import round_close, round_open
    from fangkong.followup.services import CampaignInput, campaign_create
    from fangkong.followup.simulate import _next_moment
    from fangkong.followup.tables import round_table
    from fangkong.lib import clock
    from fangkong.places.models import Area, AreaKind
    from fangkong.residents.models import Resident
    from fangkong.synth.city import CitySpec
    from fangkong.synth.load import load_city

    say(f"[round] loading {args.residents:,} residents ({args.db}) ...")
    load_city(CitySpec(residents=args.residents, seed=5, districts=1))
    city = Area.objects.get(kind=AreaKind.CITY)
    root = User.objects.create_superuser(username="bench_root", password=None)
    street_id = (Resident.objects.values("street_id").annotate(n=Count("pk"))
                 .order_by("-n").first()["street_id"])
    street = Area.objects.get(pk=street_id)
    street_size = Resident.objects.filter(street=street).count()
    officer = staff_create(username="bench_street", password=None, role=Role.STREET_OFFICER,
                           area=street, check_password=False)
    version = Questionnaire.objects.get(slug="daily_health").versions.latest("number")
    start = datetime.fromisoformat("2026-12-01T09:00:00+08:00")
    campaign = campaign_create(by=root, data=CampaignInput(
        name="全体居民发热排查", purpose="bench", area=city, version=version, times=["09:00"],
        starts_on=start.date(), round_minutes=180,
        plan=[{"channel": "web", "at": 0},
              {"channel": "voice", "at": 10, "retries": 1, "spacing": 5, "busy_spacing": 2},
              {"channel": "visit", "at": 40}],
        capacity={"voice": 100_000, "sms": 100_000, "web": 100_000}))
    campaign.status = "running"
    campaign.save(update_fields=["status"])

    floor = floor_seconds(args.residents)
    say(f"[round] floor: {floor:.2f} s")
    client = Client()
    client.force_login(officer)
    table_ms: list[float] = []
    clock.set(start)
    try:
        started = time.perf_counter()
        round_ = round_open(campaign=campaign, scheduled_for=start, now=start)
        say(f"[round] opened with {round_.targeted:,} contacts in "
            f"{time.perf_counter() - started:.1f} s")
        moment = start
        measured_table = False
        pool = Workers(args.workers)
        while True:
            pool.dispatch(moment)
            if not measured_table and moment >= start + timedelta(minutes=5):
                # The round runs: the web step is done, the calls have not started.
                paused = time.perf_counter()
                url = reverse("followup:round", args=[round_.pk])
                for _ in range(20):
                    t0 = time.perf_counter()
                    response = client.get(url, HTTP_HX_REQUEST="true", HTTP_HOST="127.0.0.1")
                    table_ms.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, response.status_code
                measured_table = True
                started += time.perf_counter() - paused  # not part of the round's time
            pending = Contact.objects.filter(round=round_, state=ContactState.PENDING,
                                             due_at__isnull=False).exists()
            if not pending:
                break
            moment = _next_moment(moment, round_.closes_at)
            clock.set(moment)
        done = time.perf_counter()
        pool.close()
        clock.set(round_.closes_at)
        unreached = round_close(round_=round_, now=round_.closes_at)
        rows, total = round_table([round_], city)
        seconds = time.perf_counter() - started
        say(f"[round] dispatch {done - started:.1f} s, close + table "
            f"{time.perf_counter() - done:.1f} s; answered {total.answered:,}, "
            f"not reached {unreached:,}, abnormal {total.abnormal:,}")
    finally:
        clock.reset()
    n = round_.targeted
    rate = n / seconds
    projected = 10_000_000 / rate
    ratio = seconds / floor
    emit(bench=BENCH, metric="contacts_per_s", value=rate, unit="1/s", db=args.db, size=n,
         floor_value=n / floor, ratio=ratio,
         target="10M residents in < 310 s on PostgreSQL, <= 3x floor",
         meets_target=(ratio <= TARGET_RATIO and projected < TARGET_SECONDS_10M
                       and args.db == "postgresql"),
         seconds=round(seconds, 2), floor_seconds=round(floor, 3),
         projected_10m_seconds=round(projected, 1), workers=args.workers,
         answered=total.answered,
         unreached=unreached, abnormal=total.abnormal, alerts=total.alerts_open)
    for name, p in (("p50_ms", 50), ("p95_ms", 95)):
        value = percentile(table_ms, p)
        emit(bench=BENCH, metric=f"street_table_{name}", value=value, unit="ms", db=args.db,
             size=street_size, target="street round table < 300 ms while the round runs"
             if p == 95 else None,
             meets_target=value < TARGET_TABLE_MS if p == 95 else None)
    return 0


LIMIT = 20_000


class Workers:
    """Dispatcher processes stepping through the benchmark's movable time together: each
    is told the moment, sets its clock and dispatches until nothing more is due then.
    With one worker the dispatch runs in this process."""

    def __init__(self, n: int) -> None:
        import multiprocessing

        self.pipes: list[Connection] = []
        self.procs = []
        if n <= 1:
            return
        context = multiprocessing.get_context("spawn")  # no forked database connections
        for i in range(n):
            parent, child_end = context.Pipe()
            proc = context.Process(target=_worker, args=(child_end, f"bench{i}"), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def dispatch(self, moment) -> int:  # noqa: ANN001
        if not self.pipes:
            from fangkong.followup.dispatch import dispatch_pass

            total = 0
            while n := dispatch_pass(owner="bench", now=moment, limit=LIMIT):
                total += n
            return total
        for pipe in self.pipes:
            pipe.send(moment.isoformat())
        return sum(pipe.recv() for pipe in self.pipes)

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for proc in self.procs:
            proc.join(timeout=30)


def _worker(pipe: Connection, name: str) -> None:
    import django

    django.setup()
    from datetime import datetime

    from fangkong.followup.dispatch import dispatch_pass
    from fangkong.lib import clock

    while (message := pipe.recv()) is not None:
        moment = datetime.fromisoformat(message)
        clock.set(moment)
        total = 0
        while n := dispatch_pass(owner=name, now=moment, limit=LIMIT):
            total += n
        pipe.send(total)


def floor_seconds(n: int) -> float:
    """Insert n rows from the residents with one INSERT ... SELECT, then update them all."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_floor (id bigint PRIMARY KEY, round_id bigint, "
                       "resident_id bigint, state varchar(10), due_at timestamp NULL)")
        started = time.perf_counter()
        cursor.execute("INSERT INTO bench_floor SELECT id, 1, id, 'pending', NULL "
                       "FROM residents_resident")
        cursor.execute("UPDATE bench_floor SET state = 'answered'")
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_floor")
    return seconds


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
