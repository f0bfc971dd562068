"""Generate a synthetic city: areas, buildings, households and residents.

Deterministic: the same spec (size, seed, shape) gives the same city, whatever the day.
Realistic where it matters to the product: a census-like age pyramid with many elderly
people living alone, households of 1 to 6, grids of 300 to 500 households, valid ID
numbers consistent with birth date, gender and district code, mobile numbers, proxies
for the very old. Rows are produced grid by grid so that 10 million residents stream
through without being held in memory.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate

from fangkong.lib.idcard import make_id_number
from fangkong.synth import names

REFERENCE_DATE = date(2026, 1, 1)  # ages are drawn against this day, not today
HOUSEHOLDS_PER_GRID = (300, 500)
MEAN_HOUSEHOLD = 2.58

# Household shapes: weight, and a recipe of (role, age band) members.
# Bands: (min age, max age). Roles decide relation to the householder and surname.
_SHAPES: list[tuple[float, str]] = [
    (10.0, "elderly_alone"),
    (14.0, "single_adult"),
    (12.0, "elderly_couple"),
    (12.0, "couple"),
    (22.0, "couple_one_child"),
    (10.0, "couple_two_children"),
    (12.0, "three_generations"),
    (8.0, "tenants"),
]
_SHAPE_CUM = list(accumulate(w for w, _ in _SHAPES))
_SURNAME_CUM = list(accumulate(w for _, w in names.SURNAMES))


@dataclass(frozen=True)
class CitySpec:
    residents: int
    seed: int = 2020
    streets: int | None = None
    communities: int | None = None  # total, spread over the streets
    districts: int | None = None
    city: str = names.DEFAULT_CITY  # GB/T 2260 code of a city in names.CITIES


@dataclass
class GridPlan:
    district_index: int
    street_index: int
    community_index: int
    grid_number: int
    households: int


@dataclass
class AreaShape:
    districts: int
    streets_per_district: list[int]
    communities_per_street: list[list[int]]
    grids: list[GridPlan] = field(default_factory=list)


def plan_shape(spec: CitySpec) -> AreaShape:
    """How many districts, streets, communities and grids, and households per grid."""
    rng = random.Random(f"{spec.seed}:shape")
    households = max(1, math.ceil(spec.residents / MEAN_HOUSEHOLD))
    grids = max(1, round(households / sum(HOUSEHOLDS_PER_GRID) * 2))
    communities = spec.communities or max(1, round(grids / 6))
    streets = spec.streets or max(1, round(communities / 10))
    available = len(names.CITIES[spec.city][1])
    districts = min(available, spec.districts or max(1, round(streets / 10)))
    communities = max(communities, streets)
    streets = max(streets, districts)
    grids = max(grids, communities)

    streets_per_district = _spread(streets, districts)
    communities_per_street = []
    street_sizes = _spread(communities, streets)
    k = 0
    for n in streets_per_district:
        communities_per_street.append(street_sizes[k : k + n])
        k += n
    shape = AreaShape(districts, streets_per_district, communities_per_street)

    grid_sizes = _spread(grids, communities)
    # Households per grid: 300 to 500, scaled so the city has about the wanted total.
    raw = [rng.randint(*HOUSEHOLDS_PER_GRID) for _ in range(grids)]
    scale = households / sum(raw)
    c = 0
    g = 0
    for d, per_street in enumerate(communities_per_street):
        for s, n_comm in enumerate(per_street):
            for ci in range(n_comm):
                for number in range(1, grid_sizes[c] + 1):
                    shape.grids.append(GridPlan(d, s, ci, number,
                                                max(1, round(raw[g] * scale))))
                    g += 1
                c += 1
    return shape


def _spread(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def street_name(rng: random.Random, used: set[str]) -> str:
    return _unique_place(rng, used, names.STREET_SUFFIX)


def community_name(rng: random.Random, used: set[str]) -> str:
    return _unique_place(rng, used, names.COMMUNITY_SUFFIX)


def _unique_place(rng: random.Random, used: set[str], suffix: str) -> str:
    words = names.PLACE_WORDS
    for attempt in range(4000):
        # One place word while they last, then pairs of them (large cities).
        word = rng.choice(words) if attempt < 200 else rng.choice(words) + rng.choice(words)
        candidate = word + suffix if attempt < 3000 else f"{word}{attempt}{suffix}"
        if candidate not in used:
            used.add(candidate)
            return candidate
    raise RuntimeError("ran out of place names")


@dataclass
class PersonRow:
    name: str
    gender: str
    birth: date
    relation: str
    id_number: str
    phone: str | None
    tags: list[str]
    preferred_channel: str
    proxy: tuple[str, str, str] | None  # name, relation, phone


@dataclass
class HouseholdRow:
    building_no: int
    unit: int
    room: str
    members: list[PersonRow]


@dataclass
class BuildingRow:
    number: int
    name: str
    estate: str
    address: str
    floors: int
    units: int


class PeopleMaker:
    """Draws the people of one grid from its own random stream, so that a grid is the same
    whichever process makes it. ID numbers are drawn with a random sequence number; the
    loader makes them unique across the city (see fangkong.synth.load)."""

    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(f"{seed}:people")
        self.phone_seen: set[int] = set()
        self.ref_ordinal = REFERENCE_DATE.toordinal()

    def surname(self) -> str:
        rng = self.rng
        r = rng.random() * _SURNAME_CUM[-1]
        lo, hi = 0, len(_SURNAME_CUM) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if _SURNAME_CUM[mid] < r:
                lo = mid + 1
            else:
                hi = mid
        return names.SURNAMES[lo][0]

    def given(self, gender: str) -> str:
        pool = names.MALE_GIVEN if gender == "M" else names.FEMALE_GIVEN
        rng = self.rng
        if rng.random() < 0.3:
            return pool[int(rng.random() * len(pool))]
        return pool[int(rng.random() * len(pool))] + pool[int(rng.random() * len(pool))]

    def birth(self, lo: int, hi: int) -> date:
        days = int(self.rng.random() * ((hi - lo + 1) * 365.25)) + int(lo * 365.25)
        return date.fromordinal(self.ref_ordinal - days - 1)

    def id_number(self, region: str, birth: date, gender: str) -> str:
        k = int(self.rng.random() * 500)
        return make_id_number(region, birth, 2 * k + 1 if gender == "M" else 2 * k)

    def mobile(self) -> str:
        rng = self.rng
        while True:
            prefix = rng.choice(("13", "15", "17", "18", "19", "14", "16"))
            number = int(prefix + f"{int(rng.random() * 1_000_000_000):09d}")
            if number not in self.phone_seen:
                self.phone_seen.add(number)
                return str(number)

    def person(self, *, region: str, gender: str, age: tuple[int, int], relation: str,
               surname: str | None = None, tags: list[str] | None = None) -> PersonRow:
        rng = self.rng
        birth = self.birth(*age)
        years = (REFERENCE_DATE - birth).days // 365
        tags = list(tags or [])
        if years >= 80:
            tags.append("elderly")
            if rng.random() < 0.08:
                tags.append("bedridden")
        if years >= 55 and rng.random() < 0.28:
            tags.append("chronic")
        if rng.random() < 0.035:
            tags.append("disabled")
        if years <= 6:
            tags.append("child")
        if gender == "F" and 22 <= years <= 38 and rng.random() < 0.04:
            tags.append("pregnant")
        if 18 <= years <= 55 and rng.random() < 0.03:
            tags.append("returnee")
        has_phone = years >= 14 and rng.random() < (
            0.97 if years < 65 else 0.75 if years < 75 else 0.45 if years < 85 else 0.2)
        if years >= 70 and (not has_phone or rng.random() < 0.4):
            tags.append("no_smartphone")
        channel = "voice" if years >= 80 else ("visit" if not has_phone and years >= 14 else "")
        proxy = None
        if years >= 75 and (not has_phone or "elderly_alone" in tags or rng.random() < 0.3):
            proxy = (self.surname() + self.given(rng.choice("MF")),
                     rng.choice(names.PROXY_RELATIONS), self.mobile())
        return PersonRow(
            name=(surname or self.surname()) + self.given(gender), gender=gender, birth=birth,
            relation=relation, id_number=self.id_number(region, birth, gender),
            phone=self.mobile() if has_phone else None, tags=tags,
            preferred_channel=channel, proxy=proxy)

    def household(self, region: str) -> list[PersonRow]:
        members = self._members(region)
        if self.rng.random() < 0.025:  # about 2.5% of households receive 低保
            for person in members:
                person.tags.append("low_income")
        return members

    def _members(self, region: str) -> list[PersonRow]:
        rng = self.rng
        r = rng.random() * _SHAPE_CUM[-1]
        shape = next(s for (_, s), c in zip(_SHAPES, _SHAPE_CUM, strict=True) if r <= c)
        sex = rng.choice("MF")
        person = self.person
        if shape == "elderly_alone":
            # Women outlive men: most people living alone in old age are widows.
            g = "F" if rng.random() < 0.68 else "M"
            return [person(region=region, gender=g, age=(65, 98), relation="self",
                           tags=["elderly_alone"])]
        if shape == "single_adult":
            return [person(region=region, gender=sex, age=(20, 64), relation="self")]
        if shape == "tenants":
            n = rng.choice((2, 2, 3))
            far = rng.choice(names.OTHER_REGIONS)
            return [person(region=far if rng.random() < 0.7 else region,
                           gender=rng.choice("MF"), age=(19, 42),
                           relation="self" if i == 0 else "tenant") for i in range(n)]
        if shape == "elderly_couple":
            head = person(region=region, gender="M", age=(65, 92), relation="self")
            return [head, person(region=region, gender="F", age=(62, 90), relation="spouse")]
        head = person(region=region, gender="M", age=(26, 58), relation="self")
        members = [head, person(region=region, gender="F", age=(24, 56), relation="spouse")]
        family = _surname_of(head.name)
        head_age = (REFERENCE_DATE - head.birth).days // 365
        child_max = max(0, min(30, head_age - 20))
        if shape in ("couple_one_child", "couple_two_children", "three_generations"):
            n = 1 if shape == "couple_one_child" else (2 if shape == "couple_two_children"
                                                       else rng.choice((1, 1, 2)))
            for _ in range(n):
                members.append(person(region=region, gender=rng.choice("MF"),
                                      age=(0, child_max), relation="child", surname=family))
        if shape == "three_generations":
            gp_lo = min(98, head_age + 20)
            members.append(person(region=region, gender="F", age=(gp_lo, min(99, gp_lo + 15)),
                                  relation="parent"))
            if rng.random() < 0.5:
                members.append(person(region=region, gender="M",
                                      age=(gp_lo, min(99, gp_lo + 15)), relation="parent",
                                      surname=family))
        return members


def _surname_of(name: str) -> str:
    for compound in ("欧阳", "司马", "诸葛", "上官"):
        if name.startswith(compound):
            return compound
    return name[0]


def grid_dwellings(maker: PeopleMaker, *, region: str, households: int, estate: str,
                   road: str, first_building: int) -> Iterator[tuple[BuildingRow,
                                                                       list[HouseholdRow]]]:
    """Buildings of one grid, filled with `households` households (about 85% occupancy)."""
    rng = maker.rng
    number = first_building
    left = households
    while left > 0:
        floors = rng.choice((6, 6, 7, 7, 11, 18, 26, 33))
        units = rng.choice((1, 2, 2, 3, 4)) if floors <= 11 else rng.choice((1, 2))
        per_floor = 2 if floors <= 11 else rng.choice((2, 4))
        building = BuildingRow(number=number, name=f"{number}栋", estate=estate,
                               address=f"{road}{rng.randint(1, 399)}号{estate}{number}栋",
                               floors=floors, units=units)
        rows: list[HouseholdRow] = []
        for unit in range(1, units + 1):
            for floor in range(1, floors + 1):
                for k in range(1, per_floor + 1):
                    if left <= 0:
                        break
                    if rng.random() < 0.15:  # vacant or not registered
                        continue
                    rows.append(HouseholdRow(building_no=number, unit=unit,
                                             room=f"{floor}{k:02d}",
                                             members=maker.household(region)))
                    left -= 1
        yield building, rows
        number += 1


def estate_name(rng: random.Random) -> str:
    return rng.choice(names.PLACE_WORDS) + rng.choice(names.ESTATE_WORDS)


def road_name(rng: random.Random) -> str:
    return rng.choice(names.PLACE_WORDS) + rng.choice(names.ROAD_WORDS)
