"""Allowance rules: which rule pays a day, and the rules' own checks when they are added,
ended and withdrawn."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from fangkong.accounts.models import Role
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.care.allowances import (
    allowance_rule_add,
    allowance_rule_end,
    allowance_rule_for,
    allowance_rule_withdraw,
    allowance_rules_for_user,
)
from fangkong.care.models import AllowanceRule, MemberKind
from fangkong.lib import clock
from fangkong.places.models import AreaKind
from tests.care.pay_fixtures import nov, rule, saved_rule
from tests.factories import field_messages

pytestmark = pytest.mark.django_db

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



# --- Withdrawing a rule typed wrong ---------------------------------------------------------


def test_a_withdrawn_rule_pays_no_day():
    typo = rule(COMMUNITY, "1000")
    fallback = rule(DISTRICT, "40")
    assert allowance_rule_for([typo, fallback], area_path=GRID, role="", kind="",
                              day=DAY) is typo
    typo.withdrawn_at = clock.now()
    found = allowance_rule_for([typo, fallback], area_path=GRID, role="", kind="", day=DAY)
    assert found is fallback
    assert allowance_rule_for([typo], area_path=GRID, role="", kind="", day=DAY) is None


@pytest.mark.usefixtures("english")
def test_a_withdrawn_rule_stays_on_record_and_a_corrected_rule_takes_its_days(admin_user,
                                                                              city):
    community = city.areas(AreaKind.COMMUNITY)[0]
    typo = allowance_rule_add(by=admin_user, area=community, role=Role.GRID_WORKER,
                              amount=Decimal("1000"), valid_from=nov(1), valid_to=nov(30))
    with pytest.raises(ValidationError, match="already applies from 2026-11-01"):
        allowance_rule_add(by=admin_user, area=community, role=Role.GRID_WORKER,
                           amount=Decimal("100"), valid_from=nov(1), valid_to=nov(30))
    withdrawn = allowance_rule_withdraw(rule=typo, reason="  amount\ttyped   wrong ",
                                        by=admin_user, ip="10.0.0.3")
    typo.refresh_from_db()
    assert (typo.withdrawn_at, typo.withdrawn_by, typo.withdrawn_reason) == (
        clock.now(), admin_user, "amount typed wrong")
    assert withdrawn.withdrawn_reason == "amount typed wrong"
    corrected = allowance_rule_add(by=admin_user, area=community, role=Role.GRID_WORKER,
                                   amount=Decimal("100"), valid_from=nov(1),
                                   valid_to=nov(30))
    assert AllowanceRule.objects.count() == 2
    book = allowance_rules_for_user(admin_user, today=nov(15))
    assert [r.pk for r in book.current] == [corrected.pk]
    assert [r.pk for r in book.withdrawn] == [typo.pk]
    assert book.ended == []
    assert allowance_rules_for_user(admin_user, today=date(2026, 12, 1)).ended == [corrected]
    event = AuditEvent.objects.filter(action=AuditAction.ALLOWANCE_RULE_CHANGE,
                                      changes__has_key="withdrawn_reason").get()
    assert (event.object_id, event.area_path, event.ip) == (str(typo.pk), community.path,
                                                            "10.0.0.3")
    assert event.changes == {"withdrawn_reason": ["", "amount typed wrong"]}


@pytest.mark.usefixtures("english")
def test_withdrawing_a_rule_needs_a_reason_that_can_be_stored(admin_user, city):
    typo = saved_rule(city.areas(AreaKind.STREET)[0], "1000")
    cases = [("", "Say why"), (" \n ", "Say why"), ("typo\x1b", "cannot be stored"),
             ("x" * 201, "under 200 characters")]
    for reason, words in cases:
        with pytest.raises(ValidationError) as excinfo:
            allowance_rule_withdraw(rule=typo, reason=reason, by=admin_user)
        assert words in field_messages(excinfo)["reason"], reason
    typo.refresh_from_db()
    assert (typo.withdrawn_at, typo.withdrawn_reason) == (None, "")
    assert not AuditEvent.objects.filter(action=AuditAction.ALLOWANCE_RULE_CHANGE).exists()
    allowance_rule_withdraw(rule=typo, reason="x" * 200, by=admin_user)


@pytest.mark.usefixtures("english")
def test_a_rule_is_withdrawn_once_and_is_then_neither_withdrawn_nor_ended_again(
        admin_user, city):
    typo = saved_rule(city.areas(AreaKind.STREET)[0], "1000", valid_from=nov(1))
    allowance_rule_withdraw(rule=typo, reason="amount typed wrong", by=admin_user)
    message = ("This rule was already withdrawn on 2026-12-01 by Admin (amount typed wrong): "
               "it pays nothing.")
    with pytest.raises(ValidationError, match=re.escape(message)):
        allowance_rule_withdraw(rule=typo, reason="again", by=admin_user)
    with pytest.raises(ValidationError, match="already withdrawn on 2026-12-01"):
        allowance_rule_end(rule=typo, valid_to=nov(20), by=admin_user)
    typo.refresh_from_db()
    assert (typo.withdrawn_reason, typo.valid_to) == ("amount typed wrong", None)
    assert AuditEvent.objects.filter(action=AuditAction.ALLOWANCE_RULE_CHANGE).count() == 1


def test_only_an_administrator_of_the_rules_area_withdraws_it(admin_user, city,
                                                              street_officer):
    inside = saved_rule(city.areas(AreaKind.STREET)[0], "80")
    above = saved_rule(city.root, "60")  # the city is above the admin's district
    for by, target in ((street_officer, inside), (admin_user, above)):
        with pytest.raises(PermissionDenied):
            allowance_rule_withdraw(rule=target, reason="typo", by=by)
    assert not AllowanceRule.objects.filter(withdrawn_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.ALLOWANCE_RULE_CHANGE).exists()
