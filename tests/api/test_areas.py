"""The caller, the area tree with its figures, buildings and households."""

from __future__ import annotations

import pytest

from fangkong.accounts.models import User
from fangkong.accounts.services import api_token_create
from tests.api.conftest import PERSONAS

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_me_tells_role_area_and_capabilities(api, town, persona):
    role, area_key = PERSONAS[persona]
    body = api.get("/me", persona).json()
    assert body["role"] == role
    assert body["role_label"]
    assert body["area"] == {"id": town.areas[area_key].pk, "kind": town.areas[area_key].kind,
                            "name": town.areas[area_key].name}
    assert ("view_registry" in body["capabilities"]) == (persona not in ("gate_guard",
                                                                         "volunteer"))
    assert body["is_superuser"] is False


def test_me_of_a_superuser_without_an_area_falls_back_to_a_city(api, town):
    _row, clear = api_token_create(user=User.objects.get(username="api_root"), name="root")
    body = api.get("/me", token=clear).json()
    assert body["is_superuser"] is True
    assert body["role"] == ""
    assert body["area"]["kind"] == "city"
    assert "reveal_id_number" in body["capabilities"]


def test_area_carries_the_figures_of_its_subtree(api, town):
    body = api.get(f"/areas/{town.areas['C1'].pk}", "community_secretary").json()
    assert body["kind"] == "community"
    assert body["path"] == town.areas["C1"].path
    stats = body["stats"]
    assert (stats["residents"], stats["households"], stats["buildings"], stats["elderly"]) \
        == (6, 4, 2, 2)
    assert stats["by_tag"] == {"elderly_alone": 2}
    district = api.get(f"/areas/{town.areas['district'].pk}", "admin").json()
    assert district["stats"]["residents"] == 12


def test_children_are_one_level_down_with_their_figures(api, town):
    body = api.get(f"/areas/{town.areas['C1'].pk}/children", "community_secretary").json()
    assert [c["id"] for c in body["items"]] == [town.areas["A1"].pk, town.areas["A2"].pk]
    assert [c["stats"]["residents"] for c in body["items"]] == [3, 3]
    grid = api.get(f"/areas/{town.areas['A1'].pk}/children", "grid_worker").json()
    assert grid["items"] == []


def test_buildings_of_an_area_are_paginated(api, town):
    first = api.get(f"/areas/{town.areas['C1'].pk}/buildings", "community_secretary",
                    limit=1).json()
    assert [b["id"] for b in first["items"]] == [town.buildings["A1"].pk]
    rest = api.get(f"/areas/{town.areas['C1'].pk}/buildings", "community_secretary",
                   limit=1, after=first["next_after"]).json()
    assert [b["id"] for b in rest["items"]] == [town.buildings["A2"].pk]
    assert rest["next_after"] is None


def test_buildings_of_the_city_are_every_district_s(api, town):
    _row, clear = api_token_create(user=User.objects.get(username="api_root"), name="root")
    body = api.get(f"/areas/{town.areas['city'].pk}/buildings", token=clear, limit=500).json()
    assert {b["id"] for b in body["items"]} == {b.pk for b in town.buildings.values()}


def test_household_lists_its_residents_masked(api, town):
    home = town.households["A1"][0]
    body = api.get(f"/households/{home.pk}", "grid_worker").json()
    assert body["label"] == home.label
    assert body["building"]["id"] == town.buildings["A1"].pk
    assert body["grid"]["id"] == town.areas["A1"].pk
    members = body["residents"]
    assert [m["id"] for m in members] == [town.resident("A1", 0).pk, town.resident("A1", 1).pk]
    assert all("*" in m["phone_masked"] and "*" in m["id_number_masked"] for m in members)


def test_building_lists_its_households_with_who_lives_there(api, town):
    body = api.get(f"/buildings/{town.buildings['A1'].pk}/households", "grid_worker").json()
    assert body["building"]["id"] == town.buildings["A1"].pk
    assert [(h["room"], h["residents"]) for h in body["items"]] == [("101", 2), ("102", 1)]
