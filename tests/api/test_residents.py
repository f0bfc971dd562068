"""Registering, changing, searching and revealing residents through the API."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.lib.idcard import make_id_number
from fangkong.places.services import household_create
from fangkong.residents.models import Resident
from tests.api.conftest import REGION

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
ZH_CATALOG = settings.LOCALE_PATHS[0] / "zh_Hans" / "LC_MESSAGES" / "django.mo"


def assert_user_message(message: str) -> None:
    """A message a grid worker can read: not empty, and Chinese once the zh-Hans catalog
    has been compiled (until then the English source text comes through)."""
    assert message.strip()
    if ZH_CATALOG.exists():
        assert CJK.search(message), f"untranslated message: {message!r}"


def assert_refused(response: Any, *fields: str) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(fields) <= set(body["errors"]), body
    for name in fields:
        for message in body["errors"][name]:
            assert_user_message(message)
    assert_user_message(body["detail"])
    return body["errors"]


def walk_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in walk_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in walk_keys(v)}
    return set()


def new_resident(town, grid: str = "A1", **overrides: Any) -> dict[str, Any]:
    body = {"household_id": town.households[grid][1].pk, "name": "赵秀兰",
            "id_number": make_id_number(REGION, date(1950, 3, 8), 900),
            "phone": "13712345678", "relation": "spouse", "tags": ["no_smartphone"],
            "preferred_channel": "voice"}
    return {**body, **overrides}


# Registering ---------------------------------------------------------------------------


def test_grid_worker_registers_a_resident(api, town):
    body = new_resident(town)
    response = api.post("/residents", body, "grid_worker")
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["name"] == "赵秀兰"
    assert out["gender"] == "F"  # from the ID number
    assert out["birth_date"] == "1950-03-08"
    assert out["household"]["id"] == body["household_id"]
    assert out["grid"]["id"] == town.areas["A1"].pk
    assert [t["slug"] for t in out["tags"]] == ["no_smartphone"]
    assert out["phone_masked"] == "137****5678"
    assert out["id_number_masked"].startswith(REGION) and "*" in out["id_number_masked"]
    assert out["version"] == 1
    event = AuditEvent.objects.get(action=AuditAction.RESIDENT_CREATE, object_id=str(out["id"]))
    assert event.actor_id == town.users["grid_worker"].pk
    assert event.ip == "127.0.0.1"
    assert body["phone"] not in json.dumps(event.changes)


def test_registering_updates_the_area_figures(api, town):
    grid = town.areas["A1"]
    before = api.get(f"/areas/{grid.pk}", "grid_worker").json()["stats"]
    assert api.post("/residents", new_resident(town), "grid_worker").status_code == 201
    after = api.get(f"/areas/{grid.pk}", "grid_worker").json()["stats"]
    assert after["residents"] == before["residents"] + 1
    assert after["by_tag"].get("no_smartphone", 0) == before["by_tag"].get("no_smartphone", 0) + 1


def test_output_carries_only_masked_personal_data(api, town):
    resident = town.resident("A1")
    clear = [town.clear_phone[resident.pk], town.clear_id_number[resident.pk]]
    responses = [
        api.get(f"/residents/{resident.pk}", "community_secretary"),
        api.get("/residents", "community_secretary"),
        api.get(f"/households/{resident.household_id}", "community_secretary"),
        api.post("/residents", new_resident(town), "community_secretary"),
    ]
    for response in responses:
        assert response.status_code in (200, 201)
        text = response.content.decode()
        assert not any(value in text for value in clear)
        keys = walk_keys(response.json())
        assert not [k for k in keys if "sealed" in k or "index" in k or "last4" in k], keys


@pytest.mark.parametrize(("field", "value"), [
    ("id_number", "110101199003071234"),  # wrong check digit
    ("id_number", "12345"),
    ("phone", "12345"),
    ("phone", "1381234567a"),
    ("name", "   "),
    ("name", "张??"),
    ("gender", "X"),
    ("relation", "cousin"),
    ("preferred_channel", "fax"),
    ("status", "gone"),
])
def test_invalid_input_is_refused_with_the_field_and_a_message(api, town, field, value):
    response = api.post("/residents", new_resident(town, **{field: value}), "grid_worker")
    assert_refused(response, field)
    assert not Resident.objects.filter(household=town.households["A1"][1],
                                       name="赵秀兰").exists()


def test_every_problem_is_reported_at_once(api, town):
    response = api.post("/residents", new_resident(town, name="", id_number="123",
                                                   phone="99"), "grid_worker")
    assert_refused(response, "name", "id_number", "phone")


def test_messages_follow_the_callers_language(api, town):
    body = json.dumps(new_resident(town, name=""))
    chinese = api.client.post("/api/residents", body, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {town.tokens['grid_worker']}")
    english = api.client.post("/api/residents", body, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {town.tokens['grid_worker']}",
                              HTTP_ACCEPT_LANGUAGE="en")
    assert_refused(chinese, "name")
    assert english.status_code == 400
    assert not CJK.search(english.json()["errors"]["name"][0])
    if ZH_CATALOG.exists():
        assert chinese.json()["errors"]["name"] != english.json()["errors"]["name"]


def test_duplicate_id_number_is_refused(api, town):
    taken = town.clear_id_number[town.resident("A2").pk]
    response = api.post("/residents", new_resident(town, id_number=taken), "grid_worker")
    errors = assert_refused(response, "id_number")
    assert errors["id_number"]


def test_unknown_tag_is_refused_by_slug(api, town):
    response = api.post("/residents", new_resident(town, tags=["no_smartphone", "vip"]),
                        "grid_worker")
    errors = assert_refused(response, "tags")
    assert "vip" in errors["tags"][0]


def test_gender_contradicting_the_id_number_is_refused(api, town):
    response = api.post("/residents", new_resident(town, gender="M"), "grid_worker")
    assert_refused(response, "gender")


def test_missing_household_is_a_422_of_the_request_shape(api, town):
    body = new_resident(town)
    del body["household_id"]
    response = api.post("/residents", body, "grid_worker")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "household_id"]


# Changing ------------------------------------------------------------------------------


def test_change_bumps_the_version_and_is_audited(api, town):
    resident = town.resident("A1")
    response = api.patch(f"/residents/{resident.pk}",
                         {"version": 1, "phone": "13611112222", "tags": ["chronic"]},
                         "grid_worker")
    assert response.status_code == 200, response.content
    out = response.json()
    assert out["version"] == 2
    assert out["phone_masked"] == "136****2222"
    assert [t["slug"] for t in out["tags"]] == ["chronic"]
    assert out["name"] == resident.name  # untouched
    event = AuditEvent.objects.get(action=AuditAction.RESIDENT_UPDATE, object_id=str(resident.pk))
    assert set(event.changes) == {"phone", "tags"}


def test_edit_of_an_outdated_version_is_refused(api, town):
    resident = town.resident("A1")
    first = api.patch(f"/residents/{resident.pk}", {"version": 1, "remarks": "第一次"},
                      "grid_worker")
    assert first.status_code == 200
    stale = api.patch(f"/residents/{resident.pk}", {"version": 1, "remarks": "第二次"},
                      "community_worker")
    assert_refused(stale, "__all__")
    resident.refresh_from_db()
    assert resident.remarks == "第一次"
    assert resident.version == 2


def test_patch_without_version_is_a_422(api, town):
    response = api.patch(f"/residents/{town.resident('A1').pk}", {"remarks": "x"},
                         "grid_worker")
    assert response.status_code == 422


def test_invalid_change_is_refused_and_nothing_is_saved(api, town):
    resident = town.resident("A1")
    response = api.patch(f"/residents/{resident.pk}",
                         {"version": 1, "remarks": "新备注", "phone": "12"}, "grid_worker")
    assert_refused(response, "phone")
    resident.refresh_from_db()
    assert (resident.remarks, resident.version) == ("", 1)


def test_changing_to_another_residents_id_number_is_refused(api, town):
    resident = town.resident("A1")
    other = town.clear_id_number[town.resident("A1", 1).pk]
    response = api.patch(f"/residents/{resident.pk}", {"version": 1, "id_number": other},
                         "grid_worker")
    assert_refused(response, "id_number")


def test_move_within_the_area_changes_the_grid(api, town):
    resident = town.resident("A1")
    target = household_create(building=town.buildings["A2"], unit=1, room="201")
    response = api.patch(f"/residents/{resident.pk}",
                         {"version": 1, "household_id": target.pk}, "community_secretary")
    assert response.status_code == 200
    assert response.json()["household"]["id"] == target.pk
    assert response.json()["grid"]["id"] == town.areas["A2"].pk
    assert response.json()["version"] == 2
    # The grid worker of A1 no longer sees them.
    assert api.get(f"/residents/{resident.pk}", "grid_worker").status_code == 404


def test_move_to_a_household_with_the_same_label_is_saved(api, town):
    resident = town.resident("A1")
    target = town.households["A2"][0]
    assert target.label == resident.household.label
    response = api.patch(f"/residents/{resident.pk}",
                         {"version": 1, "household_id": target.pk}, "community_secretary")
    assert response.status_code == 200
    assert response.json()["household"]["id"] == target.pk


# Revealing -----------------------------------------------------------------------------


def test_reveal_returns_the_clear_phone_and_writes_an_audit_event(api, town):
    resident = town.resident("A1")
    response = api.post(f"/residents/{resident.pk}/reveal", {"what": "phone"}, "grid_worker")
    assert response.status_code == 200
    assert response.json() == {"value": town.clear_phone[resident.pk]}
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action=AuditAction.REVEAL_PHONE, object_id=str(resident.pk))
    assert event.actor_id == town.users["grid_worker"].pk
    assert event.ip == "127.0.0.1"
    assert event.area_path == town.areas["A1"].path


def test_reveal_of_the_id_number_by_the_secretary_is_audited(api, town):
    resident = town.resident("A2")
    response = api.post(f"/residents/{resident.pk}/reveal", {"what": "id_number"},
                        "community_secretary")
    assert response.json() == {"value": town.clear_id_number[resident.pk]}
    assert AuditEvent.objects.filter(action=AuditAction.REVEAL_ID_NUMBER,
                                     object_id=str(resident.pk)).count() == 1


def test_refused_reveal_writes_no_audit_event(api, town):
    resident = town.resident("A1")
    response = api.post(f"/residents/{resident.pk}/reveal", {"what": "id_number"},
                        "grid_worker")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.REVEAL_ID_NUMBER).exists()


def test_reveal_of_something_else_is_a_422(api, town):
    response = api.post(f"/residents/{town.resident('A1').pk}/reveal", {"what": "name"},
                        "community_secretary")
    assert response.status_code == 422


# Searching -----------------------------------------------------------------------------


def test_pages_follow_next_after_until_the_end(api, town):
    seen: list[int] = []
    after = None
    sizes = []
    while True:
        params = {"limit": 5} if after is None else {"limit": 5, "after": after}
        body = api.get("/residents", "admin", **params).json()
        seen += [item["id"] for item in body["items"]]
        sizes.append(len(body["items"]))
        after = body["next_after"]
        if after is None:
            break
    assert sizes == [5, 5, 2]
    assert seen == sorted(town.resident_ids({"A1", "A2", "B1", "B2"}))


@pytest.mark.parametrize(("q", "kind"), [
    ("", "all"), ("A1张", "name"), ("zw", "pinyin"), ("0001", "last4"),
    ("139 0000 0001", "phone"), ("1-1-101", "room"),
])
def test_the_query_is_reported_as_understood(api, town, q, kind):
    body = api.get("/residents", "grid_worker", q=q).json()
    assert body["query_kind"] == kind


def test_search_finds_by_phone_and_by_room(api, town):
    first = town.resident("A1")
    by_phone = api.get("/residents", "grid_worker", q=town.clear_phone[first.pk]).json()
    assert [item["id"] for item in by_phone["items"]] == [first.pk]
    by_room = api.get("/residents", "grid_worker", q="1-1-101").json()
    assert {item["id"] for item in by_room["items"]} == {first.pk, town.resident("A1", 1).pk}


def test_moved_out_residents_are_listed_only_on_request(api, town):
    resident = town.resident("A1")
    assert api.patch(f"/residents/{resident.pk}", {"version": 1, "status": "moved_out"},
                     "grid_worker").status_code == 200
    active = {i["id"] for i in api.get("/residents", "grid_worker").json()["items"]}
    every = {i["id"] for i in api.get("/residents", "grid_worker",
                                      include_inactive="true").json()["items"]}
    assert resident.pk not in active
    assert resident.pk in every


def test_limit_out_of_range_is_a_422(api, town):
    assert api.get("/residents", "grid_worker", limit=0).status_code == 422
    assert api.get("/residents", "grid_worker", limit=201).status_code == 422


def _queries(api, persona: str) -> tuple[int, int]:
    api.get("/residents", persona)  # the first use of a token also stamps last_used_at
    with CaptureQueriesContext(connection) as ctx:
        response = api.get("/residents", persona)
    return len(ctx.captured_queries), len(response.json()["items"])


def test_the_list_takes_the_same_few_queries_for_any_number_of_rows(api, town):
    few_queries, few_rows = _queries(api, "grid_worker")
    many_queries, many_rows = _queries(api, "admin")
    assert (few_rows, many_rows) == (3, 12)
    assert few_queries == many_queries <= 3
