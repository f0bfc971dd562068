from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from fangkong.accounts.models import Role, User
from fangkong.care.services import care_officer_designate
from fangkong.lib import clock

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def care_officer(city, street_officer, community_secretary) -> User:  # noqa: ANN001
    """A community worker of the first street, designated its care officer."""
    user = User.objects.create(username="carer", role=Role.COMMUNITY_WORKER,
                               area=community_secretary.area, full_name="Care Officer")
    care_officer_designate(street=street_officer.area, user=user, by=street_officer)
    return User.objects.select_related("area").get(pk=user.pk)


@pytest.fixture
def others(city):  # noqa: ANN001
    """Everyone who must never read a confidential difficulty of the first grid worker."""
    names = ["community_secretary", "street_officer", "admin", "other_grid_worker",
             "other_street_officer", "community_worker", "gate_guard", "volunteer"]
    return {name: city.persona(name) for name in names}
