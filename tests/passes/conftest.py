"""A gate of the first community with the guard persona on duty, and a resident of that
community with a pass."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from fangkong.lib import clock
from fangkong.passes.models import Gate, Pass
from fangkong.passes.services import pass_issue
from fangkong.passes.tokens import pass_token

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def gate_guard(city):  # noqa: ANN001, ANN201
    return city.persona("gate_guard")


@pytest.fixture
def gate(gate_guard):  # noqa: ANN001, ANN201
    gate = Gate.objects.create(community=gate_guard.area, name="东门", created_at=NOW)
    gate.guards.add(gate_guard)
    return gate


@pytest.fixture
def resident(city, grid_worker):  # noqa: ANN001, ANN201
    return city.resident_in(grid_worker.area)


@pytest.fixture
def resident_pass(resident, grid_worker) -> Pass:  # noqa: ANN001
    with clock.pinned(NOW):
        return pass_issue(resident=resident, by=grid_worker)


def code_of(pass_: Pass) -> str:
    return pass_token(pass_.pk, pass_.version)
