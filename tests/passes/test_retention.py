"""The gates' records are deleted when their purpose has ended: passages after the keeping
time, visitors that long after they left (or arrived, when never seen leaving)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fangkong.lib import clock
from fangkong.passes.models import Passage, Visitor
from fangkong.passes.retention import gates_purge
from fangkong.passes.scan import passage_record
from tests.passes.conftest import NOW, code_of

pytestmark = pytest.mark.django_db


def _visitor(gate, *, arrived, left=None) -> Visitor:  # noqa: ANN001
    return Visitor.objects.create(community=gate.community, gate=gate, name="访客",
                                  came_from="外地", purpose="探亲", temperature="36.5",
                                  arrived_at=arrived, left_at=left)


def test_passages_and_visitors_go_after_the_keeping_time(gate, resident_pass, settings):  # noqa: ANN001
    settings.GATES_KEEP_DAYS = 30
    with clock.pinned(NOW):
        passage_record(gate=gate, direction="in", code=code_of(resident_pass),
                       temperature="36.5")
    old_left = _visitor(gate, arrived=NOW - timedelta(days=3), left=NOW)
    never_left = _visitor(gate, arrived=NOW)
    recent = _visitor(gate, arrived=NOW + timedelta(days=20), left=NOW + timedelta(days=21))
    assert gates_purge(now=NOW + timedelta(days=29)) == {"passages": 0, "visitors": 0}
    assert gates_purge(now=NOW + timedelta(days=31)) == {"passages": 1, "visitors": 2}
    assert not Passage.objects.exists()
    assert list(Visitor.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Visitor.objects.filter(pk__in=[old_left.pk, never_left.pk]).exists()
    assert gates_purge(now=NOW + timedelta(days=31)) == {"passages": 0, "visitors": 0}
