"""The status behind a pass: green, yellow (health monitoring), red (isolation, an open
fever alert), grey (unknown, old version, revoked, expired, moved out); and issuing and
revoking passes only within one's area."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from fangkong.followup.models import Alert
from fangkong.isolation.models import IsolationPeriod
from fangkong.lib import clock
from fangkong.passes.services import pass_issue, pass_revoke
from fangkong.passes.status import Colour, status_of_token
from fangkong.passes.tokens import pass_token
from fangkong.residents.models import Resident, ResidentStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def resident(city, grid_worker):  # noqa: ANN001, ANN201
    return city.resident_in(grid_worker.area)


def code(pass_) -> str:  # noqa: ANN001
    return pass_token(pass_.pk, pass_.version)


def test_a_resident_with_nothing_open_may_pass(resident, grid_worker):  # noqa: ANN001
    status = status_of_token(code(pass_issue(resident=resident, by=grid_worker)))
    assert (status.colour, status.reason) == (Colour.GREEN, "May pass.")
    assert status.residents == (resident,)


def test_monitoring_is_yellow_isolation_and_fever_are_red(resident, grid_worker):  # noqa: ANN001
    pass_ = pass_issue(resident=resident, by=grid_worker)
    period = IsolationPeriod.objects.create(resident=resident, kind="monitoring",
                                            starts_on=NOW.date(), reason="返乡",
                                            planned_end=NOW.date() + timedelta(days=6))
    assert status_of_token(code(pass_)).colour == Colour.YELLOW
    alert = Alert(resident=resident, rule_key="fever", severity="high", title="发热",
                  assigned_area_id=resident.grid_id, created_at=NOW)
    alert.copy_scope_from(resident)
    alert.save()
    red = status_of_token(code(pass_))
    assert red.colour == Colour.RED and "grid worker" in red.reason
    assert "ever" not in red.reason  # never which symptom
    assert "38" not in red.reason  # never the medical details
    Alert.objects.filter(pk=alert.pk).update(status="resolved")
    IsolationPeriod.objects.filter(pk=period.pk).update(kind="isolation")
    assert status_of_token(code(pass_)).reason == "In home isolation: may not leave."


def test_old_revoked_expired_and_moved_out_passes_are_grey(resident, grid_worker):  # noqa: ANN001
    first = pass_issue(resident=resident, by=grid_worker)
    old = code(first)
    again = pass_issue(resident=resident, by=grid_worker)
    assert again.version == 2
    assert status_of_token(old).reason == "An old code: this pass was issued again."
    assert status_of_token(code(again)).colour == Colour.GREEN
    pass_revoke(pass_=again, reason="手机丢失", by=grid_worker)
    assert status_of_token(code(again)).reason == "Pass revoked."
    renewed = pass_issue(resident=resident, by=grid_worker)
    renewed.expires_on = NOW.date() - timedelta(days=1)
    renewed.save()
    assert status_of_token(code(renewed)).reason == "Pass expired."
    renewed.expires_on = None
    renewed.save()
    Resident.objects.filter(pk=resident.pk).update(status=ResidentStatus.MOVED_OUT)
    assert status_of_token(code(renewed)).reason == "No longer registered here."
    assert status_of_token(pass_token(999_999, 1)).reason == "Unknown pass."
    assert status_of_token("hello").reason == "Not a pass code."


def test_passes_are_issued_and_revoked_only_within_ones_area(resident, grid_worker,  # noqa: ANN001
                                                             other_grid_worker, city):
    with pytest.raises(PermissionDenied):
        pass_issue(resident=resident, by=other_grid_worker)
    with pytest.raises(PermissionDenied):
        pass_issue(resident=resident, by=city.persona("gate_guard"))
    pass_ = pass_issue(resident=resident, by=grid_worker)
    with pytest.raises(PermissionDenied):
        pass_revoke(pass_=pass_, reason="越界", by=other_grid_worker)
    with pytest.raises(ValidationError):
        pass_revoke(pass_=pass_, reason=" ", by=grid_worker)
