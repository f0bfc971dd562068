"""A small town of our own for the API tests, built through the services once per test
module (each test runs in a savepoint), and a client that calls the API as one of its
personas with a bearer token.

The town lives under its own root path ("apitest") with user names prefixed "api_" and
ID numbers from a region the synthetic city does not use, so it can sit beside the
shared session city (tests/conftest.py) without touching it: every expectation here is
about the town's own areas.

    city > district > street S1 > community C1 > grids A1, A2
                    > street S2 > community C2 > grids B1, B2

Each grid has one building with two households: 101 (householder and spouse) and 102
(one elderly resident living alone). Every resident has a phone and an ID number.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from django.db import transaction
from django.test import Client, override_settings

from fangkong.accounts.models import Role, User
from fangkong.accounts.services import api_token_create, staff_create
from fangkong.lib.idcard import make_id_number
from fangkong.places.models import Area, AreaKind, Building, Household
from fangkong.places.services import area_create, building_create, household_create
from fangkong.residents.models import Relation, Resident, Tag
from fangkong.residents.services import ResidentInput, resident_create

# Hashing the personas' passwords at full strength would take most of the setup.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REGION = "659001"  # not used by the synthetic city's generator
GRIDS = ("A1", "A2", "B1", "B2")

# persona -> (role, key of its area in Town.areas)
PERSONAS: dict[str, tuple[str, str]] = {
    "grid_worker": (Role.GRID_WORKER, "A1"),
    "community_worker": (Role.COMMUNITY_WORKER, "C1"),
    "community_secretary": (Role.COMMUNITY_SECRETARY, "C1"),
    "street_officer": (Role.STREET_OFFICER, "S1"),
    "admin": (Role.ADMIN, "district"),
    "gate_guard": (Role.GATE_GUARD, "C1"),
    "volunteer": (Role.VOLUNTEER, "C1"),
}
# The grids whose residents each registry persona sees.
VISIBLE_GRIDS: dict[str, set[str]] = {
    "grid_worker": {"A1"},
    "community_worker": {"A1", "A2"},
    "community_secretary": {"A1", "A2"},
    "street_officer": {"A1", "A2"},
    "admin": {"A1", "A2", "B1", "B2"},
}
REGISTRY_PERSONAS = tuple(VISIBLE_GRIDS)
NO_REGISTRY_PERSONAS = ("gate_guard", "volunteer")


@dataclass
class Town:
    areas: dict[str, Area] = field(default_factory=dict)
    buildings: dict[str, Building] = field(default_factory=dict)
    households: dict[str, list[Household]] = field(default_factory=dict)
    residents: dict[str, list[Resident]] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    clear_phone: dict[int, str] = field(default_factory=dict)
    clear_id_number: dict[int, str] = field(default_factory=dict)

    def resident(self, grid: str, n: int = 0) -> Resident:
        return self.residents[grid][n]

    def resident_ids(self, grids: set[str]) -> set[int]:
        return {r.pk for g in grids for r in self.residents[g]}


def _person_numbers(seq: int, birth: date, male: bool) -> tuple[str, str]:
    odd = seq * 2 + (1 if male else 0)
    return make_id_number(REGION, birth, odd), f"139{seq:08d}"


def build_town() -> Town:
    town = Town()
    a = town.areas
    a["city"] = area_create(kind=AreaKind.CITY, name="测试市", parent=None, segment="apitest")
    a["district"] = area_create(kind=AreaKind.DISTRICT, name="测试区", parent=a["city"])
    for s in ("1", "2"):
        street = a[f"S{s}"] = area_create(kind=AreaKind.STREET, name=f"第{s}街道",
                                          parent=a["district"])
        community = a[f"C{s}"] = area_create(kind=AreaKind.COMMUNITY, name=f"第{s}社区",
                                             parent=street)
        letter = "AB"[int(s) - 1]
        for g in ("1", "2"):
            a[f"{letter}{g}"] = area_create(kind=AreaKind.GRID, name=f"{letter}{g}网格",
                                            parent=community)

    root = User.objects.create_superuser(username="api_root", password="unused-in-tests")
    seq = 0
    for g in GRIDS:
        building = town.buildings[g] = building_create(grid=a[g], number=1)
        homes = town.households[g] = [
            household_create(building=building, unit=1, room="101"),
            household_create(building=building, unit=1, room="102"),
        ]
        people = [
            (homes[0], f"{g}张伟", date(1980, 5, 1), True, Relation.SELF, []),
            (homes[0], f"{g}李娜", date(1982, 7, 9), False, Relation.SPOUSE, []),
            (homes[1], f"{g}王秀英", date(1941, 2, 3), False, Relation.SELF, ["elderly_alone"]),
        ]
        town.residents[g] = []
        for home, name, birth, male, relation, tags in people:
            seq += 1
            id_number, phone = _person_numbers(seq, birth, male)
            resident = resident_create(by=root, data=ResidentInput(
                household=home, name=name, id_number=id_number, phone=phone,
                relation=relation, tags=list(Tag.objects.filter(slug__in=tags))))
            town.residents[g].append(resident)
            town.clear_phone[resident.pk] = phone
            town.clear_id_number[resident.pk] = id_number

    for persona, (role, area_key) in PERSONAS.items():
        user = staff_create(username=f"api_{persona}", password="unused-in-tests", role=role,
                            area=a[area_key], check_password=False)
        town.users[persona] = user
        _token, clear = api_token_create(user=user, name="tests")
        town.tokens[persona] = clear
    return town


@pytest.fixture(scope="module")
def _town_rows(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Town]:
    """The town's rows, built once per test module inside a transaction that is rolled
    back afterwards (like TestCase.setUpTestData); each test runs in a savepoint."""
    with (django_db_blocker.unblock(),
          override_settings(PASSWORD_HASHERS=FAST_HASHERS),
          transaction.atomic()):
        yield build_town()
        transaction.set_rollback(True)


@pytest.fixture
def town(_town_rows: Town, db: Any) -> Town:
    # A copy, so that refresh_from_db() in one test leaves the next one's objects alone.
    return copy.deepcopy(_town_rows)


class Api:
    """Calls /api/ with a persona's bearer token; bodies are JSON."""

    def __init__(self, town: Town) -> None:
        self.town = town
        self.client = Client()

    def _auth(self, persona: str | None, token: str | None) -> dict[str, str]:
        token = token if token is not None else (self.town.tokens[persona] if persona else None)
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}

    def get(self, path: str, persona: str | None = None, *, token: str | None = None,
            **params: Any) -> Any:
        return self.client.get(f"/api{path}", params, **self._auth(persona, token))

    def post(self, path: str, body: Any, persona: str | None = None, *,
             token: str | None = None) -> Any:
        return self.client.post(f"/api{path}", json.dumps(body),
                                content_type="application/json", **self._auth(persona, token))

    def patch(self, path: str, body: Any, persona: str | None = None, *,
              token: str | None = None) -> Any:
        return self.client.patch(f"/api{path}", json.dumps(body),
                                 content_type="application/json", **self._auth(persona, token))


@pytest.fixture
def api(town: Town) -> Api:
    return Api(town)
