"""Allowances and insurance: which rule pays a day, the rules' own checks, the monthly
ledger from the shifts actually worked, and the cover the policies give."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from fangkong.accounts.models import Role, User
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.care.models import (
    AllowanceRule,
    Attendance,
    InsuranceKind,
    InsurancePolicy,
    MemberKind,
    PlanStatus,
    Post,
    PostKind,
    PostShift,
    RotaMember,
    RotaPlan,
    ShiftAssignment,
)
from fangkong.care.pay import (
    Cover,
    allowance_ledger,
    allowance_rule_add,
    allowance_rule_end,
    allowance_rule_for,
    coverage_on,
    insurance_policy_record,
    parse_month,
)
from fangkong.lib import clock
from fangkong.places.models import Area, AreaKind
from tests.factories import field_messages

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER = date(2026, 11, 1)  # the month before the pinned clock (2026-12-01 09:00)


# --- Helpers (also used by test_pay_views) --------------------------------------------------


def rule(path: str, amount: str, *, role: str = "", kind: str = "",
         valid_from: date = date(2026, 1, 1), valid_to: date | None = None) -> AllowanceRule:
    """An unsaved rule, for the pure resolution."""
    return AllowanceRule(area_path=path, role=role, member_kind=kind, amount=Decimal(amount),
                         valid_from=valid_from, valid_to=valid_to)


def saved_rule(area: Area, amount: str, *, role: str = "", kind: str = "",
               valid_from: date = date(2026, 1, 1),
               valid_to: date | None = None) -> AllowanceRule:
    return AllowanceRule.objects.create(area=area, area_path=area.path, role=role,
                                        member_kind=kind, amount=Decimal(amount),
                                        valid_from=valid_from, valid_to=valid_to,
                                        created_at=clock.now())


class Rota:
    """A community's gate post with a day shift, and plans to put shifts in."""

    def __init__(self, community: Area) -> None:
        self.community = community
        post = Post.objects.create(community=community, name="东门", kind=PostKind.GATE)
        self.shift = PostShift.objects.create(post=post, name="白班", start_hour=8,
                                              end_hour=16)
        self.published = self.plan(PlanStatus.PUBLISHED)

    def plan(self, status: str) -> RotaPlan:
        return RotaPlan.objects.create(community=self.community, first_day=NOVEMBER, days=61,
                                       status=status, method="greedy", seconds=0.1,
                                       created_at=clock.now())

    def member(self, user: User, kind: str = MemberKind.WORKER) -> RotaMember:
        return RotaMember.objects.create(user=user, community=self.community, team="A",
                                         kind=kind)

    def work(self, user: User, day: date, *, start: int = 8, hours: int = 8,
             plan: RotaPlan | None = None,
             attendance: str = Attendance.PLANNED) -> ShiftAssignment:
        starts = datetime(day.year, day.month, day.day, start, tzinfo=SHANGHAI)
        return ShiftAssignment.objects.create(
            plan=plan or self.published, community=self.community, user=user,
            shift=self.shift, day=day, starts_at=starts,
            ends_at=starts + timedelta(hours=hours), hours=hours, attendance=attendance)


def staff(username: str, area: Area, role: str = Role.COMMUNITY_WORKER) -> User:
    user = User.objects.create(username=username, role=role, area=area,
                               full_name=username.title())
    return User.objects.select_related("area").get(pk=user.pk)


def nov(day: int) -> date:
    return date(2026, 11, day)


def row_of(ledger, user: User):  # noqa: ANN001, ANN201
    return next(r for r in ledger.rows if r.user_id == user.pk)


# --- Which rule pays a day ------------------------------------------------------------------

CITY, DISTRICT, STREET, COMMUNITY, GRID = "1", "1.2", "1.2.3", "1.2.3.4", "1.2.3.4.5"
DAY = date(2026, 11, 10)


def test_the_rule_of_the_deepest_area_wins_over_a_more_precise_rule_above():
    rules = [rule(CITY, "50", role=Role.GRID_WORKER, kind=MemberKind.WORKER),
             rule(STREET, "80"), rule(DISTRICT, "70", role=Role.GRID_WORKER)]
    found = allowance_rule_for(rules, area_path=GRID, role=Role.GRID_WORKER,
                               kind=MemberKind.WORKER, day=DAY)
    assert found.amount == Decimal("80")


def test_in_one_area_role_and_kind_beat_role_beat_kind_beat_anyone():
    any_ = rule(COMMUNITY, "10")
    kind = rule(COMMUNITY, "20", kind=MemberKind.CADRE)
    role = rule(COMMUNITY, "30", role=Role.GRID_WORKER)
    both = rule(COMMUNITY, "40", role=Role.GRID_WORKER, kind=MemberKind.CADRE)

    def pays(rules: list[AllowanceRule], role_: str = Role.GRID_WORKER,
             kind_: str = MemberKind.CADRE) -> Decimal | None:
        found = allowance_rule_for(rules, area_path=GRID, role=role_, kind=kind_, day=DAY)
        return found.amount if found else None

    assert pays([any_, kind, role, both]) == Decimal("40")
    assert pays([any_, kind, role]) == Decimal("30")
    assert pays([any_, kind]) == Decimal("20")
    assert pays([any_]) == Decimal("10")
    # Another role or kind falls back to what matches it.
    assert pays([any_, kind, role, both], role_=Role.COMMUNITY_WORKER) == Decimal("20")
    assert pays([any_, kind, role, both], kind_=MemberKind.WORKER) == Decimal("30")


def test_staff_not_on_a_rota_are_paid_only_by_rules_for_any_kind():
    rules = [rule(COMMUNITY, "60", kind=MemberKind.WORKER), rule(DISTRICT, "40")]
    found = allowance_rule_for(rules, area_path=GRID, role=Role.GRID_WORKER, kind="", day=DAY)
    assert found.amount == Decimal("40")


def test_a_rule_pays_only_within_its_days_and_an_open_rule_runs_on():
    rules = [rule(COMMUNITY, "100", valid_from=nov(1), valid_to=nov(15)),
             rule(COMMUNITY, "120", valid_from=nov(16))]

    def pays(day: date) -> Decimal | None:
        found = allowance_rule_for(rules, area_path=COMMUNITY, role="", kind="", day=day)
        return found.amount if found else None

    assert pays(date(2026, 10, 31)) is None
    assert pays(nov(1)) == pays(nov(15)) == Decimal("100")
    assert pays(nov(16)) == pays(date(2030, 6, 1)) == Decimal("120")


def test_no_rule_of_another_area_role_or_kind_pays():
    rules = [rule("1.2.30", "90"), rule(COMMUNITY, "90", role=Role.GATE_GUARD),
             rule(COMMUNITY, "90", kind=MemberKind.CADRE), rule("1.2.3.4.5.6", "90")]
    # "1.2.30" is a sibling whose path starts with the street's path: it is not above it.
    assert allowance_rule_for(rules, area_path=GRID, role=Role.GRID_WORKER,
                              kind=MemberKind.WORKER, day=DAY) is None
    assert allowance_rule_for([], area_path=GRID, role="", kind="", day=DAY) is None


# --- The rules ------------------------------------------------------------------------------


def test_administrator_adds_a_rule_with_the_area_path_copied_and_audited(admin_user, city):
    community = city.areas(AreaKind.COMMUNITY)[0]
    added = allowance_rule_add(by=admin_user, area=community, role=Role.GRID_WORKER,
                               member_kind=MemberKind.CADRE, amount=Decimal("88.5"),
                               valid_from=nov(1), ip="10.0.0.1")
    added.refresh_from_db()
    assert (added.area_path, added.amount, added.valid_to) == (community.path,
                                                               Decimal("88.50"), None)
    event = AuditEvent.objects.get(action=AuditAction.ALLOWANCE_RULE_CHANGE)
    assert (event.object_id, event.area_path, event.ip) == (str(added.pk), community.path,
                                                            "10.0.0.1")
    assert event.changes["amount"] == ["", "88.50"]


@pytest.mark.usefixtures("english")
def test_a_rule_overlapping_one_of_the_same_area_role_and_kind_is_refused(admin_user, city):
    street = city.areas(AreaKind.STREET)[0]
    allowance_rule_add(by=admin_user, area=street, role=Role.GRID_WORKER,
                       amount=Decimal("100"), valid_from=nov(1), valid_to=nov(30))
    with pytest.raises(ValidationError) as excinfo:
        allowance_rule_add(by=admin_user, area=street, role=Role.GRID_WORKER,
                           amount=Decimal("120"), valid_from=nov(20))
    message = field_messages(excinfo)["valid_from"]
    assert "already applies from 2026-11-01 to 2026-11-30" in message
    assert "End that rule first" in message
    # The day after, another role, another kind or another area are no overlap.
    allowance_rule_add(by=admin_user, area=street, role=Role.GRID_WORKER,
                       amount=Decimal("120"), valid_from=date(2026, 12, 1))
    allowance_rule_add(by=admin_user, area=street, role=Role.COMMUNITY_WORKER,
                       amount=Decimal("90"), valid_from=nov(20))
    allowance_rule_add(by=admin_user, area=street, role=Role.GRID_WORKER,
                       member_kind=MemberKind.CADRE, amount=Decimal("90"), valid_from=nov(20))
    allowance_rule_add(by=admin_user, area=city.areas(AreaKind.STREET)[1],
                       role=Role.GRID_WORKER, amount=Decimal("90"), valid_from=nov(20))
    # An open rule overlaps anything after it.
    with pytest.raises(ValidationError, match="no end date"):
        allowance_rule_add(by=admin_user, area=street, role=Role.GRID_WORKER,
                           amount=Decimal("130"), valid_from=date(2027, 5, 1),
                           valid_to=date(2027, 5, 31))
    assert AllowanceRule.objects.count() == 5


@pytest.mark.usefixtures("english")
def test_a_rule_refuses_bad_amounts_dates_roles_and_areas(admin_user, city):
    community = city.areas(AreaKind.COMMUNITY)[0]
    cases = [
        ({"amount": Decimal("10000.01")}, "amount", "from 0 to 10000"),
        ({"amount": Decimal("-1")}, "amount", "from 0 to 10000"),
        ({"amount": Decimal("12.345")}, "amount", "two decimals"),
        ({"valid_to": date(2026, 10, 31)}, "valid_to", "before the first day"),
        ({"role": "boss"}, "role", "Choose a role"),
        ({"member_kind": "x"}, "member_kind", "Choose a kind"),
        ({"area": city.areas(AreaKind.GRID)[0]}, "area", "down to a community"),
        ({"area": city.root}, "area", "down to a community"),  # above the admin's district
    ]
    for change, field, words in cases:
        kwargs = {"by": admin_user, "area": community, "amount": Decimal("100"),
                  "valid_from": nov(1), **change}
        with pytest.raises(ValidationError) as excinfo:
            allowance_rule_add(**kwargs)
        assert words in field_messages(excinfo)[field], change
    allowance_rule_add(by=admin_user, area=community, amount=Decimal("10000"),
                       valid_from=nov(1), valid_to=nov(1))
    assert AllowanceRule.objects.count() == 1


def test_only_administrators_set_allowances(community_secretary, street_officer):
    for user in (community_secretary, street_officer):
        with pytest.raises(PermissionDenied):
            allowance_rule_add(by=user, area=user.area, amount=Decimal("1"), valid_from=nov(1))
    assert not AllowanceRule.objects.exists()


@pytest.mark.usefixtures("english")
def test_ending_a_rule_sets_its_last_day_never_later_and_is_audited(admin_user, city,
                                                                    street_officer):
    added = allowance_rule_add(by=admin_user, area=city.areas(AreaKind.STREET)[0],
                               amount=Decimal("100"), valid_from=nov(1))
    with pytest.raises(ValidationError, match=r"before the rule's first day \(2026-11-01\)"):
        allowance_rule_end(rule=added, valid_to=date(2026, 10, 31), by=admin_user)
    ended = allowance_rule_end(rule=added, valid_to=nov(20), by=admin_user)
    assert AllowanceRule.objects.get(pk=added.pk).valid_to == nov(20) == ended.valid_to
    with pytest.raises(ValidationError, match="already ends on 2026-11-20"):
        allowance_rule_end(rule=added, valid_to=nov(25), by=admin_user)
    allowance_rule_end(rule=added, valid_to=nov(18), by=admin_user)
    with pytest.raises(PermissionDenied):
        allowance_rule_end(rule=added, valid_to=nov(10), by=street_officer)
    changes = [e.changes for e in AuditEvent.objects.filter(
        action=AuditAction.ALLOWANCE_RULE_CHANGE, changes__has_key="valid_to").order_by("pk")]
    assert [c["valid_to"] for c in changes] == [["", ""], ["", "2026-11-20"],
                                                ["2026-11-20", "2026-11-18"]]
    assert AllowanceRule.objects.filter(pk=added.pk).exists()


# --- The monthly ledger ---------------------------------------------------------------------


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


# --- Insurance ------------------------------------------------------------------------------


def policy(covers_from: date, covers_to: date) -> InsurancePolicy:
    return InsurancePolicy(covers_from=covers_from, covers_to=covers_to)


TODAY = date(2026, 12, 1)


def test_cover_today_from_the_policies():
    year = policy(date(2026, 6, 1), date(2027, 5, 31))
    assert coverage_on([year], TODAY).status == Cover.COVERED
    assert coverage_on([year], TODAY).until == date(2027, 5, 31)
    ends_in_30 = policy(date(2026, 1, 1), TODAY + timedelta(days=30))
    ends_in_31 = policy(date(2026, 1, 1), TODAY + timedelta(days=31))
    assert coverage_on([ends_in_30], TODAY).status == Cover.EXPIRING
    assert coverage_on([ends_in_31], TODAY).status == Cover.COVERED
    assert coverage_on([policy(TODAY, TODAY)], TODAY).status == Cover.EXPIRING
    past = policy(date(2025, 1, 1), date(2026, 11, 30))
    assert coverage_on([past], TODAY).status == Cover.EXPIRED
    assert coverage_on([], TODAY).status == Cover.NONE
    coming = coverage_on([policy(date(2026, 12, 5), date(2027, 12, 4))], TODAY)
    assert (coming.status, coming.starts, coming.bad) == (Cover.NONE, date(2026, 12, 5), True)


def test_policies_following_each_other_count_as_unbroken_cover():
    now_to_mid = policy(date(2026, 1, 1), date(2026, 12, 15))
    then = policy(date(2026, 12, 16), date(2027, 12, 15))
    cover = coverage_on([then, now_to_mid], TODAY)
    assert (cover.status, cover.until) == (Cover.COVERED, date(2027, 12, 15))
    gap = policy(date(2026, 12, 20), date(2027, 12, 15))
    cover = coverage_on([gap, now_to_mid], TODAY)
    assert (cover.status, cover.until) == (Cover.EXPIRING, date(2026, 12, 15))


def _record(by: User, user: User, **change):  # noqa: ANN003, ANN202
    kwargs = {"by": by, "user": user, "kind": InsuranceKind.ACCIDENT, "insurer": "中国人寿",
              "policy_number": "P2026 0001", "sum_insured": Decimal("500000"),
              "covers_from": date(2026, 1, 1), "covers_to": date(2026, 12, 31), **change}
    return insurance_policy_record(**kwargs)


@pytest.mark.usefixtures("english")
def test_recording_a_policy_is_checked_and_audited(community_secretary, grid_worker):
    recorded = _record(community_secretary, grid_worker, ip="10.0.0.2")
    assert (recorded.policy_number, recorded.recorded_by) == ("P20260001", community_secretary)
    event = AuditEvent.objects.get(action=AuditAction.INSURANCE_CHANGE)
    assert (event.object_id, event.area_path) == (str(recorded.pk), grid_worker.area.path)
    assert event.changes["covers_to"] == ["", "2026-12-31"]
    cases = [
        ({"policy_number": "ｐ2026 0001"}, "policy_number", "already recorded for Grid Worker"),
        ({"covers_to": date(2025, 12, 31)}, "covers_to", "ends before it starts"),
        ({"insurer": "人寿\x1b"}, "insurer", "cannot be stored"),
        ({"insurer": "  "}, "insurer", "needed"),
        ({"policy_number": "9" * 41}, "policy_number", "under 40 characters"),
        ({"sum_insured": Decimal("-5")}, "sum_insured", "sum insured in yuan"),
        ({"kind": "car"}, "kind", "what the policy insures"),
    ]
    for change, field, words in cases:
        with pytest.raises(ValidationError) as excinfo:
            _record(community_secretary, grid_worker, **change)
        assert words in field_messages(excinfo)[field], change
    # Another insurer's policy with the same number, and no sum insured, are fine.
    _record(community_secretary, grid_worker, insurer="平安保险", sum_insured=None)
    assert InsurancePolicy.objects.filter(user=grid_worker).count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.INSURANCE_CHANGE).count() == 2


def test_policies_are_recorded_only_for_staff_of_ones_area_by_those_who_manage_pay(
        community_secretary, other_grid_worker, grid_worker, community_worker):
    with pytest.raises(PermissionDenied):
        _record(community_secretary, other_grid_worker)
    with pytest.raises(PermissionDenied):
        _record(community_worker, grid_worker)
    assert not InsurancePolicy.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.INSURANCE_CHANGE).exists()


@pytest.fixture
def other_grid_worker(city):  # noqa: ANN001, ANN201
    return city.persona("other_grid_worker")


@pytest.fixture
def community_worker(city):  # noqa: ANN001, ANN201
    return city.persona("community_worker")
