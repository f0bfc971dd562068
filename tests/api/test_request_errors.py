"""Requests of the wrong shape: too long, garbled or of the wrong type. They are refused
with a 422 before any service runs, keeping ninja's `detail` list for programs and adding
`errors` (field -> messages) for a person, Chinese unless the caller asks for English."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from fangkong.residents.models import Resident

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")


def patch(api, town, resident: Resident, body: dict[str, Any], *, language: str | None = None,
          ) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {town.tokens['grid_worker']}"}
    if language is not None:
        headers["HTTP_ACCEPT_LANGUAGE"] = language
    return api.client.patch(f"/api/residents/{resident.pk}",
                            json.dumps({"version": resident.version, **body}),
                            content_type="application/json", **headers)


def assert_shape_refused(response: Any, *fields: str) -> dict[str, list[str]]:
    """A 422 whose `detail` is ninja's list and whose `errors` names every field."""
    assert response.status_code == 422, response.content
    body = response.json()
    assert isinstance(body["detail"], list) and body["detail"]
    for item in body["detail"]:
        assert {"type", "loc", "msg"} <= set(item)
    assert set(fields) <= set(body["errors"]), body
    for name in fields:
        assert body["errors"][name] and all(m.strip() for m in body["errors"][name])
    return body["errors"]


def new_resident(town, **overrides: Any) -> dict[str, Any]:
    return {"household_id": town.households["A1"][1].pk, "name": "赵秀兰",
            "relation": "spouse", **overrides}


# Messages for a person -------------------------------------------------------------------


def test_bad_birth_date_is_a_422_with_a_chinese_message_by_default(api, town):
    resident = town.resident("A1")
    response = patch(api, town, resident, {"birth_date": "1950-13-01"})
    errors = assert_shape_refused(response, "birth_date")
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "birth_date"]
    assert CJK.search(errors["birth_date"][0]), errors
    resident.refresh_from_db()
    assert resident.birth_date != "1950-13-01"


def test_bad_birth_date_message_is_english_on_request(api, town):
    response = patch(api, town, town.resident("A1"), {"birth_date": "13/01/1950"},
                     language="en")
    errors = assert_shape_refused(response, "birth_date")
    assert errors["birth_date"] == ["Enter a date as YYYY-MM-DD."]


@pytest.mark.parametrize(("body", "field", "english"), [
    ({"name": "张" * 65}, "name", "This value is too long (at most 64 characters)."),
    ({"version": "two"}, "version", "Enter a whole number."),
    ({"version": 0}, "version", "Enter a number of at least 1."),
    ({"household_id": 1.5}, "household_id", "Enter a whole number."),
    ({"name": 5}, "name", "Enter text."),
    ({"tags": "elderly_alone"}, "tags", "Enter a list."),
    ({"tags": ["elderly_alone"] * 21}, "tags", "Too many entries (at most 20)."),
    ({"tags": ["x" * 33]}, "tags", "This value is too long (at most 32 characters)."),
])
def test_each_kind_of_problem_has_its_own_message(api, town, body, field, english):
    resident = town.resident("A1")
    assert_shape_refused(patch(api, town, resident, body, language="en"), field)
    assert patch(api, town, resident, body, language="en").json()["errors"][field] == [english]
    chinese = patch(api, town, resident, body).json()["errors"][field]
    assert CJK.search(chinese[0]), chinese


def test_a_missing_field_is_required(api, town):
    body = {k: v for k, v in new_resident(town).items() if k != "household_id"}
    response = api.client.post("/api/residents", json.dumps(body),
                               content_type="application/json", HTTP_ACCEPT_LANGUAGE="en",
                               HTTP_AUTHORIZATION=f"Bearer {town.tokens['grid_worker']}")
    assert assert_shape_refused(response, "household_id") == {
        "household_id": ["This field is required."]}


def test_a_missing_body_is_an_error_of_the_whole_request(api, town):
    response = api.client.patch(f"/api/residents/{town.resident('A1').pk}", b"",
                                content_type="application/json",
                                HTTP_AUTHORIZATION=f"Bearer {town.tokens['grid_worker']}")
    assert set(assert_shape_refused(response, "__all__")) == {"__all__"}


def test_query_and_path_parameters_are_named_by_their_own_name(api, town):
    response = api.get("/residents", "grid_worker", limit="many")
    assert set(assert_shape_refused(response, "limit")) == {"limit"}
    response = api.get("/residents/abc", "grid_worker")
    assert set(assert_shape_refused(response, "resident_id")) == {"resident_id"}


def test_an_unknown_reveal_is_not_a_valid_value(api, town):
    response = api.post(f"/residents/{town.resident('A1').pk}/reveal", {"what": "address"},
                        "grid_worker")
    assert set(assert_shape_refused(response, "what")) == {"what"}


def test_every_field_is_reported_once_per_kind_of_problem(api, town):
    response = patch(api, town, town.resident("A1"),
                     {"tags": ["x" * 33, "y" * 40], "name": "张" * 65, "phone": "1" * 41},
                     language="en")
    errors = assert_shape_refused(response, "tags", "name", "phone")
    assert errors["tags"] == ["This value is too long (at most 32 characters)."]
    assert len(response.json()["detail"]) == 4


# Length limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "limit"), [
    ("name", 64), ("id_number", 40), ("phone", 40), ("relation", 16), ("gender", 16),
    ("status", 16), ("preferred_channel", 16), ("language_note", 64), ("remarks", 1000),
])
def test_every_text_field_has_a_length_limit(api, town, field, limit):
    response = api.post("/residents", new_resident(town, **{field: "x" * (limit + 1)}),
                        "grid_worker")
    assert_shape_refused(response, field)
    assert response.json()["detail"][0]["ctx"] == {"max_length": limit}


def test_the_limits_are_in_the_openapi_schema(api):
    schema = api.client.get("/api/openapi.json").json()["components"]["schemas"]
    fields = schema["ResidentIn"]["properties"]
    assert fields["name"]["maxLength"] == 64
    assert fields["remarks"]["maxLength"] == 1000
    assert fields["status"]["maxLength"] == 16
    assert fields["tags"]["maxItems"] == 20
    assert fields["tags"]["items"]["maxLength"] == 32
    assert set(schema["RequestErrors"]["required"]) == {"detail", "errors"}


def test_a_text_at_its_limit_is_accepted(api, town):
    response = api.post("/residents", new_resident(town, name="张" * 64,
                                                   remarks="备" * 1000), "grid_worker")
    assert response.status_code == 201, response.content


def test_a_huge_field_is_refused_before_any_service_runs(api, town, django_assert_max_num_queries):
    body = new_resident(town, name="x" * 2_500_000)  # a 2.5 MB body
    with django_assert_max_num_queries(3):  # the token's user, nothing of the registry
        response = api.post("/residents", body, "grid_worker")
    assert_shape_refused(response, "name")


def test_a_body_over_the_upload_limit_is_a_422_too(api, town):
    response = api.post("/residents", new_resident(town, remarks="x" * 3_000_000),
                        "grid_worker")
    assert set(assert_shape_refused(response, "__all__")) == {"__all__"}


def test_a_long_search_is_refused(api, town):
    assert_shape_refused(api.get("/residents", "grid_worker", q="张" * 101), "q")
    assert api.get("/residents", "grid_worker", q="张" * 100).status_code == 200


# Control characters and unencodable text -------------------------------------------------


@pytest.mark.parametrize("field", ["name", "id_number", "phone", "language_note", "remarks",
                                   "relation", "preferred_channel"])
@pytest.mark.parametrize("value", ["赵\x00秀兰", "赵\ud800秀兰", "赵\x1b秀兰", "赵\x7f秀兰"])
def test_nul_lone_surrogates_and_control_characters_are_refused(api, town, field, value):
    household = town.households["A1"][1]
    before = Resident.objects.filter(household=household).count()
    response = api.post("/residents", new_resident(town, **{field: value}), "grid_worker")
    errors = assert_shape_refused(response, field)
    assert CJK.search(errors[field][0]), errors
    assert Resident.objects.filter(household=household).count() == before


@pytest.mark.parametrize("value", ["张\x00", "张\ud800", "\udfff"])
def test_garbled_text_in_a_change_or_a_tag_is_refused(api, town, value):
    resident = town.resident("A1")
    for body in ({"name": value}, {"remarks": value}, {"tags": [value]}):
        response = patch(api, town, resident, body, language="en")
        field = next(iter(body))
        errors = assert_shape_refused(response, field)
        assert "invalid character" in errors[field][0]
    resident.refresh_from_db()
    assert resident.version == town.resident("A1").version


def test_a_control_character_in_a_search_is_refused(api, town):
    response = api.get("/residents", "grid_worker", q="张\x00")
    assert_shape_refused(response, "q")


def test_the_message_says_where_the_character_is(api, town):
    response = patch(api, town, town.resident("A1"), {"name": "赵秀\x00兰"}, language="en")
    assert "position 3" in response.json()["errors"]["name"][0]


def test_remarks_may_have_several_lines_and_tabs(api, town):
    resident = town.resident("A1")
    response = patch(api, town, resident, {"remarks": "耳背\r\n\t腿脚不便\n独居"})
    assert response.status_code == 200, response.content
    assert response.json()["remarks"] == "耳背\n\t腿脚不便\n独居"


@pytest.mark.parametrize("field", ["name", "language_note"])
def test_other_text_is_one_line(api, town, field):
    response = patch(api, town, town.resident("A1"), {field: "第一行\n第二行"})
    assert_shape_refused(response, field)
