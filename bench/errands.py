"""`fangkong bench errands`: the community queue and the shopping lists with 10k open
requests in a 100k-resident community.

On a scratch database created and dropped by the run:
- a synthetic city that is one community of N residents (`--size`, 100,000);
- its community secretary (who sees the whole community's queue), 20 verified volunteers
  (through the volunteer services) and the community's grid workers;
- `--requests` open errands (10,000) bulk-inserted as `errand_create` and
  `errand_assign` would write them: area columns copied from the resident, due time by
  urgency, urgency rank, hand-over code, vulnerable from the resident's tags, isolated
  from an open isolation period of the household (some households get one), flagged
  when a line asks an unusual quantity; with their events. Mixed kinds, about half
  medicine with 1-3 lines bought at about 20 pharmacies; statuses new, assigned and
  buying; some urgent. Plus as many closed errands of the last 30 days (the history
  the figures page reads). On PostgreSQL the tables are then analysed, as autovacuum
  would within a minute; SQLite keeps no statistics for them, as in production.

Measured in-process with django.test.Client, logged in as the secretary (force_login),
through the whole middleware stack: after 5 warm-ups, `--samples` rounds (60), each
timing once, in turn, every page below, so the floor and the pages share the machine's
drift. Pages: the queue (first page), the queue filtered to medicine, the shopping lists
of medicine (`errands:lists?kind=medicine`) and, for information, the figures of the
community. Floor: the lightest logged-in page on the same stack, with the same client
and session: `care:my_insurance` (the session, the user, one query for the user's own
policies, none here, and the site's layout). `/healthz` (one SELECT 1, no session read)
is reported next to it as `healthz_p95_ms`.

Target (errands issue): the community queue and the pharmacy batching with 10k open
requests in a 100k-resident community render in under 300 ms p95. Only a run at that
size or larger can meet it (`--quick` is a smoke run).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from bench.common import emit, percentile, run_child, say, scratch_environment

BENCH = "errands"
TARGET_MS = 300.0
TARGET = "p95 < 300 ms with 10k open requests in a 100k-resident community"
FULL_RESIDENTS = 100_000
FULL_REQUESTS = 10_000
WARM_UPS = 5

PHARMACIES = [f"{brand}({branch}店)" for brand, branch in (
    ("老百姓大药房", "汉正街"), ("老百姓大药房", "利济路"), ("益丰大药房", "中山大道"),
    ("益丰大药房", "解放大道"), ("大参林", "武胜路"), ("大参林", "宝丰路"),
    ("国大药房", "集家嘴"), ("国大药房", "民意"), ("一心堂", "长堤街"), ("一心堂", "汉中"),
    ("同仁堂", "江汉路"), ("马应龙大药房", "古田"), ("马应龙大药房", "硚口路"),
    ("健民大药房", "京汉"), ("健民大药房", "崇仁"), ("九州通", "沿河"),
    ("海王星辰", "六角亭"), ("叶开泰", "汉正"), ("太和堂", "宗关"), ("社区卫生服务中心", "本"))]
SUPERMARKETS = ["中百仓储", "武商超市", "盒马鲜生", "永辉超市", "社区团购点"]
MEDICINES = [("硝苯地平缓释片", "20mg", True), ("二甲双胍片", "0.5g", True),
             ("阿托伐他汀钙片", "20mg", True), ("苯磺酸氨氯地平片", "5mg", True),
             ("布洛芬缓释胶囊", "0.3g", False), ("对乙酰氨基酚片", "0.5g", False),
             ("连花清瘟胶囊", "0.35g", False), ("阿司匹林肠溶片", "100mg", True),
             ("胰岛素注射液", "300单位", True), ("复方甘草片", "", False),
             ("板蓝根颗粒", "10g", False), ("蒙脱石散", "3g", False)]
GROCERY_DETAILS = ["大米一袋、鸡蛋一板", "青菜两斤、猪肉一斤", "牛奶一箱", "挂面两包、食用油一桶",
                   "水果若干", "卫生纸、洗衣液", "蔬菜包一份", "速冻饺子两袋"]
OTHER_DETAILS = {"garbage": "", "repair": "厨房水管漏水", "other": "帮忙取快递"}
KINDS = (("medicine", 50), ("groceries", 30), ("garbage", 8), ("repair", 6), ("other", 6))
URGENCIES = (("urgent", 10), ("today", 30), ("normal", 60))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fangkong bench errands")
    parser.add_argument("--size", type=int, default=FULL_RESIDENTS,
                        help="residents of the community")
    parser.add_argument("--requests", type=int, default=FULL_REQUESTS, help="open errands")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a small size in seconds (CI)")
    parser.add_argument("--samples", type=int, default=None, help="requests per page")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.requests = min(args.size, 5_000), min(args.requests, 500)
    if args.samples is None:
        args.samples = 15 if args.quick else 60
    if args.child:
        return child(args)
    with scratch_environment(args.db) as env:
        return run_child("bench.errands", [
            "--size", str(args.size), "--requests", str(args.requests), "--db", args.db,
            "--samples", str(args.samples), "--child"], env)


def child(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from fangkong.places.models import Area, AreaKind
    from fangkong.residents.models import Resident
    from fangkong.synth.city import CitySpec
    from fangkong.synth.load import load_city

    say(f"[errands] loading a community of {args.size:,} residents ({args.db}) ...")
    report = load_city(CitySpec(residents=args.size, seed=3, districts=1, streets=1,
                                communities=1))
    community = Area.objects.get(kind=AreaKind.COMMUNITY)
    residents = Resident.objects.filter(community=community).count()
    say(f"[errands] loaded {report.residents:,} residents in {report.seconds:.1f} s; "
        f"the community has {residents:,}")
    secretary, helpers = make_people(community)
    started = time.perf_counter()
    open_n, closed_n, items_n = make_errands(community, secretary, helpers, args.requests)
    say(f"[errands] inserted {open_n:,} open errands ({items_n:,} lines) and {closed_n:,} "
        f"closed ones in {time.perf_counter() - started:.1f} s")
    if args.db == "postgresql":
        # What autovacuum does within a minute of such a burst of inserts; SQLite gathers
        # no statistics of its own, and fangkong does not run ANALYZE on these tables.
        from fangkong.lib.bulk import analyze

        analyze(["errands_errand", "errands_erranditem", "errands_errandevent",
                 "isolation_isolationperiod", "errands_garbageservice"])
    measure(args, community, secretary, residents, open_n)
    return 0


def make_people(community):  # noqa: ANN001, ANN201
    """The community secretary, its grid workers and 20 volunteers verified through the
    services (each linked to a login of the community, so no password is hashed)."""
    from fangkong.accounts.models import Role, User
    from fangkong.errands.volunteers import volunteer_apply, volunteer_verify
    from fangkong.places.models import Area

    secretary = User.objects.create(username="bench_secretary", full_name="社区书记",
                                    role=Role.COMMUNITY_SECRETARY, area=community)
    helpers = [User.objects.create(username=f"bench_grid_{g.pk}", full_name=f"{g.name}网格员",
                                   role=Role.GRID_WORKER, area=g)
               for g in Area.objects.filter(parent=community).order_by("path")]
    for n in range(20):
        login = User.objects.create(username=f"bench_v{n}", full_name=f"志愿者{n:02d}",
                                    role=Role.VOLUNTEER, area=community)
        volunteer = volunteer_apply(community=community, name=f"志愿者{n:02d}",
                                    phone=f"1390000{n:04d}", skills=["driver", "medical"])
        volunteer_verify(volunteer=volunteer, by=secretary, link_user=login)
        helpers.append(login)
    return secretary, helpers


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _w in weighted], weights=[w for _v, w in weighted])[0]


def make_errands(community, secretary, helpers, n_open: int) -> tuple[int, int, int]:  # noqa: ANN001
    """`n_open` open errands and as many closed ones of the last 30 days, with their lines
    and events, in a few bulk inserts. The rows are what the services write."""
    from datetime import timedelta

    from django.db import transaction

    from fangkong.errands.models import (
        OPEN,
        URGENCY_RANK,
        Errand,
        ErrandEvent,
        ErrandItem,
        GarbageService,
        Payment,
        Source,
    )
    from fangkong.errands.services import ItemInput, _flag, due_at
    from fangkong.isolation.models import IsolationPeriod, PeriodKind, PeriodStatus
    from fangkong.lib import clock
    from fangkong.residents.models import Resident, ResidentStatus

    rng = random.Random(11)
    now = clock.now()
    today = clock.local_today()
    people = list(Resident.objects.filter(community=community, status=ResidentStatus.ACTIVE)
                  .values_list("pk", "household_id", "district_id", "street_id",
                               "community_id", "grid_id", "household__building_id"))
    asking = rng.sample(people, min(len(people), n_open * 2)) if people else []
    if len(asking) < n_open * 2:
        asking += rng.choices(people, k=n_open * 2 - len(asking))
    vulnerable = set(Resident.objects.filter(community=community, tags__vulnerable=True)
                     .values_list("pk", flat=True))
    # Some households are in home isolation: an open period for one of their residents.
    isolated_households = {row[1] for row in rng.sample(asking, len(asking) // 25)}
    first_of = {}
    for pk, household, *_ in people:
        if household in isolated_households:
            first_of.setdefault(household, pk)

    errands: list[Errand] = []
    lines: list[list[ErrandItem]] = []
    garbage: dict[int, GarbageService] = {}  # household -> its standing pickup
    for i, (resident, household, district, street, comm, grid, building) in enumerate(
            asking):
        closed = i >= n_open
        kind = _pick(rng, KINDS)
        urgency = _pick(rng, URGENCIES)
        created = now - timedelta(minutes=rng.randint(5, 60 * 24 * (29 if closed else 2)))
        items: list[ErrandItem] = []
        details, supplier = "", ""
        if kind == "medicine":
            for name, strength, prescription in rng.sample(MEDICINES, rng.randint(1, 3)):
                line = ItemInput(name=name, strength=strength, unit="盒",
                                 quantity=10 if rng.random() < 0.02 else rng.randint(1, 3),
                                 prescription=prescription)
                items.append(ErrandItem(name=line.name, strength=line.strength,
                                        quantity=line.quantity, unit=line.unit,
                                        prescription=line.prescription,
                                        flag=_flag(kind, line)))
            supplier = rng.choice(PHARMACIES) if rng.random() < 0.9 else ""
        elif kind == "groceries":
            details = rng.choice(GROCERY_DETAILS)
            supplier = rng.choice(SUPERMARKETS) if rng.random() < 0.7 else ""
        else:
            details = OTHER_DETAILS[kind]
        by_worker = rng.random() < 0.4
        errand = Errand(
            resident_id=resident, household_id=household, kind=kind, details=details,
            urgency=urgency, urgency_rank=URGENCY_RANK[urgency],
            payment=rng.choice(Payment.values), supplier=supplier,
            source=rng.choice([Source.PHONE, Source.VISIT] if by_worker
                              else [Source.RESIDENT, Source.PROXY, Source.SMS]),
            vulnerable=resident in vulnerable, isolated=household in isolated_households,
            created_by=secretary if by_worker else None, created_at=created,
            due_at=due_at(urgency, created), handover_code=f"{rng.randrange(10_000):04d}",
            flagged=any(item.flag for item in items), district_id=district,
            street_id=street, community_id=comm, grid_id=grid)
        if closed:
            _close(rng, errand, helpers, now)
        else:
            nothing_to_buy = kind in ("garbage", "repair")
            status = _pick(rng, (("new", 50), ("assigned", 30), ("buying", 20)))
            if nothing_to_buy and status == "buying":
                status = "assigned"
            if status != "new":
                errand.assigned_to = rng.choice(helpers)
                errand.assigned_at = created + timedelta(minutes=rng.randint(1, 60))
                if status == "buying":
                    errand.accepted_at = errand.assigned_at + timedelta(minutes=5)
            errand.status = status
            if kind == "garbage" and household not in garbage:
                garbage[household] = GarbageService(
                    household_id=household, building_id=building, community_id=comm,
                    errand=errand, starts_on=today)
        errands.append(errand)
        lines.append(items)

    with transaction.atomic():
        IsolationPeriod.objects.bulk_create([
            IsolationPeriod(resident_id=pk, kind=PeriodKind.ISOLATION,
                            starts_on=today - timedelta(days=3),
                            planned_end=today + timedelta(days=11), status=PeriodStatus.OPEN,
                            reason="密接", place="家中", created_by=secretary)
            for pk in first_of.values()])
        Errand.objects.bulk_create(errands, batch_size=2000)
        items = []
        for errand, errand_lines in zip(errands, lines, strict=True):
            for item in errand_lines:
                item.errand_id = errand.pk
                items.append(item)
        ErrandItem.objects.bulk_create(items, batch_size=5000)
        ErrandEvent.objects.bulk_create(
            [event for errand in errands for event in _events(errand, secretary)],
            batch_size=5000)
        for service in garbage.values():
            service.errand_id = service.errand.pk
        GarbageService.objects.bulk_create(garbage.values())
    open_n = sum(e.status in OPEN for e in errands)
    open_lines = sum(len(ls) for e, ls in zip(errands, lines, strict=True) if e.status in OPEN)
    return open_n, len(errands) - open_n, open_lines


def _close(rng: random.Random, errand, helpers, now) -> None:  # noqa: ANN001
    """Delivered (by code or photo, hours given by most), failed or cancelled."""
    from datetime import timedelta

    outcome = _pick(rng, (("delivered", 85), ("failed", 7), ("cancelled", 8)))
    closed_at = min(now, errand.created_at + timedelta(minutes=rng.randint(30, 60 * 20)))
    errand.status, errand.closed_at = outcome, closed_at
    if outcome == "cancelled":
        return
    errand.assigned_to = rng.choice(helpers)
    errand.assigned_at = errand.created_at + timedelta(minutes=10)
    errand.accepted_at = errand.assigned_at + timedelta(minutes=5)
    if outcome == "failed":
        errand.failure_reason = "药店缺货"
        return
    errand.handover = rng.choice(["code", "code", "photo"])
    if rng.random() < 0.8:
        errand.hours = round(rng.uniform(0.5, 3.0), 1)


def _events(errand, worker) -> list:  # noqa: ANN001
    """The events the services record on the way to the errand's status (`worker` gives
    it to its helper, and cancels)."""
    from fangkong.errands.models import ErrandEvent

    def event(what: str, status: str, at, by=None, detail: str = "") -> ErrandEvent:  # noqa: ANN001
        return ErrandEvent(errand_id=errand.pk, what=what, status=status, by=by,
                           by_resident=errand.created_by_id is None and what == "created",
                           detail=detail, at=at)

    made = [event("created", "new", errand.created_at, errand.created_by)]
    if errand.assigned_to_id:
        made.append(event("assigned", "assigned", errand.assigned_at, worker,
                          errand.assigned_to.display_name))
    if errand.status == "buying":
        made.append(event("status", "buying", errand.accepted_at, errand.assigned_to))
    if errand.closed_at:
        made.append(event(errand.status, errand.status, errand.closed_at,
                          errand.assigned_to or worker,
                          errand.failure_reason or errand.handover))
    return made


def measure(args: argparse.Namespace, community, secretary, residents: int,  # noqa: ANN001
            open_n: int) -> None:
    from django.test import Client
    from django.urls import reverse

    client = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(secretary)
    queue = reverse("errands:queue")
    pages = {
        "floor": reverse("care:my_insurance"),
        "healthz": "/healthz",
        "queue": queue,
        "queue_medicine": f"{queue}?kind=medicine",
        "lists": f"{reverse('errands:lists')}?kind=medicine",
        "figures": reverse("errands:figures", args=[community.pk]),
    }
    skipped = set()
    for page, path in pages.items():
        status = client.get(path).status_code
        if status != 200:
            if page != "lists":
                raise RuntimeError(f"GET {path}: HTTP {status}")
            say(f"[errands] the shopping lists page answers HTTP {status} (not written yet?): "
                "its metric is skipped")
            skipped.add(page)
    timed = {page: [] for page in pages if page not in skipped}

    def hit(path: str) -> float:
        started = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code}")
        return elapsed

    for _ in range(WARM_UPS):
        for page in timed:
            hit(pages[page])
    for _ in range(args.samples):
        for page, samples in timed.items():
            samples.append(hit(pages[page]))

    # The generator makes about the residents asked for (98,529 for 100,000).
    full = args.size >= FULL_RESIDENTS and open_n >= FULL_REQUESTS
    floor_p95 = percentile(timed["floor"], 95)
    healthz_p95 = percentile(timed["healthz"], 95)
    common = {"bench": BENCH, "db": args.db, "size": residents, "open_errands": open_n,
              "samples": args.samples}
    emit(metric="floor.my_insurance.p95_ms", value=floor_p95, unit="ms",
         p50_ms=round(percentile(timed["floor"], 50), 2), **common)
    emit(metric="healthz.p95_ms", value=healthz_p95, unit="ms",
         p50_ms=round(percentile(timed["healthz"], 50), 2), **common)
    for page in ("queue", "queue_medicine", "lists", "figures"):
        if page in skipped:
            # No value to report: a null, never a number that could be read as a time.
            print(json.dumps({**common, "metric": f"{page}.p95_ms", "value": None,
                              "unit": "ms", "skipped": True, "target": TARGET,
                              "meets_target": False}, ensure_ascii=False), flush=True)
            continue
        samples = timed[page]
        p95 = percentile(samples, 95)
        say(f"[errands] {page:<15} p50 {percentile(samples, 50):7.1f} ms  p95 {p95:7.1f} ms "
            f"(floor {floor_p95:.1f} ms, /healthz {healthz_p95:.1f} ms)")
        for pct in (50, 95, 99):
            value = percentile(samples, pct)
            extra: dict = {}
            if pct == 95:
                extra = {"floor_value": floor_p95, "ratio": value / floor_p95,
                         "healthz_p95_ms": round(healthz_p95, 2)}
                # The figures page has no target of its own: it is reported for information.
                if page != "figures":
                    extra.update(target=TARGET, meets_target=value < TARGET_MS and full,
                                 full_size=full)
            emit(metric=f"{page}.p{pct}_ms", value=value, unit="ms", **extra, **common)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
