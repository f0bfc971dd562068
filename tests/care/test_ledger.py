"""The monthly allowance ledger, from the shifts actually worked and the rules in force."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from fangkong.accounts.models import User
from fangkong.care.allowances import allowance_rule_add, allowance_rule_withdraw
from fangkong.care.ledger import allowance_ledger, parse_month
from fangkong.care.models import Attendance, MemberKind, PlanStatus
from fangkong.lib import clock
from fangkong.places.models import AreaKind
from tests.care.pay_fixtures import NOVEMBER, SHANGHAI, Rota, nov, saved_rule, staff

pytestmark = pytest.mark.django_db


def row_of(ledger, user: User):  # noqa: ANN001, ANN201
    return next(r for r in ledger.rows if r.user_id == user.pk)


@pytest.mark.usefixtures("english")
def test_ledger_pays_each_day_worked_by_the_rule_of_that_day(grid_worker, city):
    community = city.areas(AreaKind.COMMUNITY)[0]
    rota = Rota(community)
    rota.member(grid_worker)
    saved_rule(community, "100", valid_from=nov(1), valid_to=nov(15))
    saved_rule(community, "120", valid_from=nov(16))
    saved_rule(city.root, "999")  # shallower: never wins under the community
    rota.work(grid_worker, nov(10))
    rota.work(grid_worker, nov(12), start=6, hours=4)
    rota.work(grid_worker, nov(12), start=14, hours=6)  # two shifts, one day on duty
    rota.work(grid_worker, nov(20))
    rota.work(grid_worker, date(2026, 10, 31))  # another month
    row = row_of(allowance_ledger(community, NOVEMBER), grid_worker)
    assert (row.days, row.shifts, row.hours) == (3, 4, 26)
    assert row.total == Decimal("320.00")
    assert row.rate_text == "100.00–120.00"
    assert (row.unruled, row.absent) == ([], 0)
    assert (row.role, row.kind, row.community) == ("Grid worker", "Community worker",
                                                   community.name)


def test_ledger_leaves_out_absent_draft_and_future_shifts(grid_worker, city):
    community = city.areas(AreaKind.COMMUNITY)[0]
    rota = Rota(community)
    saved_rule(community, "50")
    rota.work(grid_worker, nov(3))
    rota.work(grid_worker, nov(4), attendance=Attendance.ABSENT)
    rota.work(grid_worker, nov(5), attendance=Attendance.ABSENT)
    rota.work(grid_worker, nov(6), plan=rota.plan(PlanStatus.DRAFT))
    rota.work(grid_worker, nov(7), plan=rota.plan(PlanStatus.DISCARDED))
    row = row_of(allowance_ledger(community, NOVEMBER), grid_worker)
    assert (row.days, row.shifts, row.total, row.absent) == (1, 1, Decimal("50.00"), 2)
    # On the morning of December 1st the night shift has ended, the day shift has not.
    december = date(2026, 12, 1)
    rota.work(grid_worker, december, start=0, hours=8)
    rota.work(grid_worker, december, start=8, hours=8)
    rota.work(grid_worker, date(2026, 12, 2))
    row = row_of(allowance_ledger(community, december), grid_worker)
    assert (row.days, row.shifts, row.hours, row.total) == (1, 1, 8, Decimal("50.00"))
    with clock.pinned(datetime(2027, 1, 1, tzinfo=SHANGHAI)):
        row = row_of(allowance_ledger(community, december), grid_worker)
    assert (row.days, row.shifts, row.hours, row.total) == (2, 3, 24, Decimal("100.00"))


def test_ledger_flags_the_days_no_rule_covers(grid_worker, city):
    community = city.areas(AreaKind.COMMUNITY)[0]
    rota = Rota(community)
    saved_rule(community, "75", valid_from=nov(15))
    for day in (10, 14, 15, 30):
        rota.work(grid_worker, nov(day))
    ledger = allowance_ledger(community, NOVEMBER)
    row = row_of(ledger, grid_worker)
    assert row.unruled == [nov(10), nov(14)]
    assert row.unruled_text == "11-10, 11-14"
    assert (row.days, row.total, row.rate_text) == (4, Decimal("150.00"), "75.00")
    assert ledger.total.unruled == 2


def test_ledger_lists_rota_members_and_staff_posted_in_the_area_only(grid_worker, city,
                                                                     other_grid_worker):
    first, second = city.areas(AreaKind.COMMUNITY)[:2]
    rota, other_rota = Rota(first), Rota(second)
    idle = staff("idle", first)
    rota.member(idle)
    closed = staff("closed", first)
    rota.member(closed)
    User.objects.filter(pk=closed.pk).update(is_active=False)
    nobody = staff("nobody", first)  # neither on a rota nor on a shift
    other_rota.work(other_grid_worker, nov(3))
    rota.work(grid_worker, nov(3))
    ledger = allowance_ledger(first, NOVEMBER)
    assert {r.user_id for r in ledger.rows} == {grid_worker.pk, idle.pk}
    assert nobody.pk not in {r.user_id for r in ledger.rows}
    idle_row = row_of(ledger, idle)
    assert (idle_row.days, idle_row.total, idle_row.rate_text) == (0, Decimal("0.00"), "")
    street = allowance_ledger(city.areas(AreaKind.STREET)[0], NOVEMBER)
    assert {grid_worker.pk, other_grid_worker.pk, idle.pk} == {r.user_id for r in street.rows}
    assert street.total.days == 2
    assert street.total.people == 3


def test_ledger_pays_by_the_kind_on_the_rota_and_totals_exactly(city):
    community = city.areas(AreaKind.COMMUNITY)[0]
    rota = Rota(community)
    cadre, worker = staff("cadre", community), staff("worker", community)
    rota.member(cadre, MemberKind.CADRE)
    rota.member(worker, MemberKind.WORKER)
    saved_rule(community, "33.33")
    saved_rule(community, "66.67", kind=MemberKind.CADRE)
    for day in (1, 2, 3):
        rota.work(cadre, nov(day))
        rota.work(worker, nov(day))
    ledger = allowance_ledger(community, NOVEMBER)
    assert row_of(ledger, cadre).total == Decimal("200.01")
    assert row_of(ledger, worker).total == Decimal("99.99")
    assert ledger.total.total == Decimal("300.00")
    assert ledger.total.shifts == 6


def test_parse_month_reads_year_and_month_only():
    assert parse_month("2026-11") == NOVEMBER
    for text in ("2026-13", "2026-1", "11-2026", "", None, "2026-11-01", "9999-01"):
        assert parse_month(text) is None


def test_ledger_pays_nothing_by_a_withdrawn_rule_and_pays_the_corrected_one(admin_user,
                                                                            grid_worker,
                                                                            city):
    community = city.areas(AreaKind.COMMUNITY)[0]
    rota = Rota(community)
    for day in (3, 4):
        rota.work(grid_worker, nov(day))
    typo = allowance_rule_add(by=admin_user, area=community, amount=Decimal("1000"),
                              valid_from=nov(1))
    assert row_of(allowance_ledger(community, NOVEMBER), grid_worker).total == Decimal(
        "2000.00")
    allowance_rule_withdraw(rule=typo, reason="amount typed wrong", by=admin_user)
    row = row_of(allowance_ledger(community, NOVEMBER), grid_worker)
    assert (row.days, row.total, row.unruled) == (2, Decimal("0.00"), [nov(3), nov(4)])
    allowance_rule_add(by=admin_user, area=community, amount=Decimal("100"), valid_from=nov(1))
    ledger = allowance_ledger(community, NOVEMBER)
    row = row_of(ledger, grid_worker)
    assert (row.total, row.rate_text, row.unruled) == (Decimal("200.00"), "100.00", [])
    assert ledger.total.total == Decimal("200.00")


