"""Fixtures of the resident's errands page and of SMS intake: a pinned clock, an empty
cache, and a household of the grid worker's grid with residents whose names and phones
the tests know. Imported by the test modules that use them."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.test import Client

from fangkong.lib import clock
from fangkong.lib.idcard import make_id_number
from fangkong.places.models import Household
from fangkong.places.services import building_create, household_create
from fangkong.residents.models import Resident
from fangkong.residents.services import ResidentInput, resident_create

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
ZHANG_PHONE = "13911112222"
ZHANG_ID = make_id_number("650103", date(1948, 3, 5), 31)


@pytest.fixture
def pinned():
    clock.set(NOW)
    yield clock
    clock.reset()


@pytest.fixture
def fresh_cache():
    """The page's POSTs are counted in the cache: every test starts and ends with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def home(grid_worker) -> Household:  # noqa: ANN001
    building = building_create(grid=grid_worker.area, number=77, estate="安康苑", name="7栋")
    return household_create(building=building, unit=2, room="501")


def person(by, household: Household, name: str, *, relation: str = "self",  # noqa: ANN001
           phone: str = "", id_number: str = "") -> Resident:
    return resident_create(by=by, data=ResidentInput(household=household, name=name,
                                                     relation=relation, phone=phone,
                                                     id_number=id_number))


@pytest.fixture
def zhang(community_secretary, home) -> Resident:  # noqa: ANN001
    """张小华, with a mobile and an ID number, alone in 7栋2单元501."""
    return person(community_secretary, home, "张小华", phone=ZHANG_PHONE, id_number=ZHANG_ID)


@pytest.fixture
def browser() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")
