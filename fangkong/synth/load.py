"""Load a synthetic city into the database, fast: areas through the ORM (a few thousand
rows), dwellings and residents with explicit ids through bulk SQL (executemany on SQLite,
COPY on PostgreSQL), in one transaction. Sealing of ID numbers and phones is the same as
for rows typed in by a worker (fangkong.residents.personal)."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fangkong.lib import crypto
from fangkong.lib.bulk import (
    analyze,
    bulk_insert,
    checks_deferred,
    next_id,
    reset_sequences,
    sqlite_fk_off,
)
from fangkong.lib.idcard import check_digit, mask_id_number
from fangkong.lib.phone import mask_phone
from fangkong.lib.pinyin import name_initials, pinyin_full
from fangkong.places.models import AREA_LEVELS, Area, AreaKind, AreaStats, Building, Household
from fangkong.places.services import stats_refresh
from fangkong.residents.models import Proxy, Resident, Tag
from fangkong.residents.personal import ID_NUMBER, PHONE
from fangkong.synth import names
from fangkong.synth.city import (
    CitySpec,
    PeopleMaker,
    community_name,
    estate_name,
    grid_dwellings,
    plan_shape,
    road_name,
    street_name,
)

Progress = Callable[[int, int], None]
# From this many residents on, indexes are built after the rows are in, not row by row.
BIG_LOAD = 50_000

BUILDING_COLS = ("id", "number", "name", "address", "estate", "floors", "units", "district_id",
                 "street_id", "community_id", "grid_id")
HOUSEHOLD_COLS = ("id", "building_id", "unit", "room", "label", "remarks", "district_id",
                  "street_id", "community_id", "grid_id")
RESIDENT_COLS = ("id", "household_id", "relation", "name", "name_initials", "name_pinyin",
                 "gender",
                 "birth_date", "id_number_sealed", "id_number_index", "id_number_masked",
                 "phone_sealed", "phone_index", "phone_masked", "phone_last4", "phone_kind",
                 "preferred_channel", "language_note", "remarks", "status", "created_at",
                 "updated_at", "version", "district_id", "street_id", "community_id",
                 "grid_id")
TAG_COLS = ("resident_id", "tag_id")
PROXY_COLS = ("resident_id", "name", "relation", "phone_sealed", "phone_index",
              "phone_masked", "phone_last4", "created_at")


@dataclass
class LoadReport:
    city: Area
    residents: int
    households: int
    buildings: int
    grids: int
    seconds: float
    # Where the time went: waiting for generated grids, inserting, building indexes,
    # computing area figures.
    phases: dict[str, float] = field(default_factory=dict)


def _create_areas(spec: CitySpec, shape) -> tuple[Area, list[tuple[Area, object]]]:  # noqa: ANN001
    rng = random.Random(f"{spec.seed}:areas")
    city_code = spec.city
    city_name, district_names = names.CITIES[city_code]
    if Area.objects.filter(path=city_code).exists():
        raise ValueError(f"the city {city_name} ({city_code}) is loaded already")
    city = Area.objects.create(kind=AreaKind.CITY, name=city_name, code=city_code,
                               path=city_code, depth=0)
    used: set[str] = set()
    grids: list[tuple[Area, object]] = []
    districts = []
    for d in range(shape.districts):
        name, code = district_names[d]
        districts.append(Area(kind=AreaKind.DISTRICT, name=name, code=code, parent=city,
                              path=f"{city.path}.{code}", depth=1, sort_order=d))
    Area.objects.bulk_create(districts)
    streets = []
    for district, n in zip(districts, shape.streets_per_district, strict=True):
        for s in range(n):
            streets.append(Area(kind=AreaKind.STREET, name=street_name(rng, used),
                                code=f"{district.code}{s + 1:03d}", parent=district,
                                path=f"{district.path}.{s + 1:03d}", depth=2, sort_order=s))
    Area.objects.bulk_create(streets)
    communities = []
    street_iter = iter(streets)
    community_index: dict[tuple[int, int, int], Area] = {}
    for d, per_street in enumerate(shape.communities_per_street):
        for s, n in enumerate(per_street):
            street = next(street_iter)
            for c in range(n):
                area = Area(kind=AreaKind.COMMUNITY, name=community_name(rng, used),
                            code=f"{street.code}{c + 1:03d}", parent=street,
                            path=f"{street.path}.{c + 1:03d}", depth=3, sort_order=c)
                communities.append(area)
                community_index[(d, s, c)] = area
    Area.objects.bulk_create(communities)
    grid_areas = []
    for plan in shape.grids:
        community = community_index[(plan.district_index, plan.street_index,
                                     plan.community_index)]
        area = Area(kind=AreaKind.GRID, name=f"第{plan.grid_number}网格", parent=community,
                    path=f"{community.path}.{plan.grid_number:02d}", depth=AREA_LEVELS["grid"],
                    sort_order=plan.grid_number)
        grid_areas.append(area)
        grids.append((area, plan))
    Area.objects.bulk_create(grid_areas)
    AreaStats.objects.bulk_create([AreaStats(area=a) for a in
                                   [city, *districts, *streets, *communities, *grid_areas]])
    return city, grids


@dataclass(frozen=True)
class GridJob:
    """Everything needed to make one grid's rows, in any process."""

    index: int
    seed: int
    region: str
    households: int
    estate: str
    road: str
    data_key: str


@dataclass
class GridRows:
    """One grid's rows with grid-local numbering; the loader assigns the database ids."""

    buildings: list[tuple]  # (number, name, address, estate, floors, units)
    households: list[tuple]  # (building_local, unit, room, label)
    residents: list[list]  # (household_local, relation, name, initials, pinyin, gender, birth,
    #                         id_number, id sealed, id index, id masked, phone sealed,
    #                         phone index, phone masked, last4, phone kind, channel)
    tags: list[tuple]  # (resident_local, slug)
    proxies: list[tuple]  # (resident_local, name, relation, sealed, index, masked, last4)


def build_grid(job: GridJob) -> GridRows:
    """Make and seal one grid's rows. Pure: no database, same output in any process."""
    ring = crypto._keyring_for(job.data_key)
    seal, index = ring.seal, ring.blind_index
    maker = PeopleMaker(f"{job.seed}:grid:{job.index}")
    out = GridRows([], [], [], [], [])
    for building, households in grid_dwellings(maker, region=job.region,
                                                households=job.households,
                                                estate=job.estate, road=job.road,
                                                first_building=1):
        if not households:
            continue
        b_local = len(out.buildings)
        out.buildings.append((building.number, building.name, building.address,
                              building.estate, building.floors, building.units))
        for hh in households:
            h_local = len(out.households)
            out.households.append((b_local, hh.unit, hh.room,
                                   f"{building.name}{hh.unit}单元{hh.room}"))
            for person in hh.members:
                r_local = len(out.residents)
                idn, phone = person.id_number, person.phone
                out.residents.append([
                    h_local, person.relation, person.name, name_initials(person.name),
                    pinyin_full(person.name), person.gender, person.birth, idn, seal(idn, purpose=ID_NUMBER),
                    index(idn, purpose=ID_NUMBER), mask_id_number(idn),
                    seal(phone, purpose=PHONE) if phone else None,
                    index(phone, purpose=PHONE) if phone else None,
                    mask_phone(phone) if phone else "", phone[-4:] if phone else "",
                    "mobile" if phone else "", person.preferred_channel])
                out.tags.extend((r_local, slug) for slug in person.tags)
                if person.proxy:
                    p_name, p_rel, p_phone = person.proxy
                    out.proxies.append((r_local, p_name, p_rel, seal(p_phone, purpose=PHONE),
                                        index(p_phone, purpose=PHONE), mask_phone(p_phone),
                                        p_phone[-4:]))
    return out


class UniqueIdNumbers:
    """Makes drawn ID numbers unique across the city, deterministically (in grid order):
    a clash moves to the next free sequence number of the same sex."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def claim(self, number: str) -> str | None:
        """None when `number` is free (now taken), else a free replacement."""
        key = int(number[:17])
        if key not in self.seen:
            self.seen.add(key)
            return None
        first17 = number[:17]
        seq = int(first17[14:17])
        for step in range(1, 500):
            candidate = (seq + 2 * step) % 1000
            attempt = f"{first17[:14]}{candidate:03d}"
            if int(attempt) not in self.seen:
                self.seen.add(int(attempt))
                return attempt + check_digit(attempt)
        raise ValueError(f"no free ID number left for {first17[:14]}")


def _grid_stream(jobs: list[GridJob], processes: int) -> Iterator[GridRows]:
    if processes <= 1 or len(jobs) < 4:
        yield from map(build_grid, jobs)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(processes) as pool:
        yield from pool.imap(build_grid, jobs, chunksize=2)


def _grid_jobs(spec: CitySpec, grids: list, parents: dict[int, Area]) -> tuple[
        list[GridJob], list[tuple[int, int, int, int]]]:
    """One job per grid (what a process needs to make its rows) and the grid's area ids."""
    estate_rng = random.Random(f"{spec.seed}:estates")
    estates: dict[int, tuple[str, str]] = {}
    jobs: list[GridJob] = []
    scopes: list[tuple[int, int, int, int]] = []
    for index, (grid, plan) in enumerate(grids):
        community = parents[grid.parent_id]
        street = parents[community.parent_id]
        district = parents[street.parent_id]
        scopes.append((district.pk, street.pk, community.pk, grid.pk))
        if community.pk not in estates:
            estates[community.pk] = (estate_name(estate_rng), road_name(estate_rng))
        estate, road = estates[community.pk]
        estate = f"{estate}{plan.grid_number}期" if plan.grid_number > 1 else estate
        jobs.append(GridJob(index=index, seed=spec.seed, region=district.code,
                            households=plan.households, estate=estate, road=road,
                            data_key=settings.DATA_KEY))
    return jobs, scopes


def load_city(spec: CitySpec, *, progress: Progress | None = None,
              processes: int | None = None) -> LoadReport:
    """Generate and store a whole city in one transaction; returns what was loaded.

    Grids are made in parallel processes (all cores by default) and written here in
    grid order, so the city is the same whatever the number of processes."""
    started = time.perf_counter()
    shape = plan_shape(spec)
    ring = crypto.keyring()
    if processes is None:
        processes = (os.cpu_count() or 1) if spec.residents >= BIG_LOAD else 1
    tag_ids = dict(Tag.objects.values_list("slug", "id"))
    now: datetime = timezone.now()
    unique_ids = UniqueIdNumbers()
    big = spec.residents >= BIG_LOAD and spec.residents >= Resident.objects.count()
    with sqlite_fk_off(big), transaction.atomic():
        city, grids = _create_areas(spec, shape)
        parents = {a.pk: a for a in Area.objects.filter(path__prefix=city.path + ".")
                   .exclude(kind=AreaKind.GRID)}
        building_id, household_id, resident_id = (next_id(Building), next_id(Household),
                                                  next_id(Resident))
        first_ids = (building_id, household_id, resident_id)
        tables = [Resident._meta.db_table, Resident.tags.through._meta.db_table,
                  Household._meta.db_table, Proxy._meta.db_table, Building._meta.db_table]
        jobs, scopes = _grid_jobs(spec, grids, parents)
        phases = {"generate_wait": 0.0, "insert": 0.0, "indexes": 0.0, "figures": 0.0}
        with checks_deferred(tables) if big else nullcontext():
            stream = _grid_stream(jobs, processes)
            clock = time.perf_counter()
            for scope, rows in zip(scopes, stream, strict=True):
                now_clock = time.perf_counter()
                phases["generate_wait"] += now_clock - clock
                b0, h0, r0 = building_id, household_id, resident_id
                b_rows = [(b0 + i, *b, *scope) for i, b in enumerate(rows.buildings)]
                h_rows = [(h0 + i, b0 + h[0], h[1], h[2], h[3], "", *scope)
                          for i, h in enumerate(rows.households)]
                r_rows = []
                for i, r in enumerate(rows.residents):
                    replacement = unique_ids.claim(r[7])
                    if replacement is not None:
                        r[8] = ring.seal(replacement, purpose=ID_NUMBER)
                        r[9] = ring.blind_index(replacement, purpose=ID_NUMBER)
                        r[10] = mask_id_number(replacement)
                    r_rows.append((r0 + i, h0 + r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[8],
                                   r[9], r[10], r[11], r[12], r[13], r[14], r[15], r[16], "", "",
                                   "active", now, now, 1, *scope))
                t_rows = [(r0 + t[0], tag_ids[t[1]]) for t in rows.tags]
                p_rows = [(r0 + p[0], *p[1:], now) for p in rows.proxies]
                bulk_insert(Building._meta.db_table, BUILDING_COLS, b_rows)
                bulk_insert(Household._meta.db_table, HOUSEHOLD_COLS, h_rows)
                bulk_insert(Resident._meta.db_table, RESIDENT_COLS, r_rows)
                bulk_insert(Resident.tags.through._meta.db_table, TAG_COLS, t_rows)
                bulk_insert(Proxy._meta.db_table, PROXY_COLS, p_rows)
                building_id += len(b_rows)
                household_id += len(h_rows)
                resident_id += len(r_rows)
                if progress:
                    progress(resident_id - first_ids[2], spec.residents)
                clock = time.perf_counter()
                phases["insert"] += clock - now_clock
        reset_sequences([Building, Household, Resident, Proxy, Resident.tags.through])
        if big:
            analyze(tables)
        phases["indexes"] = time.perf_counter() - clock
        stats_refresh()
        phases["figures"] = time.perf_counter() - clock - phases["indexes"]
    return LoadReport(city=city, residents=resident_id - first_ids[2],
                      households=household_id - first_ids[1],
                      buildings=building_id - first_ids[0], grids=len(grids), seconds=time.perf_counter() - started,
                      phases={k: round(v, 2) for k, v in phases.items()})
