from __future__ import annotations

import pytest

from fangkong.care.ledger import allowance_ledger
from fangkong.care.models import PlanStatus, RotaMember, RotaPlan, ShiftAssignment, worked_q
from fangkong.lib import clock
from fangkong.synth.demo_care import demo_care_create

pytestmark = pytest.mark.django_db


def test_the_demo_rota_has_worked_days_and_a_published_fortnight(community_secretary, city,
                                                                 settings):  # noqa: ANN001
    settings.CARE_ROTA_SECONDS = 1
    outsider = city.persona("other_grid_worker")  # another community: left off the rota
    demo = demo_care_create(secretary=community_secretary,
                            staff=[city.persona("community_worker"), outsider],
                            admin=city.persona("admin"))
    assert demo.staff == 13
    assert not RotaMember.objects.filter(user=outsider).exists()
    plans = RotaPlan.objects.filter(community=community_secretary.area)
    assert list(plans.values_list("status", flat=True)) == [PlanStatus.PUBLISHED] * 2
    assert ShiftAssignment.objects.filter(worked_q(clock.now())).count() > 0
    assert demo.shifts_ahead > 0 and demo.shifts_worked > 0
    # The ledger of this month pays the days worked by the city's rules.
    ledger = allowance_ledger(community_secretary.area, clock.local_today().replace(day=1))
    assert ledger.total.total > 0 and ledger.total.unruled == 0
