"""Home isolation and health-monitoring periods: starting, extending, ending, and the
hourly job that ends the periods that ran out and tells the grid worker."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from fangkong.followup.alerts import alerts_escalate
from fangkong.followup.models import Alert, AlertKind, AlertStatus
from fangkong.isolation.models import IsolationEvent, IsolationPeriod, PeriodStatus
from fangkong.isolation.services import (
    isolation_end,
    isolation_expire,
    isolation_extend,
    isolation_start,
)
from fangkong.lib import clock
from fangkong.residents.models import Resident
from tests.factories import field_messages

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

MONDAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def resident(grid_worker) -> Resident:  # noqa: ANN001
    return Resident.objects.filter(grid=grid_worker.area).order_by("pk").first()


def start(resident: Resident, by, **changes) -> IsolationPeriod:  # noqa: ANN001, ANN003
    fields = {"kind": "isolation", "starts_on": MONDAY, "reason": "密接", **changes}
    return isolation_start(resident=resident, by=by, **fields)


# --- starting ---------------------------------------------------------------------------

def test_a_period_lasts_fourteen_days_unless_told_otherwise(resident, grid_worker):
    period = start(resident, grid_worker, place=" 家中 ")

    period.refresh_from_db()
    assert (period.starts_on, period.planned_end) == (MONDAY, MONDAY + timedelta(days=13))
    assert (period.status, period.kind, period.place, period.created_by) == (
        PeriodStatus.OPEN, "isolation", "家中", grid_worker)
    event = period.events.get()
    assert (event.what, event.by, event.at) == ("started", grid_worker, NOW)


def test_a_period_may_be_given_its_own_end_up_to_sixty_days(resident, grid_worker):
    period = start(resident, grid_worker, kind="monitoring",
                   planned_end=MONDAY + timedelta(days=59))

    assert period.planned_end == MONDAY + timedelta(days=59)


def test_a_period_with_every_detail_wrong_is_refused_with_every_reason(resident, grid_worker):
    with pytest.raises(ValidationError) as excinfo:
        start(resident, grid_worker, kind="quarantine", reason=" ",
              planned_end=MONDAY - timedelta(days=1))

    assert set(field_messages(excinfo)) == {"kind", "planned_end", "reason"}
    assert field_messages(excinfo)["planned_end"] == "The end lies before the start."
    assert not IsolationPeriod.objects.filter(resident=resident).exists()


def test_a_period_longer_than_sixty_days_is_refused(resident, grid_worker):
    with pytest.raises(ValidationError) as excinfo:
        start(resident, grid_worker, planned_end=MONDAY + timedelta(days=60))

    assert field_messages(excinfo) == {"planned_end": "A period lasts at most 60 days."}


def test_a_resident_has_one_open_period_at_a_time(resident, grid_worker):
    first = start(resident, grid_worker)

    with pytest.raises(ValidationError) as excinfo:
        start(resident, grid_worker, kind="monitoring", starts_on=MONDAY + timedelta(days=2))

    assert "already in a period" in field_messages(excinfo)["kind"]
    assert list(IsolationPeriod.objects.filter(resident=resident)) == [first]

    isolation_end(period=first, on=MONDAY + timedelta(days=1), end_reason="error",
                  by=grid_worker)
    second = start(resident, grid_worker, kind="monitoring", starts_on=MONDAY + timedelta(days=2))
    assert second.status == PeriodStatus.OPEN


# --- extending --------------------------------------------------------------------------

def test_a_period_is_extended_to_a_later_day(resident, grid_worker):
    period = start(resident, grid_worker)
    until = MONDAY + timedelta(days=20)

    extended = isolation_extend(period=period, until=until, reason="核酸复阳", by=grid_worker)

    extended.refresh_from_db()
    assert extended.planned_end == until
    event = extended.events.get(what="extended")
    assert event.by == grid_worker
    assert event.detail == f"{MONDAY + timedelta(days=13)} → {until}: 核酸复阳"


@pytest.mark.parametrize("days", [13, 10])
def test_an_extension_must_end_later_than_planned(resident, grid_worker, days):
    period = start(resident, grid_worker)

    with pytest.raises(ValidationError) as excinfo:
        isolation_extend(period=period, until=MONDAY + timedelta(days=days), reason="",
                         by=grid_worker)

    assert field_messages(excinfo) == {"planned_end": "Choose a day after the planned end."}
    period.refresh_from_db()
    assert period.planned_end == MONDAY + timedelta(days=13)


def test_an_extension_stays_within_sixty_days_of_the_start(resident, grid_worker):
    period = start(resident, grid_worker)

    isolation_extend(period=period, until=MONDAY + timedelta(days=59), reason="", by=grid_worker)
    with pytest.raises(ValidationError) as excinfo:
        isolation_extend(period=period, until=MONDAY + timedelta(days=60), reason="",
                         by=grid_worker)

    assert field_messages(excinfo) == {"planned_end": "A period lasts at most 60 days."}


def test_an_ended_period_is_not_extended(resident, grid_worker):
    period = start(resident, grid_worker)
    isolation_end(period=period, on=MONDAY + timedelta(days=3), end_reason="hospital",
                  by=grid_worker)

    with pytest.raises(ValidationError):
        isolation_extend(period=period, until=MONDAY + timedelta(days=20), reason="",
                         by=grid_worker)


# --- ending -----------------------------------------------------------------------------

def test_a_period_ends_early_with_the_reason(resident, grid_worker):
    period = start(resident, grid_worker)

    ended = isolation_end(period=period, on=MONDAY + timedelta(days=5), end_reason="early",
                          by=grid_worker, note="解除管控")

    ended.refresh_from_db()
    assert (ended.status, ended.ended_on, ended.end_reason) == (
        PeriodStatus.ENDED, MONDAY + timedelta(days=5), "early")
    event = ended.events.get(what="ended")
    assert event.by == grid_worker and "解除管控" in event.detail


def test_a_period_is_not_ended_without_a_known_reason_or_before_it_began(resident, grid_worker):
    period = start(resident, grid_worker)

    with pytest.raises(ValidationError) as excinfo:
        isolation_end(period=period, on=MONDAY, end_reason="bored", by=grid_worker)
    assert set(field_messages(excinfo)) == {"end_reason"}
    with pytest.raises(ValidationError) as excinfo:
        isolation_end(period=period, on=MONDAY - timedelta(days=1), end_reason="early",
                      by=grid_worker)
    assert set(field_messages(excinfo)) == {"ended_on"}

    period.refresh_from_db()
    assert period.status == PeriodStatus.OPEN


def test_a_period_is_ended_once(resident, grid_worker):
    period = start(resident, grid_worker)
    isolation_end(period=period, on=MONDAY + timedelta(days=2), end_reason="moved",
                  by=grid_worker)

    with pytest.raises(ValidationError):
        isolation_end(period=period, on=MONDAY + timedelta(days=3), end_reason="early",
                      by=grid_worker)

    period.refresh_from_db()
    assert (period.ended_on, period.end_reason) == (MONDAY + timedelta(days=2), "moved")


# --- expiry -----------------------------------------------------------------------------

def test_overdue_periods_end_by_themselves_and_the_grid_worker_is_told(grid_worker):
    overdue, due_today, other = Resident.objects.filter(grid=grid_worker.area).order_by("pk")[:3]
    ran_out = start(overdue, grid_worker, starts_on=MONDAY - timedelta(days=14))  # ended Sunday
    still_on = start(due_today, grid_worker, starts_on=MONDAY - timedelta(days=13))
    ended_before = start(other, grid_worker, starts_on=MONDAY - timedelta(days=20))
    isolation_end(period=ended_before, on=MONDAY - timedelta(days=15), end_reason="hospital",
                  by=grid_worker)

    assert isolation_expire(today=MONDAY) == 1
    assert isolation_expire(today=MONDAY) == 0  # idempotent

    ran_out.refresh_from_db()
    still_on.refresh_from_db()
    assert (ran_out.status, ran_out.ended_on, ran_out.end_reason) == (
        PeriodStatus.ENDED, MONDAY - timedelta(days=1), "completed")
    assert still_on.status == PeriodStatus.OPEN
    assert list(IsolationEvent.objects.filter(period=ran_out).values_list("what", flat=True)) \
        == ["started", "expired"]
    notice = Alert.objects.get(resident=overdue)
    assert (notice.kind, notice.status, notice.severity) == (AlertKind.NOTICE, AlertStatus.OPEN,
                                                            "low")
    assert (notice.assigned_area_id, notice.grid_id, notice.due_at) == (
        overdue.grid_id, overdue.grid_id, None)
    assert notice.title == "Isolation period ended"
    assert str(ran_out.planned_end) in notice.reason
    assert not Alert.objects.filter(resident__in=[due_today, other]).exists()
    # a notice asks for no action by a deadline: it never climbs the tree
    alerts_escalate(now=NOW + timedelta(days=3))
    notice.refresh_from_db()
    assert (notice.level, notice.assigned_area_id) == (0, overdue.grid_id)


# --- who may ----------------------------------------------------------------------------

@pytest.mark.parametrize("persona", ["gate_guard", "volunteer", "admin"])
def test_roles_that_do_not_handle_alerts_cannot_record_periods(city, resident, grid_worker,
                                                               persona):
    user = city.persona(persona)
    period = start(resident, grid_worker)

    with pytest.raises(PermissionDenied):
        start(Resident.objects.filter(grid=grid_worker.area).order_by("pk")[1], user)
    with pytest.raises(PermissionDenied):
        isolation_extend(period=period, until=MONDAY + timedelta(days=20), reason="", by=user)
    with pytest.raises(PermissionDenied):
        isolation_end(period=period, on=MONDAY + timedelta(days=1), end_reason="early", by=user)

    period.refresh_from_db()
    assert (period.status, period.planned_end) == (PeriodStatus.OPEN,
                                                   MONDAY + timedelta(days=13))
    assert IsolationPeriod.objects.filter(created_by=user).count() == 0


@pytest.mark.parametrize("persona", ["grid_worker", "community_worker", "community_secretary",
                                     "street_officer"])
def test_the_roles_that_handle_alerts_may_record_periods(city, resident, persona):
    assert start(resident, city.persona(persona)).status == PeriodStatus.OPEN
