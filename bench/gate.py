"""`fangkong bench gate --residents N`: the gate devices' verify-and-record endpoint
(`POST /api/gate/scan`) under load, against the floor of `/healthz` on the same server.

On a scratch database created and dropped by the run:
- a synthetic city of N residents (`--residents`, alias `--size`; 1,000,000), a pass for
  every resident (one INSERT ... SELECT), home isolation for 2% of them (red), health
  monitoring for 3% (yellow) and an open fever alert for 0.5% (red), a gate with one
  device per community (the clear device tokens are known to the bench), a rule of 2
  outings a day per household in one community out of five, and `--history` passages
  (half the residents) recorded by the devices over the last three days;
- the server, in a child process on a free port of 127.0.0.1: `fangkong serve --workers
  W --no-worker --no-migrate` (W = the cores, 2, on PostgreSQL; 1 on SQLite, as SQLite
  is deployed; no embedded background worker), with
  its default of requests at a time inside Django per process, or `--in-flight`;
- the load from other processes: `wrk` (C, one thread) for the closed loop, or, without
  wrk, the asyncio client of `bench._gate_http`; and always that client for the open
  loop.

Each scan is a random pass of the sample (`--codes`, 20,000 passes) at the device of the
pass's own community (1% forged codes), in or out at random, 36.0-37.2 °C, a unique
`client_id`: mostly passed; refused when red going out, when the same code went the same
way within two minutes, or when the household's outings are used up (a refusal is a
200 too).

Measured, after a warm-up of each endpoint, with the server idle again before each phase:
1. closed loop, `--connections` (200) keep-alive connections each sending its next
   request as soon as the last one is answered, `--duration` seconds, `/healthz` then
   the scan: requests per second of each. Target: the scan at least 50% of the floor's
   rate. Its latencies are reported too, but at saturation latency is about connections
   / throughput (200 / 500 per s = 400 ms) whatever the code does: they are labelled
   `closed` and carry no target.
2. open loop, `--connections` connections that are `--connections` devices each
   scanning once a second (`--rate`, 200 per s in all), each request sent at its
   scheduled time and its latency counted from that time, so a slow answer that delays
   the next request is counted in full (no coordinated omission). Target: p99 < 25 ms.
   The same schedule on `/healthz` is the floor. Then, for information, the same at
   half the rate the scan reached in the closed loop, from one connection per scan a
   second: the latency of a scan when the server keeps up (`scan.open_half.*`).
3. errors: every non-2xx answer and socket error (connect, read, write, timeout) in
   every scan phase. Target: none.

Target (gates issue): at least 50% of the floor's requests per second, p99 latency
under 25 ms at 200 concurrent connections, no errors, with 1 million residents in the
database. Only a run with at least 1 million residents can meet it (`full_size`).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from bench._gate_http import FLOOR_PATH, PythonLoad, WrkLoad, serving
from bench.common import emit, run_child, say, scratch_environment

BENCH = "gate"
FULL_RESIDENTS = 1_000_000
SCAN_PATH = "/api/gate/scan"
RPS_SHARE = 0.5
P99_TARGET_MS = 25.0
RPS_TARGET = ">= 50% of the floor's requests/s (ratio <= 2)"
P99_TARGET = "p99 < 25 ms at 200 concurrent connections (open loop, 1 scan/s each)"
ERRORS_TARGET = "no errors (non-2xx answers, socket errors)"
CLOSED_NOTE = ("closed loop at saturation: latency is about connections / throughput; "
               "not the target metric")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fangkong bench gate")
    parser.add_argument("--residents", "--size", dest="residents", type=int,
                        default=FULL_RESIDENTS, help="residents in the database")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a small size in seconds (CI)")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds of each measured phase (15; --quick 3)")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: requests per second in all (= connections: each "
                             "device scans once a second)")
    parser.add_argument("--workers", type=int, default=None,
                        help="server processes (default: the cores on PostgreSQL; 1 on "
                             "SQLite, which runs one web process, docs/configuration.md)")
    parser.add_argument("--codes", type=int, default=20_000, help="passes scanned at random")
    parser.add_argument("--history", type=int, default=None,
                        help="passages already recorded (default: half the residents)")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto",
                        help="closed-loop load: wrk if installed (auto), or the asyncio client")
    parser.add_argument("--in-flight", type=int, default=0,
                        help="requests at a time inside Django per server process "
                             "(FANGKONG_MAX_IN_FLIGHT; 0: the default, as served)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.residents = min(args.residents, 2_000)
        args.codes = min(args.codes, 500)
    if args.history is None:
        args.history = args.residents // 2
    if args.duration is None:
        args.duration = 3.0 if args.quick else 15.0
    if args.rate is None:
        args.rate = float(args.connections)
    if args.workers is None:
        args.workers = (os.cpu_count() or 1) if args.db == "postgresql" else 1
    if args.tool == "auto":
        args.tool = "wrk" if shutil.which("wrk") else "python"
    if args.child:
        return child(args)
    with scratch_environment(args.db) as env:
        return run_child("bench.gate", [
            "--residents", str(args.residents), "--db", args.db,
            "--connections", str(args.connections), "--duration", str(args.duration),
            "--rate", str(args.rate), "--workers", str(args.workers),
            "--codes", str(args.codes), "--history", str(args.history), "--tool", args.tool,
            "--in-flight", str(args.in_flight),
            *(["--quick"] if args.quick else []), "--child"], env)


# The child: data, server, measurements ---------------------------------------------------


def child(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from fangkong.synth.city import CitySpec
    from fangkong.synth.load import load_city

    say(f"[gate] generating and loading {args.residents:,} residents ({args.db}) ...")
    report = load_city(CitySpec(residents=args.residents, seed=5))
    say(f"[gate] loaded {report.residents:,} residents in {report.seconds:.1f} s")
    started = time.perf_counter()
    scans, mix = make_gate_data(args.codes, args.history)
    setup_seconds = time.perf_counter() - started
    say(f"[gate] passes, colours, gates and devices in {setup_seconds:.1f} s: {mix}")
    size = report.residents
    emit(bench=BENCH, metric="setup_seconds", value=report.seconds + setup_seconds, unit="s",
         db=args.db, size=size, city_seconds=round(report.seconds, 2),
         gates_seconds=round(setup_seconds, 2), **mix)
    connection.close()

    work = Path(tempfile.mkdtemp(prefix="fangkong-gate-"))
    scans_file = work / "scans.txt"
    scans_file.write_text("".join(f"{token} {code}\n" for token, code in scans))
    keep = False
    try:
        with serving(args.workers, work, args.in_flight) as server:
            measure(args, server.port, scans_file, work, size)
            for line, count in server.errors().items():
                keep = True
                say(f"[gate] server log, {count}x: {line}")
    finally:
        if keep:
            say(f"[gate] the server's log is kept: {server.log}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def make_gate_data(codes: int, history: int) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Passes for every resident, colours, a gate with a device per community, `history`
    passages of the last three days; returns the sample of (device token, pass code) to
    scan, and how many rows of each kind were made."""
    from django.db import connection, transaction

    from fangkong.followup.models import Alert
    from fangkong.isolation.models import IsolationPeriod
    from fangkong.lib.bulk import analyze
    from fangkong.passes.models import Gate, GateDevice, GatePolicy, Pass, Passage

    rng = random.Random(5)
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        phases[name] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()

    with transaction.atomic():
        people, colours = _passes_and_colours(rng)
        lap("passes_colours")
        gates, tokens = _gates_and_devices()
        made = _history(rng, people, gates, history)
        lap("gates_history")
    if connection.vendor == "postgresql":
        # What autovacuum does within a minute of such a burst of inserts. SQLite keeps no
        # statistics of its own, and fangkong does not run ANALYZE on these tables.
        analyze([Pass._meta.db_table, IsolationPeriod._meta.db_table, Alert._meta.db_table,
                 Gate._meta.db_table, GateDevice._meta.db_table, GatePolicy._meta.db_table,
                 Passage._meta.db_table])
    lap("commit_analyze")
    scans = _sample(rng, people, tokens, codes)
    lap("sample")
    mix = {"passes": len(people), **colours, "gates": len(gates), "history": made,
           "codes": len(scans), "phases": phases}
    return scans, mix


def _passes_and_colours(rng: random.Random) -> tuple[list[tuple], dict[str, int]]:
    """A pass for every resident (one INSERT ... SELECT, like a bulk issue: version 1,
    never revoked, no end date); home isolation for 2% of them, health monitoring for
    3%, an open fever alert for 0.5%. Returns the residents (id, household, district,
    street, community, grid, pass id)."""
    from datetime import timedelta

    from django.db import connection

    from fangkong.followup.models import Alert, AlertKind
    from fangkong.isolation.models import IsolationPeriod, PeriodKind, PeriodStatus
    from fangkong.lib import clock
    from fangkong.passes.models import Pass
    from fangkong.residents.models import Resident, ResidentStatus

    now, today = clock.now(), clock.local_today()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Pass._meta.db_table} (resident_id, version, issued_at, "  # noqa: S608
            f"revoked_reason) SELECT id, 1, %s, '' FROM {Resident._meta.db_table} "
            "WHERE status = %s ORDER BY id",
            [Pass._meta.get_field("issued_at").get_db_prep_save(now, connection),
             ResidentStatus.ACTIVE])
    pass_of = dict(Pass.objects.values_list("resident_id", "pk"))
    people = [(*row, pass_of[row[0]]) for row in
              Resident.objects.filter(status=ResidentStatus.ACTIVE).order_by("pk")
              .values_list("pk", "household_id", "district_id", "street_id", "community_id",
                           "grid_id")]
    chosen = rng.sample(people, len(people) // 10)
    n_iso, n_mon, n_alert = len(people) // 50, len(people) * 3 // 100, len(people) // 200
    isolated, monitored = chosen[:n_iso], chosen[n_iso:n_iso + n_mon]
    alerted = chosen[n_iso + n_mon:n_iso + n_mon + n_alert]
    IsolationPeriod.objects.bulk_create([
        IsolationPeriod(resident_id=row[0], kind=kind, starts_on=today - timedelta(days=3),
                        planned_end=today + timedelta(days=11), status=PeriodStatus.OPEN,
                        reason="密接", place="家中")
        for rows, kind in ((isolated, PeriodKind.ISOLATION), (monitored, PeriodKind.MONITORING))
        for row in rows], batch_size=5000)
    Alert.objects.bulk_create([
        Alert(resident_id=pk, kind=AlertKind.RULE, rule_key="fever", severity="high",
              title="发热", reason="37.8 °C", assigned_area_id=grid, created_at=now,
              district_id=district, street_id=street, community_id=community, grid_id=grid)
        for pk, _household, district, street, community, grid, _pass in alerted],
        batch_size=5000)
    return people, {"isolated": len(isolated), "monitored": len(monitored),
                    "fever_alerts": len(alerted)}


def _gates_and_devices() -> tuple[dict[int, tuple[int, int]], dict[int, str]]:
    """A gate with one device in every community, and a rule of 2 outings a day per
    household in one community out of five. Returns community -> (gate, device) and
    community -> the device's clear token."""
    from fangkong.lib import clock
    from fangkong.passes.models import Gate, GateDevice, GatePolicy
    from fangkong.places.models import Area, AreaKind

    now = clock.now()
    communities = list(Area.objects.filter(kind=AreaKind.COMMUNITY).order_by("path"))
    gates = Gate.objects.bulk_create([Gate(community=c, name="东门", created_at=now)
                                      for c in communities])
    tokens: dict[int, str] = {}
    devices = []
    for gate in gates:
        clear = "fkg_" + secrets.token_urlsafe(32)
        tokens[gate.community_id] = clear
        devices.append(GateDevice(gate=gate, name="东门扫码机", prefix=clear[4:12],
                                  digest=GateDevice.digest_of(clear), created_at=now))
    GateDevice.objects.bulk_create(devices)
    GatePolicy.objects.bulk_create([
        GatePolicy(community=c, outings_per_household=2, outing_days=1, updated_at=now)
        for c in communities[::5]])
    return ({gate.community_id: (gate.pk, device.pk)
             for gate, device in zip(gates, devices, strict=True)}, tokens)


HISTORY_COLS = ("gate_id", "community_id", "at", "direction", "pass_ref_id", "resident_id",
                "grid_id", "household_id", "temperature", "result", "refusal", "colour",
                "device_id", "client_id", "received_at")


def _history(rng: random.Random, people: list[tuple], gates: dict[int, tuple[int, int]],
             n: int) -> int:
    """`n` passages recorded by the devices over the last three days (not the last ten
    minutes), the way `passage_record` writes them: the gate's table as it is after a few
    days of use, for the lookups by scan id, by pass and by household."""
    from datetime import timedelta
    from decimal import Decimal

    from django.db import connection

    from fangkong.lib import clock
    from fangkong.lib.bulk import bulk_insert, checks_deferred
    from fangkong.passes.models import Passage

    if not people or n <= 0:
        return 0
    field = Passage._meta.get_field
    now = clock.now()
    # Values as the ORM writes them, prepared once: times to the minute, temperatures.
    moments = [field("at").get_db_prep_save(now - timedelta(minutes=m), connection)
               for m in range(10, 3 * 24 * 60)]
    temperatures = [field("temperature").get_db_prep_save(Decimal(f"{36 + t / 10:.1f}"),
                                                          connection) for t in range(13)]
    rows = []
    for i in range(n):
        resident, household, _d, _s, community, grid, pass_id = rng.choice(people)
        gate, device = gates[community]
        at = rng.choice(moments)
        rows.append((gate, community, at, rng.choice(("in", "out")), pass_id, resident,
                     grid, household, rng.choice(temperatures), "passed", "", "green", device,
                     f"h{i}", at))
    # Indexes built once over all rows rather than row by row, as the city loader does.
    with checks_deferred([Passage._meta.db_table]) if n >= 50_000 else nullcontext():
        bulk_insert(Passage._meta.db_table, HISTORY_COLS, rows)
    return len(rows)


def _sample(rng: random.Random, people: list[tuple], tokens: dict[int, str],
            codes: int) -> list[tuple[str, str]]:
    """`codes` passes at random (all of version 1), each with the device token of its
    community's gate; 1% of the codes forged (the signature of another pass)."""
    from fangkong.passes.tokens import pass_token

    scans = []
    for _pk, _household, _d, _s, community_id, _grid, pass_id in rng.sample(
            people, min(codes, len(people))):
        pk, version = pass_id, 1
        code = pass_token(pk, version)
        if rng.random() < 0.01:
            code = code.rsplit(".", 1)[0] + "." + pass_token(pk + 1, version).rsplit(".", 1)[1]
        scans.append((tokens[community_id], code))
    return scans


def measure(args: argparse.Namespace, port: int, scans_file: Path, work: Path,
            size: int) -> None:
    from django.db.models import Count

    from fangkong.lib import clock
    from fangkong.passes.models import Passage

    started = clock.now()
    common = {"bench": BENCH, "db": args.db, "size": size}
    # The generator makes about the residents asked for (1,956 for 2,000).
    full = {"full_size": args.residents >= FULL_RESIDENTS}
    load = {"connections": args.connections, "workers": args.workers,
            "in_flight": args.in_flight}
    warm_up = 1.0 if args.quick else 3.0
    closed = WrkLoad(port, work, args) if args.tool == "wrk" else PythonLoad(port, args)
    say(f"[gate] warming up ({args.tool}) ...")
    closed.run("warm-floor", FLOOR_PATH, None, warm_up)
    closed.run("warm-scan", SCAN_PATH, scans_file, warm_up)

    say(f"[gate] closed loop, {args.connections} connections, {args.duration:g} s each")
    floor = closed.run("floor", FLOOR_PATH, None, args.duration)
    scan = closed.run("scan", SCAN_PATH, scans_file, args.duration)
    say(f"[gate] /healthz {floor['rps']:.0f}/s (p99 {floor['p99_ms']:.0f} ms), scan "
        f"{scan['rps']:.0f}/s (p99 {scan['p99_ms']:.0f} ms), {scan['errors']} errors")

    say(f"[gate] open loop, {args.connections} connections, {args.rate:g} requests/s in all")
    opened = PythonLoad(port, args)
    open_floor = opened.run("open-floor", FLOOR_PATH, None, args.duration, rate=args.rate)
    open_scan = opened.run("open-scan", SCAN_PATH, scans_file, args.duration, rate=args.rate)
    say(f"[gate] open loop: /healthz p99 {open_floor['p99_ms']:.1f} ms, scan p50 "
        f"{open_scan['p50_ms']:.1f} ms, p99 {open_scan['p99_ms']:.1f} ms, "
        f"{open_scan['rps']:.0f}/s sent, {open_scan['errors']} errors")
    # The latency of a scan when the server keeps up: half the rate it reached closed,
    # from devices scanning once a second (a connection idle for 5 s is closed by uvicorn).
    half_rate = max(1.0, round(scan["rps"] / 2, 1))
    half_connections = min(args.connections, max(1, round(half_rate)))
    half = opened.run("open-half", SCAN_PATH, scans_file, args.duration, rate=half_rate,
                      connections=half_connections)
    say(f"[gate] open loop at half the scan's closed-loop rate ({half_rate:g}/s): p50 "
        f"{half['p50_ms']:.1f} ms, p99 {half['p99_ms']:.1f} ms, {half['errors']} errors")

    emit(metric="floor.healthz.rps", value=floor["rps"], unit="1/s", tool=args.tool,
         requests=floor["requests"], errors=floor["errors"], **load, **common)
    emit(metric="scan.rps", value=scan["rps"], unit="1/s", floor_value=floor["rps"],
         ratio=floor["rps"] / scan["rps"] if scan["rps"] else None, target=RPS_TARGET,
         meets_target=scan["rps"] >= RPS_SHARE * floor["rps"] and full["full_size"],
         tool=args.tool, requests=scan["requests"], **full, **load, **common)
    for pct in (50, 95, 99):
        key = f"p{pct}_ms"
        emit(metric=f"scan.closed.{key}", value=scan[key], unit="ms",
             floor_value=floor[key], ratio=scan[key] / floor[key] if floor[key] else None,
             note=CLOSED_NOTE, tool=args.tool, **load, **common)
    open_load = {**load, "rate": args.rate, "sent_rps": round(open_scan["rps"], 1),
                 "tool": "python-asyncio-open-loop"}
    for pct in (50, 95, 99):
        key = f"p{pct}_ms"
        target = {"target": P99_TARGET, **full, "meets_target": open_scan[key]
                  < P99_TARGET_MS and full["full_size"]} if pct == 99 else {}
        emit(metric=f"scan.open.{key}", value=open_scan[key], unit="ms",
             floor_value=open_floor[key],
             ratio=open_scan[key] / open_floor[key] if open_floor[key] else None,
             **target, **open_load, **common)
    for pct in (50, 95, 99):
        key = f"p{pct}_ms"
        emit(metric=f"scan.open_half.{key}", value=half[key], unit="ms",
             **{**load, "connections": half_connections}, rate=half_rate, sent_rps=round(half["rps"], 1), tool="python-asyncio-open-loop",
             note="open loop at half the closed-loop scan rate: the latency of a scan when "
                  "the server keeps up; no target", **common)
    errors = scan["errors"] + open_scan["errors"] + half["errors"]
    emit(metric="scan.errors", value=errors, unit="count", target=ERRORS_TARGET,
         meets_target=errors == 0 and full["full_size"], **full, closed=scan["error_kinds"],
         open=open_scan["error_kinds"], open_half=half["error_kinds"],
         floor_errors=floor["errors"] + open_floor["errors"], **common)
    outcomes = {f"{result}:{refusal or '-'}": n for result, refusal, n in
                Passage.objects.filter(received_at__gte=started)
                .values_list("result", "refusal").annotate(n=Count("pk"))
                .values_list("result", "refusal", "n")}
    emit(metric="scan.passages", value=sum(outcomes.values()), unit="count",
         outcomes=outcomes, **common)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
