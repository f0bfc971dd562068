"""The follow-up robot through the API: campaigns, the round table, alerts and isolation
periods, each scoped like the pages, with a bearer token and with the session (+ CSRF).

On top of the API town (tests/api/conftest.py) each community runs a campaign with one
open round; some residents answered, some with a fever or a cough (which raised alerts),
the others have not answered yet. The district has a draft campaign of its own.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.translation import gettext

from fangkong.accounts.models import User
from fangkong.followup import tables
from fangkong.followup.answers import contacts_answer
from fangkong.followup.models import (
    Alert,
    AlertStatus,
    Campaign,
    Contact,
    Questionnaire,
    Round,
)
from fangkong.followup.rounds import round_open
from fangkong.followup.services import CampaignInput, campaign_create
from fangkong.isolation.models import IsolationPeriod, PeriodStatus
from fangkong.isolation.services import isolation_end, isolation_start
from fangkong.lib import clock
from tests.api.conftest import NO_REGISTRY_PERSONAS, REGISTRY_PERSONAS, VISIBLE_GRIDS, Town

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
NOT_FOUND = {"detail": "Not found."}
CSRF_SECRET = "abcdefghijklmnopqrstuvwxyzABCDEF"
FEVER = {"fever": True, "temperature": Decimal("38.2"), "cough": False, "symptoms": []}
COUGH = {"fever": False, "cough": True, "symptoms": []}
FINE = {"fever": False, "cough": False, "symptoms": []}
# The roles that resolve alerts and record isolation periods; the admin only reads.
HANDLERS = ("grid_worker", "community_worker", "community_secretary", "street_officer")


@dataclass
class FollowUp:
    campaigns: dict[str, Campaign] = field(default_factory=dict)  # "C1", "C2", "district"
    rounds: dict[str, Round] = field(default_factory=dict)  # "C1", "C2"
    periods: dict[str, IsolationPeriod] = field(default_factory=dict)  # open: A1, B1; ended: A2


def _answer(round_: Round, resident: Any, given: dict[str, Any], channel: str) -> None:
    contact = (Contact.objects.select_related("round", "round__campaign")
               .get(round=round_, resident=resident))
    with transaction.atomic():
        contacts_answer([(contact, given, channel)])


def build_followup(town: Town) -> FollowUp:
    made = FollowUp()
    root = User.objects.get(username="api_root")
    version = Questionnaire.objects.get(slug="daily_health").versions.latest("number")
    now = clock.now()
    today = clock.local_today()
    for key, by in (("C1", town.users["community_secretary"]), ("C2", root),
                    ("district", root)):
        made.campaigns[key] = campaign_create(by=by, data=CampaignInput(
            name=f"{key}每日健康随访", purpose="疫情防控每日健康随访", area=town.areas[key],
            version=version, times=["09:00"], starts_on=today, round_minutes=720,
            plan=[{"channel": "web", "at": 0}, {"channel": "visit", "at": 60}]))
    for key in ("C1", "C2"):
        Campaign.objects.filter(pk=made.campaigns[key].pk).update(status="running")
        made.rounds[key] = round_open(campaign=made.campaigns[key],
                                      scheduled_for=now - timedelta(hours=1), now=now)
    c1, c2 = made.rounds["C1"], made.rounds["C2"]
    _answer(c1, town.resident("A1", 0), FEVER, "web")  # alerts: 发热 (high), 自述发热
    _answer(c1, town.resident("A1", 1), FINE, "sms")
    _answer(c1, town.resident("A2", 0), COUGH, "voice")  # alert: 有呼吸道等症状
    _answer(c1, town.resident("A2", 1), FINE, "web")
    _answer(c2, town.resident("B1", 0), FEVER, "web")
    _answer(c2, town.resident("B2", 0), COUGH, "web")
    made.periods["A1"] = isolation_start(resident=town.resident("A1", 2), kind="isolation",
                                         starts_on=today, reason="密接", place="家中", by=root)
    made.periods["B1"] = isolation_start(resident=town.resident("B1", 2), kind="monitoring",
                                         starts_on=today, reason="武汉返回", by=root)
    ended = isolation_start(resident=town.resident("A2", 2), kind="isolation",
                            starts_on=today - timedelta(days=3), reason="密接", by=root)
    made.periods["A2"] = isolation_end(period=ended, on=today, end_reason="early", by=root)
    return made


@pytest.fixture(scope="module")
def _followup_rows(_town_rows: Town, django_db_blocker: Any) -> Iterator[FollowUp]:
    # Inside the town's module transaction: rolled back with it.
    with django_db_blocker.unblock():
        yield build_followup(_town_rows)


@pytest.fixture
def fu(_followup_rows: FollowUp, town: Town) -> FollowUp:
    return copy.deepcopy(_followup_rows)


def grids(town: Town, persona: str) -> set[int]:
    return {town.areas[g].pk for g in VISIBLE_GRIDS[persona]}


def session_client(user: User, *, csrf: bool = True) -> Client:
    """The browser's session; with `csrf`, unsafe requests carry the CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    if csrf:
        client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET
    return client


def session_post(client: Client, path: str, body: dict[str, Any], *,
                 csrf: bool = True) -> Any:
    headers = {"HTTP_X_CSRFTOKEN": CSRF_SECRET} if csrf else {}
    return client.post(f"/api{path}", json.dumps(body), content_type="application/json",
                       **headers)


def said(msgid: str) -> str:
    """What the API says for a service's message: its Chinese translation (the default
    language), or the English source while the catalog has none."""
    with translation.override(settings.LANGUAGE_CODE):
        return gettext(msgid)


def walk_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in walk_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in walk_keys(v)}
    return set()


def assert_refused(response: Any, field: str, msgid: str) -> None:
    """A 400 naming `field` with the service's (translated) message, in the API's shape."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert body["errors"][field] == [said(msgid)], body
    assert said(msgid) in body["detail"]


# Campaigns --------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", REGISTRY_PERSONAS)
def test_campaign_list_holds_the_own_area_and_the_areas_above(api, town, fu, persona):
    response = api.get("/followup/campaigns", persona)
    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["items"]}
    expected = {"C1", "district"} | ({"C2"} if persona == "admin" else set())
    assert ids == {fu.campaigns[key].pk for key in expected}


@pytest.mark.parametrize("persona", NO_REGISTRY_PERSONAS)
def test_roles_without_the_registry_get_403_on_every_read(api, town, fu, persona):
    for path in ("/followup/campaigns", f"/followup/campaigns/{fu.campaigns['C1'].pk}",
                 f"/followup/rounds/{fu.rounds['C1'].pk}/table", "/followup/alerts",
                 "/followup/isolation"):
        response = api.get(path, persona)
        assert response.status_code == 403, path
        assert response.json()["detail"] == said("Your role cannot see the registry.")


def test_campaign_list_is_newest_first_and_pages_by_before(api, town, fu):
    first = api.get("/followup/campaigns", "admin", limit=2).json()
    newest = sorted((c.pk for c in fu.campaigns.values()), reverse=True)
    assert [item["id"] for item in first["items"]] == newest[:2]
    assert first["next_before"] == newest[1]
    rest = api.get("/followup/campaigns", "admin", limit=2, before=first["next_before"]).json()
    assert [item["id"] for item in rest["items"]] == newest[2:]
    assert rest["next_before"] is None


def test_campaign_list_query_count_does_not_grow_with_the_campaigns(api, town, fu):
    api.get("/followup/campaigns", "admin")  # a token's use is recorded once a minute
    with CaptureQueriesContext(connection) as before:
        assert len(api.get("/followup/campaigns", "admin").json()["items"]) == 3
    root = User.objects.get(username="api_root")
    for key in ("C1", "C2"):
        campaign_create(by=root, data=CampaignInput(
            name="独居老人关怀", purpose="关心独居老人", area=town.areas[key],
            version=fu.campaigns[key].version, times=["10:00"],
            starts_on=clock.local_today(), target={"tags": ["elderly_alone"]},
            plan=[{"channel": "voice", "at": 0}]))
    with CaptureQueriesContext(connection) as after:
        assert len(api.get("/followup/campaigns", "admin").json()["items"]) == 5
    assert len(after.captured_queries) == len(before.captured_queries) == 2  # token, rows


def test_campaign_detail_has_its_rounds(api, town, fu):
    campaign, round_ = fu.campaigns["C1"], fu.rounds["C1"]
    response = api.get(f"/followup/campaigns/{campaign.pk}", "grid_worker")
    assert response.status_code == 200
    out = response.json()
    assert out["name"] == "C1每日健康随访"
    assert out["status"] == "running"
    assert out["area"] == {"id": town.areas["C1"].pk, "kind": "community", "name": "第1社区"}
    assert out["questionnaire"]["id"] == campaign.version.questionnaire_id
    assert out["questionnaire"]["version"] == campaign.version.number
    assert out["times"] == ["09:00"]
    assert [step["channel"] for step in out["plan"]] == ["web", "visit"]
    assert out["target_text"]
    assert [r["id"] for r in out["rounds"]] == [round_.pk]
    assert out["rounds"][0]["targeted"] == 6
    assert out["rounds"][0]["status"] == "open"


def test_campaign_of_another_community_is_404_like_a_missing_one(api, town, fu):
    outside = api.get(f"/followup/campaigns/{fu.campaigns['C2'].pk}", "community_worker")
    missing = api.get("/followup/campaigns/999999999", "community_worker")
    assert (outside.status_code, outside.json()) == (404, NOT_FOUND)
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)


# The round table ----------------------------------------------------------------------------


def row_of(row: tables.Row) -> dict[str, Any]:
    return {"area_id": row.area_id, "name": row.name, "targeted": row.targeted,
            "answered": row.answered,
            "by_channel": {c: row.by_channel.get(c, 0) for c in tables.CHANNELS},
            "pending": row.pending, "unreached": row.unreached, "opted_out": row.opted_out,
            "abnormal": row.abnormal, "high": row.high, "alerts_open": row.alerts_open,
            "alerts_resolved": row.alerts_resolved, "by_rule": row.by_rule,
            "reached_pct": row.reached_pct, "done_pct": row.done_pct}


# The area each persona's table is for by default: the campaign's community when the
# persona sees all of it, else the persona's own area.
DEFAULT_TABLE_AREA = {"grid_worker": "A1", "community_worker": "C1",
                      "community_secretary": "C1", "street_officer": "C1", "admin": "C1"}


@pytest.mark.parametrize("persona", REGISTRY_PERSONAS)
def test_round_table_has_the_numbers_of_tables_round_table(api, town, fu, persona):
    round_ = fu.rounds["C1"]
    area = town.areas[DEFAULT_TABLE_AREA[persona]]
    response = api.get(f"/followup/rounds/{round_.pk}/table", persona)
    assert response.status_code == 200, response.content
    out = response.json()
    rows, total = tables.round_table([round_], area)
    assert out["area"]["id"] == area.pk
    assert out["round"]["id"] == round_.pk
    assert out["round"]["campaign_id"] == fu.campaigns["C1"].pk
    assert out["rows"] == [row_of(r) for r in rows]
    assert out["total"] == row_of(total)


def test_round_table_counts_what_happened(api, town, fu):
    response = api.get(f"/followup/rounds/{fu.rounds['C1'].pk}/table", "community_secretary")
    out = response.json()
    a1, a2 = out["rows"]
    assert (a1["area_id"], a2["area_id"]) == (town.areas["A1"].pk, town.areas["A2"].pk)
    assert a1 | {"by_channel": None, "by_rule": None} == {
        "area_id": town.areas["A1"].pk, "name": "A1网格", "targeted": 3, "answered": 2,
        "by_channel": None, "pending": 1, "unreached": 0, "opted_out": 0, "abnormal": 1,
        "high": 1, "alerts_open": 2, "alerts_resolved": 0, "by_rule": None,
        "reached_pct": 67, "done_pct": 67}
    assert a1["by_channel"] == {"web": 1, "sms": 1, "voice": 0, "visit": 0}
    assert a1["by_rule"] == {"发热": 1, "自述发热": 1}
    assert a2["by_channel"] == {"web": 1, "sms": 0, "voice": 1, "visit": 0}
    assert a2["by_rule"] == {"有呼吸道等症状": 1}
    assert (a2["abnormal"], a2["high"], a2["alerts_open"]) == (1, 0, 1)
    total = out["total"]
    assert (total["area_id"], total["targeted"], total["answered"], total["pending"]) == (
        town.areas["C1"].pk, 6, 4, 2)
    assert total["by_rule"] == {"发热": 1, "自述发热": 1, "有呼吸道等症状": 1}


def test_round_table_of_an_area_below_and_its_resolved_alerts(api, town, fu):
    alert = Alert.objects.filter(grid=town.areas["A1"], severity="high").get()
    assert api.post(f"/followup/alerts/{alert.pk}/resolve", {"outcome": "fever_clinic"},
                    "community_secretary").status_code == 200
    response = api.get(f"/followup/rounds/{fu.rounds['C1'].pk}/table", "community_secretary",
                       area_id=town.areas["A1"].pk)
    out = response.json()
    assert out["area"]["id"] == town.areas["A1"].pk
    assert [r["area_id"] for r in out["rows"]] == [town.areas["A1"].pk]
    assert (out["total"]["alerts_open"], out["total"]["alerts_resolved"]) == (1, 1)


@pytest.mark.parametrize(("persona", "area"), [
    ("grid_worker", "A2"), ("grid_worker", "C1"), ("community_worker", "C2"),
    ("community_secretary", "B1"), ("street_officer", "S2"), ("street_officer", "district"),
])
def test_round_table_of_an_area_outside_is_404(api, town, fu, persona, area):
    response = api.get(f"/followup/rounds/{fu.rounds['C1'].pk}/table", persona,
                       area_id=town.areas[area].pk)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_round_of_another_community_is_404(api, town, fu):
    response = api.get(f"/followup/rounds/{fu.rounds['C2'].pk}/table", "street_officer",
                       area_id=town.areas["S1"].pk)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


# Alerts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", REGISTRY_PERSONAS)
def test_alert_list_holds_exactly_the_own_area(api, town, fu, persona):
    response = api.get("/followup/alerts", persona)
    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["items"]}
    expected = Alert.objects.filter(grid__in=grids(town, persona), status=AlertStatus.OPEN)
    assert ids == set(expected.values_list("pk", flat=True))
    assert ids


def test_alert_list_shows_the_resident_as_staff_see_them_and_no_phone(api, town, fu):
    out = api.get("/followup/alerts", "grid_worker").json()
    assert out["more"] is False
    items = out["items"]
    resident = town.resident("A1", 0)
    assert [item["severity"] for item in items] == ["high", "medium"]  # most urgent first
    first = items[0]
    assert first["title"] == "发热"
    assert first["reason"]
    assert first["resident"] == {"id": resident.pk, "name": resident.name,
                                 "household_label": resident.household.label}
    assert first["grid"]["id"] == town.areas["A1"].pk
    assert first["assigned_area"] == {"id": town.areas["A1"].pk, "kind": "grid",
                                      "name": "A1网格"}
    assert first["status"] == "open" and first["outcome"] == ""
    assert first["due_at"] and first["overdue"] is False
    assert first["campaign_id"] == fu.campaigns["C1"].pk
    keys = walk_keys(out)
    assert not {k for k in keys if "phone" in k or "id_number" in k}, keys
    body = json.dumps(out)
    assert town.clear_phone[resident.pk] not in body
    assert resident.phone_masked not in body


def test_alert_list_is_limited(api, town, fu):
    out = api.get("/followup/alerts", "admin", limit=1).json()
    assert len(out["items"]) == 1 and out["more"] is True


def test_alert_list_query_count_does_not_grow_with_the_alerts(api, town, fu):
    api.get("/followup/alerts", "admin")  # a token's use is recorded once a minute
    with CaptureQueriesContext(connection) as before:
        assert len(api.get("/followup/alerts", "admin").json()["items"]) == 6
    a2 = town.resident("A2", 2)
    for n in range(5):
        alert = Alert(resident=a2, title=f"提醒{n}", severity="low", created_at=clock.now(),
                      assigned_area=town.areas["C1"], kind="notice")
        alert.copy_scope_from(a2)
        alert.save()
    with CaptureQueriesContext(connection) as after:
        assert len(api.get("/followup/alerts", "admin").json()["items"]) == 11
    assert len(after.captured_queries) == len(before.captured_queries) == 2  # token, rows


def test_grid_worker_resolves_an_alert_of_their_grid(api, town, fu):
    alert = Alert.objects.filter(grid=town.areas["A1"], severity="high").get()
    response = api.post(f"/followup/alerts/{alert.pk}/resolve",
                        {"outcome": "fever_clinic", "note": "已送发热门诊"}, "grid_worker")
    assert response.status_code == 200, response.content
    out = response.json()
    assert (out["id"], out["status"], out["outcome"], out["note"]) == (
        alert.pk, "resolved", "fever_clinic", "已送发热门诊")
    assert out["resolved_at"] and out["overdue"] is False
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by_id == town.users["grid_worker"].pk
    assert alert.events.filter(what="resolved").count() == 1
    resolved = api.get("/followup/alerts", "grid_worker", status="resolved").json()["items"]
    assert [item["id"] for item in resolved] == [alert.pk]
    still_open = api.get("/followup/alerts", "grid_worker").json()["items"]
    assert alert.pk not in {item["id"] for item in still_open}


def test_alert_is_resolved_through_the_session_with_the_csrf_token(town, fu):
    alert = Alert.objects.filter(grid=town.areas["A2"]).get()
    client = session_client(town.users["community_worker"])
    assert client.get("/api/followup/alerts").status_code == 200
    response = session_post(client, f"/followup/alerts/{alert.pk}/resolve",
                            {"outcome": "reached"})
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "reached"


def test_session_resolve_without_the_csrf_token_is_403_and_changes_nothing(town, fu):
    alert = Alert.objects.filter(grid=town.areas["A2"]).get()
    client = session_client(town.users["community_worker"], csrf=False)
    response = session_post(client, f"/followup/alerts/{alert.pk}/resolve",
                            {"outcome": "reached"}, csrf=False)
    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


@pytest.mark.parametrize("persona", HANDLERS)
def test_alert_outside_the_area_is_404_on_resolve_and_stays_open(api, town, fu, persona):
    outside = Alert.objects.filter(grid__in=grids(town, "admin")).exclude(
        grid__in=grids(town, persona))
    assert outside
    for alert in outside:
        response = api.post(f"/followup/alerts/{alert.pk}/resolve", {"outcome": "visited"},
                            persona)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert not outside.exclude(status=AlertStatus.OPEN)


def test_grid_worker_cannot_resolve_the_other_grids_alert(api, town, fu):
    """A sibling grid in the same community: as unknown to the grid worker as a missing
    alert, and left as it was."""
    alert = Alert.objects.filter(grid=town.areas["A2"]).get()
    response = api.post(f"/followup/alerts/{alert.pk}/resolve", {"outcome": "visited"},
                        "grid_worker")
    missing = api.post("/followup/alerts/999999999/resolve", {"outcome": "visited"},
                       "grid_worker")
    assert (response.status_code, response.json()) == (missing.status_code, missing.json())
    assert response.json() == NOT_FOUND
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


@pytest.mark.parametrize("persona", ["admin", *NO_REGISTRY_PERSONAS])
def test_roles_that_do_not_handle_alerts_get_403_on_resolve(api, town, fu, persona):
    alert = Alert.objects.filter(grid=town.areas["A1"], severity="high").get()
    response = api.post(f"/followup/alerts/{alert.pk}/resolve", {"outcome": "visited"},
                        persona)
    assert response.status_code == 403
    assert response.json() == {"detail": said("Your role cannot resolve alerts.")}
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_an_unknown_outcome_is_refused_with_the_field(api, town, fu):
    alert = Alert.objects.filter(grid=town.areas["A1"], severity="high").get()
    response = api.post(f"/followup/alerts/{alert.pk}/resolve", {"outcome": "gone_fishing"},
                        "grid_worker")
    assert_refused(response, "outcome", "Choose what was done.")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_other_needs_a_note(api, town, fu):
    alert = Alert.objects.filter(grid=town.areas["A1"], severity="high").get()
    response = api.post(f"/followup/alerts/{alert.pk}/resolve",
                        {"outcome": "other", "note": "  "}, "grid_worker")
    assert_refused(response, "note", "Say in a few words what was done.")


def test_an_alert_resolved_already_is_refused(api, town, fu):
    alert = Alert.objects.filter(grid=town.areas["A1"], severity="high").get()
    path = f"/followup/alerts/{alert.pk}/resolve"
    assert api.post(path, {"outcome": "visited"}, "grid_worker").status_code == 200
    again = api.post(path, {"outcome": "reached"}, "community_worker")
    assert_refused(again, "outcome", "This alert was already resolved by someone else.")
    alert.refresh_from_db()
    assert alert.outcome == "visited"


def test_a_note_over_300_characters_is_a_422_in_chinese(api, town, fu):
    alert = Alert.objects.filter(grid=town.areas["A1"], severity="high").get()
    response = api.post(f"/followup/alerts/{alert.pk}/resolve",
                        {"outcome": "other", "note": "很" * 301}, "grid_worker")
    assert response.status_code == 422
    assert CJK.search(response.json()["errors"]["note"][0])
    missing = api.post(f"/followup/alerts/{alert.pk}/resolve", {}, "grid_worker")
    assert missing.status_code == 422
    assert CJK.search(missing.json()["errors"]["outcome"][0])


# Isolation --------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", REGISTRY_PERSONAS)
def test_isolation_list_holds_exactly_the_own_area(api, town, fu, persona):
    response = api.get("/followup/isolation", persona)
    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["items"]}
    expected = {fu.periods[g].pk for g in ("A1", "B1")
                if town.areas[g].pk in grids(town, persona)}
    assert ids == expected
    ended = api.get("/followup/isolation", persona, status="ended").json()["items"]
    assert {item["id"] for item in ended} == (
        {fu.periods["A2"].pk} if "A2" in VISIBLE_GRIDS[persona] else set())


def test_isolation_list_shape(api, town, fu):
    out = api.get("/followup/isolation", "grid_worker").json()
    resident = town.resident("A1", 2)
    period = fu.periods["A1"]
    assert out["more"] is False
    assert out["items"] == [{
        "id": period.pk,
        "resident": {"id": resident.pk, "name": resident.name,
                     "household_label": resident.household.label},
        "grid": {"id": town.areas["A1"].pk, "kind": "grid", "name": "A1网格"},
        "kind": "isolation", "status": "open", "starts_on": period.starts_on.isoformat(),
        "planned_end": period.planned_end.isoformat(), "ended_on": None, "end_reason": "",
        "reason": "密接", "place": "家中",
        "created_at": out["items"][0]["created_at"]}]
    assert api.get("/followup/isolation", "grid_worker", status="closed").status_code == 422


def test_isolation_list_query_count_does_not_grow_with_the_periods(api, town, fu):
    api.get("/followup/isolation", "admin")  # a token's use is recorded once a minute
    with CaptureQueriesContext(connection) as before:
        assert len(api.get("/followup/isolation", "admin").json()["items"]) == 2
    root = User.objects.get(username="api_root")
    for grid in ("A2", "B2"):
        isolation_start(resident=town.resident(grid, 1), kind="monitoring",
                        starts_on=clock.local_today(), reason="密接", by=root)
    with CaptureQueriesContext(connection) as after:
        assert len(api.get("/followup/isolation", "admin").json()["items"]) == 4
    assert len(after.captured_queries) == len(before.captured_queries) == 2  # token, rows


def start_body(resident: Any, **overrides: Any) -> dict[str, Any]:
    return {"resident_id": resident.pk, "kind": "isolation", "starts_on": "2026-11-30",
            "reason": "密接", **overrides}


def test_grid_worker_starts_a_period_with_the_default_end(api, town, fu):
    resident = town.resident("A1", 0)
    response = api.post("/followup/isolation", start_body(resident, place="家中"),
                        "grid_worker")
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["resident"]["id"] == resident.pk
    assert (out["kind"], out["status"], out["starts_on"], out["planned_end"]) == (
        "isolation", "open", "2026-11-30", "2026-12-13")  # 14 days including the first
    period = IsolationPeriod.objects.get(pk=out["id"])
    assert period.created_by_id == town.users["grid_worker"].pk
    assert period.events.filter(what="started").count() == 1
    listed = api.get("/followup/isolation", "grid_worker").json()["items"]
    assert out["id"] in {item["id"] for item in listed}


def test_a_period_is_started_through_the_session_with_the_csrf_token(town, fu):
    resident = town.resident("A2", 1)
    client = session_client(town.users["street_officer"])
    response = session_post(client, "/followup/isolation",
                            start_body(resident, kind="monitoring", planned_end="2026-12-06"))
    assert response.status_code == 201, response.content
    assert response.json()["planned_end"] == "2026-12-06"
    refused = session_post(session_client(town.users["street_officer"], csrf=False),
                           "/followup/isolation", start_body(town.resident("A2", 0)),
                           csrf=False)
    assert refused.status_code == 403
    assert not IsolationPeriod.objects.filter(resident=town.resident("A2", 0)).exists()


@pytest.mark.parametrize("persona", HANDLERS)
def test_a_period_for_a_resident_outside_is_404_and_nothing_is_stored(api, town, fu, persona):
    before = IsolationPeriod.objects.count()
    for grid in {"A1", "A2", "B1", "B2"} - VISIBLE_GRIDS[persona]:
        response = api.post("/followup/isolation", start_body(town.resident(grid, 0)),
                            persona)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert IsolationPeriod.objects.count() == before


@pytest.mark.parametrize("persona", ["admin", *NO_REGISTRY_PERSONAS])
def test_roles_that_do_not_handle_alerts_cannot_start_a_period(api, town, fu, persona):
    response = api.post("/followup/isolation", start_body(town.resident("A1", 0)), persona)
    assert response.status_code == 403
    assert response.json() == {"detail": said("Your role cannot record isolation periods.")}
    assert not IsolationPeriod.objects.filter(resident=town.resident("A1", 0)).exists()


@pytest.mark.parametrize(("overrides", "field", "msgid"), [
    ({"reason": ""}, "reason",
     "Say why (for example: close contact, returned from a risk area)."),
    ({"reason": "   "}, "reason",
     "Say why (for example: close contact, returned from a risk area)."),
    ({"kind": "quarantine"}, "kind", "Choose home isolation or home health monitoring."),
    ({"planned_end": "2026-11-29"}, "planned_end", "The end lies before the start."),
])
def test_a_refused_period_names_the_field(api, town, fu, overrides, field, msgid):
    resident = town.resident("A1", 0)
    response = api.post("/followup/isolation", start_body(resident, **overrides),
                        "grid_worker")
    assert_refused(response, field, msgid)
    assert not IsolationPeriod.objects.filter(resident=resident).exists()


def test_a_second_open_period_is_refused(api, town, fu):
    response = api.post("/followup/isolation", start_body(town.resident("A1", 2)),
                        "grid_worker")
    assert_refused(response, "kind",
                   "This resident is already in a period: extend or end that one.")
    assert IsolationPeriod.objects.filter(resident=town.resident("A1", 2),
                                          status=PeriodStatus.OPEN).count() == 1


def test_period_input_has_length_limits_and_required_fields(api, town, fu):
    resident = town.resident("A1", 0)
    too_long = api.post("/followup/isolation",
                        start_body(resident, reason="密" * 201, place="家" * 101), "grid_worker")
    assert too_long.status_code == 422
    assert {"reason", "place"} <= set(too_long.json()["errors"])
    missing = api.post("/followup/isolation", {"resident_id": resident.pk}, "grid_worker")
    assert missing.status_code == 422
    assert {"kind", "starts_on", "reason"} <= set(missing.json()["errors"])
    assert CJK.search(missing.json()["errors"]["reason"][0])
    assert not IsolationPeriod.objects.filter(resident=resident).exists()


# The language of the refusals -------------------------------------------------------------


REFUSALS = ("Choose what was done.", "Say in a few words what was done.",
            "This alert was already resolved by someone else.",
            "Your role cannot resolve alerts.",
            "Say why (for example: close contact, returned from a risk area).",
            "Choose home isolation or home health monitoring.",
            "The end lies before the start.",
            "This resident is already in a period: extend or end that one.",
            "Your role cannot record isolation periods.")


def test_refusals_are_in_chinese():
    """The 400 and 403 messages above are the services' own, through gettext: Chinese, from
    the zh_Hans catalog."""
    for msgid in REFUSALS:
        assert CJK.search(said(msgid)), msgid
