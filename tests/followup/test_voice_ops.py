"""The voice operations page: who may see it, the line machines and trunk as their
heartbeats left them, live calls without personal data, and the calls of the last 24 hours
scoped to the viewer's area, with a fixed number of queries."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fangkong.followup.models import Attempt, Contact, LineMachine, Round
from fangkong.followup.voice_figures import voice_call_figures
from fangkong.lib import clock
from fangkong.places.models import Area, AreaKind
from fangkong.residents.models import Resident
from tests.followup.conftest import at, make_campaign
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db

NOW = at(12, 30)
URL = "followup:voice_ops"


@pytest.fixture
def now():
    clock.set(NOW)
    yield NOW
    clock.reset()


@pytest.fixture
def round_(community_secretary, community, now):  # noqa: ANN001, ANN201
    campaign = make_campaign(community_secretary, community, start=False)
    return Round.objects.create(campaign=campaign, scheduled_for=at(9, 0), closes_at=at(15, 0),
                                opened_at=at(9, 0))


def contact_of(round_: Round, resident: Resident) -> Contact:
    contact = Contact(round=round_, resident=resident)
    contact.copy_scope_from(resident)
    contact.save()
    return contact


def calls(contact: Contact, outcomes: list[str], *, started) -> None:  # noqa: ANN001
    Attempt.objects.bulk_create([
        Attempt(contact=contact, channel="voice", step=1, try_number=n,
                key=f"{contact.pk}.{started:%H%M}.{n}", outcome=outcome, started_at=started,
                finished_at=started + timedelta(minutes=1))
        for n, outcome in enumerate(outcomes)])


@pytest.fixture
def machines(now):  # noqa: ANN001, ANN201
    up = LineMachine.objects.create(
        name="lines-a", lines=8, busy=2, started_at=now - timedelta(hours=3),
        heartbeat_at=now - timedelta(seconds=4), restarts=1,
        live=[{"line": 1, "state": "ringing", "since": (now - timedelta(seconds=12)).isoformat(),
               "number": "13800001234", "name": "王小明"},
              {"line": 2, "state": "talking", "since": (now - timedelta(seconds=75)).isoformat()}])
    down = LineMachine.objects.create(
        name="lines-b", lines=4, busy=0, started_at=now - timedelta(hours=3),
        heartbeat_at=now - timedelta(seconds=5), trunk_up=False,
        trunk_down_since=now - timedelta(minutes=7), trunk_detail="503 Service Unavailable")
    gone = LineMachine.objects.create(
        name="lines-c", lines=4, busy=3, started_at=now - timedelta(hours=5),
        heartbeat_at=now - timedelta(seconds=45),
        live=[{"line": 3, "state": "talking", "since": now.isoformat()}])
    return up, down, gone


@pytest.mark.parametrize(("persona", "status"), [
    ("admin", 200), ("street_officer", 200), ("community_secretary", 200),
    ("community_worker", 403), ("grid_worker", 403), ("gate_guard", 403), ("volunteer", 403)])
def test_the_page_is_for_those_who_run_the_calls(city, persona, status, now):  # noqa: ANN001
    response = make_client(city.persona(persona)).get(reverse(URL))
    assert response.status_code == status
    campaigns = make_client(city.persona(persona)).get(reverse("followup:campaigns"))
    if campaigns.status_code == 200:
        assert (f'href="{reverse(URL)}"' in campaigns.content.decode()) == (status == 200)


def test_machines_trunk_and_live_calls_are_shown_without_personal_data(
        community_secretary, machines):  # noqa: ANN001
    response = make_client(community_secretary).get(reverse(URL))

    body = response.content.decode()
    assert "语音外呼运行情况" in body
    rows = {r.machine.name: r for r in response.context["machines"]}
    assert (rows["lines-a"].online, rows["lines-a"].idle, rows["lines-a"].age_seconds) == (
        True, 6, 4)
    assert rows["lines-b"].online and not rows["lines-c"].online
    assert body.count('class="offline"') == 1
    assert "503 Service Unavailable" in body
    assert "13800001234" not in body and "王小明" not in body
    live = response.context["live_calls"]
    # The offline machine's calls are stale: not listed.
    assert [(c.machine, c.line, c.seconds) for c in live] == [("lines-a", 1, 12),
                                                               ("lines-a", 2, 75)]
    assert 'hx-trigger="every 10s"' in body

    part = make_client(community_secretary).get(reverse(URL), {"part": "lines"})
    assert part.status_code == 200
    assert part.content.decode().lstrip().startswith('<div id="voice-lines"')
    assert "figures" not in part.context


def test_the_calls_of_the_last_day_are_counted_in_the_viewers_area(
        round_, city, community_secretary, street_officer, now):  # noqa: ANN001
    community = community_secretary.area
    own = contact_of(round_, Resident.objects.filter(community=community).order_by("pk")[0])
    sibling = (Area.objects.filter(kind=AreaKind.COMMUNITY, parent_id=community.parent_id)
               .exclude(pk=community.pk).order_by("path").first())
    next_door = contact_of(round_, Resident.objects.filter(community=sibling).order_by("pk")[0])
    calls(own, ["answered", "partial", "no_answer", "busy"], started=at(10, 5))
    calls(own, ["answered", "not_placed", "capped", "sending"], started=at(11, 40))
    calls(own, ["answered"], started=now - timedelta(hours=25))  # before the window
    calls(next_door, ["no_answer", "no_answer"], started=at(11, 0))

    mine = voice_call_figures(community_secretary, now=now)
    street = voice_call_figures(street_officer, now=now)

    assert mine.calls == 8 and street.calls == 10
    by_hour = {h.astimezone(now.tzinfo).hour: (c, a) for h, c, a in mine.hours}
    assert len(mine.hours) == 24
    assert (mine.hours[0][0], mine.hours[-1][0]) == (at(12) - timedelta(hours=23), at(12))
    assert by_hour[10] == (4, 2) and by_hour[11] == (4, 1) and by_hour[12] == (0, 0)
    # Answered in full or in part over the calls that rang: not the ones never placed.
    assert (mine.answered, mine.finished) == (3, 5)
    assert mine.answer_rate == pytest.approx(0.6)
    assert dict((o, n) for o, _label, n in mine.outcomes) == {
        "answered": 2, "partial": 1, "no_answer": 1, "busy": 1, "not_placed": 1, "capped": 1,
        "sending": 1}
    assert street.answered == 3 and street.finished == 7

    response = make_client(community_secretary).get(reverse(URL))
    body = response.content.decode()
    chart = json.loads(json.dumps(response.context["chart"]))  # what json_script gets
    assert sum(chart["calls"]) == 8 and len(chart["hours"]) == 24
    assert "60%" in body
    assert 'id="voice-data"' in body and "echarts-5.6.0.min.js" in body
    labels = {o: label for o, label, _n in response.context["figures"].outcomes}
    assert f"<td>{labels['no_answer']}</td><td>1</td>" in body


def test_the_page_needs_a_fixed_number_of_queries(round_, community_secretary, now):  # noqa: ANN001
    client = make_client(community_secretary)
    url = reverse(URL)
    client.get(url)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    empty = queries()
    residents = Resident.objects.filter(community=community_secretary.area).order_by("pk")[:5]
    for n, resident in enumerate(residents):
        calls(contact_of(round_, resident), ["answered", "no_answer"],
              started=at(9 + n, 10))
        LineMachine.objects.create(name=f"m{n}", lines=4, started_at=now, heartbeat_at=now)
    assert queries() == empty <= 8
