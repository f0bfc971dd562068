"""Insurance: the cover the policies give, and recording a policy."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from fangkong.accounts.models import User
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.care.insurance import Cover, coverage_on, insurance_policy_record
from fangkong.care.models import InsuranceKind, InsurancePolicy
from tests.factories import field_messages

pytestmark = pytest.mark.django_db


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


