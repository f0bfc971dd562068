"""The gate figures of an area for one day: who opens them (404 outside one's area before
403), the counts per local hour, per gate and per community, a fixed number of queries,
and the page (chart data for the script, the same numbers in a table)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from fangkong.lib import clock
from fangkong.passes.figures import area_gate_figures
from fangkong.passes.models import Gate, Pass, Passage
from fangkong.passes.scan import passage_record
from fangkong.passes.status import Colour, status_of_residents
from fangkong.places.models import Area
from fangkong.residents.models import Resident
from tests.passes.conftest import NOW, code_of
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = timezone.localdate(NOW)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=SHANGHAI)


def url(area: Area) -> str:
    return reverse("passes:figures", args=[area.pk])


def scan(gate, pass_, direction: str, when: datetime, temperature: str = "36.5") -> Passage:  # noqa: ANN001
    with clock.pinned(when):
        return passage_record(gate=gate, direction=direction, code=code_of(pass_),
                              temperature=temperature).passage


def green_pass(area_field: str, area_id: int, *, skip: int = 0) -> Pass:
    rows = Resident.objects.filter(**{area_field: area_id}, status="active").order_by("pk")
    greens = (r for r in rows[:60] if status_of_residents([r]).colour == Colour.GREEN)
    for _ in range(skip):
        next(greens)
    return Pass.objects.create(resident=next(greens), issued_at=NOW - timedelta(days=1))


@pytest.fixture
def day(city, gate):  # noqa: ANN001
    """At 东门 of the first community: 00:10 out (local time; the day before in UTC),
    08:05 out, 08:20 in, 08:40 refused with a fever, 17:30 in. At 西门 of the same
    community: 18:50 out. At a gate of the second community (same street): 12:00 out.
    The day before at 23:50, one passage at 东门 that is not counted."""
    first, second = (green_pass("community_id", gate.community_id, skip=i) for i in (0, 1))
    other = city.persona("other_grid_worker").area.parent
    third = green_pass("community_id", other.pk)
    west = Gate.objects.create(community=gate.community, name="西门", created_at=NOW)
    south = Gate.objects.create(community=other, name="南门", created_at=NOW)
    scan(gate, first, "in", at(0, 10) - timedelta(minutes=20))  # 23:50 the day before
    scan(gate, first, "out", at(0, 10))
    scan(gate, first, "in", at(8, 5))
    scan(gate, first, "out", at(8, 20))
    scan(gate, second, "out", at(8, 40), temperature="38.2")
    scan(gate, first, "in", at(17, 30))
    scan(west, first, "out", at(18, 50))
    scan(south, third, "out", at(12, 0))
    return {"east": gate, "west": west, "south": south, "other": other}


def test_the_counts_per_local_hour_gate_and_community(day, street_officer):  # noqa: ANN001
    community = day["east"].community
    with clock.pinned(at(20)):
        figures = area_gate_figures(community, DAY)
    hours = {h: (c.passed_in, c.passed_out, c.refused, c.fever)
             for h, c in figures.busy_hours}
    assert hours == {0: (0, 1, 0, 0), 8: (1, 1, 1, 1), 17: (1, 0, 0, 0), 18: (0, 1, 0, 0)}
    totals = figures.totals
    assert (totals.passed_in, totals.passed_out, totals.refused, totals.fever) == (2, 3, 1, 1)
    per_gate = {line.gate.name: (line.counts.passed_in, line.counts.passed_out,
                                 line.counts.refused) for line in figures.gates}
    assert per_gate == {"东门": (2, 2, 1), "西门": (0, 1, 0)}
    assert figures.communities == []
    one_gate = area_gate_figures(community, DAY, gate_id=day["west"].pk)
    assert [h for h, _c in one_gate.busy_hours] == [18]
    street = area_gate_figures(street_officer.area, DAY)
    lines = {line.community.pk: (line.gates, line.counts.total) for line in street.communities}
    assert lines == {community.pk: (2, 6), day["other"].pk: (1, 1)}
    assert street.totals.total == 7


def test_the_day_before_is_its_own(day):  # noqa: ANN001
    figures = area_gate_figures(day["east"].community, DAY - timedelta(days=1))
    assert [(h, c.passed_in) for h, c in figures.busy_hours] == [(23, 1)]


def test_the_figures_read_a_fixed_number_of_queries(day, street_officer):  # noqa: ANN001
    area = street_officer.area
    with CaptureQueriesContext(connection) as few:
        area_gate_figures(area, DAY)
    first = Pass.objects.filter(passages__gate=day["east"]).first()
    Passage.objects.bulk_create([
        Passage(gate=day["west"], community_id=day["west"].community_id,
                at=at(h, 30), direction="in", pass_ref=first, result="passed",
                received_at=at(h, 30)) for h in range(24) for _ in range(3)])
    with CaptureQueriesContext(connection) as many:
        figures = area_gate_figures(area, DAY)
    assert len(many) == len(few) <= 5
    assert figures.totals.passed_in == 2 + 72


@pytest.mark.parametrize(("persona", "where", "status"), [
    ("community_secretary", "own", 200), ("street_officer", "own", 200),
    ("street_officer", "community", 200), ("admin", "own", 200),
    ("community_secretary", "other", 404), ("other_street_officer", "community", 404),
    ("community_worker", "own", 403), ("gate_guard", "own", 403), ("volunteer", "own", 403),
    ("grid_worker", "own", 404), ("grid_worker", "community", 404),
])
def test_who_opens_the_figures(city, day, persona, where, status):  # noqa: ANN001
    user = city.persona(persona)
    area = {"own": user.area, "community": day["east"].community, "other": day["other"]}[where]
    assert make_client(user, language="en").get(url(area)).status_code == status


def test_the_page_has_the_chart_data_and_the_table(day, community_secretary):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    with clock.pinned(at(20)):
        response = client.get(url(community_secretary.area), {"day": f"{DAY:%Y-%m-%d}"})
    assert response.status_code == 200
    text = response.content.decode()
    blob = text.split('<script id="gate-hours-data" type="application/json">')[1]
    chart = json.loads(blob.split("</script>")[0])
    series = {s["key"]: s["data"] for s in chart["series"]}
    assert series["in"][8] == 1 and series["fever"][8] == 1 and series["refused"][8] == 0
    assert len(chart["hours"]) == 24
    assert "echarts-5.6.0.min.js" in text and "passes/figures.js" in text
    assert "08:00–08:59" in text and "东门" in text and "西门" in text
    assert "onload" not in text and "<script>" not in text


def test_a_street_page_lists_its_communities(day, street_officer):  # noqa: ANN001
    client = make_client(street_officer, language="en")
    with clock.pinned(at(20)):
        text = client.get(url(street_officer.area)).content.decode()
    assert "Per community" in text and day["other"].name in text
    assert url(day["other"]) in text


def test_a_bad_day_shows_today(day, community_secretary):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    with clock.pinned(at(20)):
        response = client.get(url(community_secretary.area), {"day": "yesterday"})
    assert response.status_code == 200
    assert "Enter a date such as 2020-02-10." in response.content.decode()
