"""Load a synthetic city into the database, fast: areas through the ORM (a few thousand
rows), dwellings and residents with explicit ids through bulk SQL (executemany on SQLite,
COPY on PostgreSQL), in one transaction. Sealing of ID numbers and phones is the same as
for rows typed in by a worker (fangkong.residents.personal)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from fangkong.lib import crypto
from fangkong.lib.pinyin import name_initials
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

BUILDING_COLS = ("id", "number", "name", "address", "estate", "floors", "units", "district_id",
                 "street_id", "community_id", "grid_id")
HOUSEHOLD_COLS = ("id", "building_id", "unit", "room", "label", "remarks", "district_id",
                  "street_id", "community_id", "grid_id")
RESIDENT_COLS = ("id", "household_id", "relation", "name", "name_initials", "gender",
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


def bulk_insert(table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert rows the fastest plain way each database offers."""
    if not rows:
        return
    cols = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # noqa: S608
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)  # noqa: S608


def _next_id(model) -> int:  # noqa: ANN001
    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def _reset_sequences(models: Sequence) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"COALESCE((SELECT MAX(id) FROM {table}), 1))")


def _create_areas(spec: CitySpec, shape) -> tuple[Area, list[tuple[Area, object]]]:  # noqa: ANN001
    rng = random.Random(f"{spec.seed}:areas")
    city_name, city_code = names.CITY
    if Area.objects.filter(path=city_code).exists():
        raise ValueError(f"the city {city_name} ({city_code}) is loaded already")
    city = Area.objects.create(kind=AreaKind.CITY, name=city_name, code=city_code,
                               path=city_code, depth=0)
    used: set[str] = set()
    grids: list[tuple[Area, object]] = []
    districts = []
    for d in range(shape.districts):
        name, code = names.DISTRICTS[d]
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


def load_city(spec: CitySpec, *, progress: Progress | None = None) -> LoadReport:
    """Generate and store a whole city in one transaction; returns what was loaded."""
    started = time.perf_counter()
    shape = plan_shape(spec)
    ring = crypto.keyring()
    seal, index = ring.seal, ring.blind_index
    from fangkong.lib.idcard import mask_id_number
    from fangkong.lib.phone import mask_phone

    tag_ids = dict(Tag.objects.values_list("slug", "id"))
    now: datetime = timezone.now()
    maker = PeopleMaker(spec.seed)
    totals = {"residents": 0, "households": 0, "buildings": 0}
    with transaction.atomic():
        city, grids = _create_areas(spec, shape)
        parents = {a.pk: a for a in Area.objects.filter(path__startswith=city.path + ".")
                   .exclude(kind=AreaKind.GRID)}
        building_id, household_id, resident_id = (_next_id(Building), _next_id(Household),
                                                  _next_id(Resident))
        estate_rng = random.Random(f"{spec.seed}:estates")
        estates: dict[int, tuple[str, str]] = {}
        expected = spec.residents
        for grid, plan in grids:
            community = parents[grid.parent_id]
            street = parents[community.parent_id]
            district = parents[street.parent_id]
            scope = (district.pk, street.pk, community.pk, grid.pk)
            if community.pk not in estates:
                estates[community.pk] = (estate_name(estate_rng), road_name(estate_rng))
            estate, road = estates[community.pk]
            estate = f"{estate}{plan.grid_number}期" if plan.grid_number > 1 else estate
            b_rows: list[tuple] = []
            h_rows: list[tuple] = []
            r_rows: list[tuple] = []
            t_rows: list[tuple] = []
            p_rows: list[tuple] = []
            for building, households in grid_dwellings(
                    maker, region=district.code, households=plan.households, estate=estate,
                    road=road, first_building=1):
                if not households:
                    continue
                b_rows.append((building_id, building.number, building.name, building.address,
                               building.estate, building.floors, building.units, *scope))
                for hh in households:
                    label = f"{building.name}{hh.unit}单元{hh.room}"
                    h_rows.append((household_id, building_id, hh.unit, hh.room, label, "",
                                   *scope))
                    for person in hh.members:
                        idn = person.id_number
                        phone = person.phone
                        r_rows.append((
                            resident_id, household_id, person.relation, person.name,
                            name_initials(person.name), person.gender, person.birth,
                            seal(idn, purpose=ID_NUMBER), index(idn, purpose=ID_NUMBER),
                            mask_id_number(idn),
                            seal(phone, purpose=PHONE) if phone else None,
                            index(phone, purpose=PHONE) if phone else None,
                            mask_phone(phone) if phone else "", phone[-4:] if phone else "",
                            "mobile" if phone else "", person.preferred_channel, "", "",
                            "active", now, now, 1, *scope))
                        for slug in person.tags:
                            t_rows.append((resident_id, tag_ids[slug]))
                        if person.proxy:
                            p_name, p_rel, p_phone = person.proxy
                            p_rows.append((resident_id, p_name, p_rel,
                                           seal(p_phone, purpose=PHONE),
                                           index(p_phone, purpose=PHONE), mask_phone(p_phone),
                                           p_phone[-4:], now))
                        resident_id += 1
                    household_id += 1
                building_id += 1
            bulk_insert(Building._meta.db_table, BUILDING_COLS, b_rows)
            bulk_insert(Household._meta.db_table, HOUSEHOLD_COLS, h_rows)
            bulk_insert(Resident._meta.db_table, RESIDENT_COLS, r_rows)
            bulk_insert(Resident.tags.through._meta.db_table, TAG_COLS, t_rows)
            bulk_insert(Proxy._meta.db_table, PROXY_COLS, p_rows)
            totals["residents"] += len(r_rows)
            totals["households"] += len(h_rows)
            totals["buildings"] += len(b_rows)
            if progress:
                progress(totals["residents"], expected)
        _reset_sequences([Building, Household, Resident, Proxy, Resident.tags.through])
        stats_refresh()
    return LoadReport(city=city, residents=totals["residents"],
                      households=totals["households"], buildings=totals["buildings"],
                      grids=len(grids), seconds=time.perf_counter() - started)
