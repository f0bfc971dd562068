"""The demo's gates: two gates of the first community with the guard on duty, a pass for
every resident, and a day of passages recorded through the guard's service."""

from __future__ import annotations

import pytest

from fangkong.lib import clock
from fangkong.passes.models import Gate, Pass, Passage
from fangkong.residents.models import Resident
from fangkong.synth.demo_gates import demo_gates_create
from tests.passes.conftest import NOW

pytestmark = pytest.mark.django_db


def test_the_demo_has_gates_passes_and_a_day_of_passages(community_secretary, gate_guard,
                                                          volunteer):  # noqa: ANN001
    with clock.pinned(NOW):
        demo = demo_gates_create(secretary=community_secretary, guards=[gate_guard, volunteer])
    community = community_secretary.area
    assert demo.gates == Gate.objects.filter(community=community).count() == 2
    assert demo.passes == Pass.objects.count() == Resident.objects.filter(
        community=community, status="active").count()
    assert demo.passages == Passage.objects.count() > 50
    assert Passage.objects.filter(result="refused").count() == demo.refused
    assert set(Gate.objects.get(name="东门").guards.all()) == {gate_guard, volunteer}
