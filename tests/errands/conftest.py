"""Shared fixtures of the errand tests: factories for errands and for verified volunteers.

Nothing here is autouse: each test module pins its own clock."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from fangkong.accounts.models import User
from fangkong.errands import services
from fangkong.errands.models import Errand, Volunteer
from fangkong.errands.services import ErrandInput, ItemInput
from fangkong.errands.volunteers import volunteer_apply, volunteer_verify
from fangkong.places.models import Area

MEDICINE = ErrandInput(kind="medicine", items=[ItemInput(name="布洛芬", quantity=1)])
_phones = itertools.count(1)


@pytest.fixture
def make_errand(city, grid_worker) -> Callable[..., Errand]:  # noqa: ANN001
    """`make_errand(assign_to=user)`: an errand asked by phone for a resident of the grid
    worker's grid (or `resident`), by the grid worker (or `by`), given to `assign_to`."""

    def make(*, resident=None, data: ErrandInput = MEDICINE, by: User | None = None,  # noqa: ANN001
             assign_to: User | None = None) -> Errand:
        by = by or grid_worker
        errand = services.errand_create(resident=resident or city.resident_in(grid_worker.area),
                                        data=data, source="phone", by=by)
        if assign_to is not None:
            errand = services.errand_assign(errand=errand, to=assign_to, by=by)
        return errand

    return make


@pytest.fixture
def make_volunteer(community_secretary) -> Callable[..., Volunteer]:  # noqa: ANN001
    """`make_volunteer()`: a volunteer who joined the secretary's community (or
    `community`) with a fresh mobile number and was verified by the secretary (or `by`),
    so `volunteer.user` is an active login with the volunteer role. `verified=False`
    leaves them waiting for verification."""

    def make(*, community: Area | None = None, name: str = "志愿者小李",
             skills: tuple[str, ...] = ("driver",), verified: bool = True,
             by: User | None = None, phone: str | None = None) -> Volunteer:
        volunteer = volunteer_apply(community=community or community_secretary.area, name=name,
                                    phone=phone or f"139{next(_phones):08d}",
                                    skills=list(skills), availability="周末")
        if verified:
            volunteer = volunteer_verify(volunteer=volunteer,
                                         by=by or community_secretary).volunteer
        return volunteer

    return make
