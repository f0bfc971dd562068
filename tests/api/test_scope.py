"""Each role sees exactly its own area through the API, like in the pages: an object
outside it is a 404 (the same answer as a missing one), never a 403. Gate guards and
volunteers do not use the registry at all: 403 on every registry endpoint."""

from __future__ import annotations

import pytest

from fangkong.audit.models import AuditEvent
from tests.api.conftest import GRIDS, NO_REGISTRY_PERSONAS, REGISTRY_PERSONAS, VISIBLE_GRIDS

pytestmark = pytest.mark.django_db

NOT_FOUND = {"detail": "Not found."}


def _cases(visible: bool) -> list[tuple[str, str]]:
    return [(p, g) for p in REGISTRY_PERSONAS for g in GRIDS
            if (g in VISIBLE_GRIDS[p]) == visible]


@pytest.mark.parametrize(("persona", "grid"), _cases(visible=True))
def test_resident_in_own_area_is_readable(api, town, persona, grid):
    resident = town.resident(grid)
    response = api.get(f"/residents/{resident.pk}", persona)
    assert response.status_code == 200
    assert response.json()["id"] == resident.pk


@pytest.mark.parametrize(("persona", "grid"), _cases(visible=False))
def test_resident_outside_own_area_is_404_for_get_patch_and_reveal(api, town, persona, grid):
    resident = town.resident(grid)
    events = AuditEvent.objects.count()
    assert api.get(f"/residents/{resident.pk}", persona).status_code == 404
    patched = api.patch(f"/residents/{resident.pk}",
                        {"version": resident.version, "name": "改名"}, persona)
    assert (patched.status_code, patched.json()) == (404, NOT_FOUND)
    revealed = api.post(f"/residents/{resident.pk}/reveal", {"what": "phone"}, persona)
    assert (revealed.status_code, revealed.json()) == (404, NOT_FOUND)
    resident.refresh_from_db()
    assert resident.name == town.resident(grid).name
    assert AuditEvent.objects.count() == events


def test_out_of_area_and_missing_resident_get_the_same_answer(api, town):
    outside = api.get(f"/residents/{town.resident('B1').pk}", "grid_worker")
    missing = api.get("/residents/999999999", "grid_worker")
    assert (outside.status_code, outside.json()) == (missing.status_code, missing.json())
    assert outside.json() == NOT_FOUND


@pytest.mark.parametrize("persona", REGISTRY_PERSONAS)
def test_resident_list_holds_exactly_the_own_area(api, town, persona):
    response = api.get("/residents", persona, limit=200)
    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["items"]}
    assert ids == town.resident_ids(VISIBLE_GRIDS[persona])


@pytest.mark.parametrize("persona", REGISTRY_PERSONAS)
def test_search_by_exact_id_number_does_not_cross_the_area(api, town, persona):
    outside = [g for g in GRIDS if g not in VISIBLE_GRIDS[persona]]
    for grid in outside:
        resident = town.resident(grid)
        response = api.get("/residents", persona, q=town.clear_id_number[resident.pk])
        assert response.json()["query_kind"] == "id_number"
        assert response.json()["items"] == []


def test_grid_worker_cannot_open_the_community_above(api, town):
    assert api.get(f"/areas/{town.areas['A1'].pk}", "grid_worker").status_code == 200
    assert api.get(f"/areas/{town.areas['C1'].pk}", "grid_worker").status_code == 404
    assert api.get(f"/areas/{town.areas['A2'].pk}", "grid_worker").status_code == 404


def test_street_officer_cannot_open_the_other_street(api, town):
    assert api.get(f"/areas/{town.areas['S1'].pk}/children", "street_officer").status_code == 200
    assert api.get(f"/areas/{town.areas['S2'].pk}/children", "street_officer").status_code == 404
    assert api.get(f"/areas/{town.areas['B1'].pk}/buildings", "street_officer").status_code == 404


def test_households_and_buildings_outside_the_area_are_404(api, town):
    assert api.get(f"/households/{town.households['A1'][0].pk}",
                   "grid_worker").status_code == 200
    assert api.get(f"/households/{town.households['A2'][0].pk}",
                   "grid_worker").status_code == 404
    assert api.get(f"/buildings/{town.buildings['A1'].pk}/households",
                   "grid_worker").status_code == 200
    assert api.get(f"/buildings/{town.buildings['B2'].pk}/households",
                   "grid_worker").status_code == 404


def test_creating_in_a_household_outside_the_area_is_404(api, town):
    home = town.households["A2"][0]
    response = api.post("/residents", {"household_id": home.pk, "name": "赵六"}, "grid_worker")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert not home.residents.filter(name="赵六").exists()


def test_moving_a_resident_to_a_household_outside_the_area_is_404(api, town):
    resident = town.resident("A1")
    response = api.patch(f"/residents/{resident.pk}",
                         {"version": resident.version,
                          "household_id": town.households["B1"][0].pk}, "community_secretary")
    assert response.status_code == 404
    resident.refresh_from_db()
    assert resident.grid_id == town.areas["A1"].pk


@pytest.mark.parametrize("persona", ["street_officer", "admin"])
def test_roles_that_only_read_get_403_on_edits_in_their_area(api, town, persona):
    resident = town.resident("A1")
    create = api.post("/residents", {"household_id": town.households["A1"][0].pk,
                                     "name": "赵六"}, persona)
    assert create.status_code == 403
    patch = api.patch(f"/residents/{resident.pk}",
                      {"version": resident.version, "name": "改名"}, persona)
    assert patch.status_code == 403
    assert patch.json()["detail"]


@pytest.mark.parametrize(("persona", "status"), [
    ("grid_worker", 403), ("community_worker", 403), ("street_officer", 403),
    ("community_secretary", 200), ("admin", 200),
])
def test_revealing_an_id_number_needs_the_lead_permission(api, town, persona, status):
    resident = town.resident("A1")
    response = api.post(f"/residents/{resident.pk}/reveal", {"what": "id_number"}, persona)
    assert response.status_code == status


def _registry_calls(town) -> list[tuple[str, str, dict | None]]:
    resident = town.resident("A1")
    return [
        ("get", f"/areas/{town.areas['C1'].pk}", None),
        ("get", f"/areas/{town.areas['C1'].pk}/children", None),
        ("get", f"/areas/{town.areas['C1'].pk}/buildings", None),
        ("get", "/residents", None),
        ("get", f"/residents/{resident.pk}", None),
        ("post", "/residents", {"household_id": town.households["A1"][0].pk, "name": "赵六"}),
        ("patch", f"/residents/{resident.pk}", {"version": resident.version, "name": "改名"}),
        ("post", f"/residents/{resident.pk}/reveal", {"what": "phone"}),
        ("get", f"/households/{town.households['A1'][0].pk}", None),
        ("get", f"/buildings/{town.buildings['A1'].pk}/households", None),
    ]


@pytest.mark.parametrize("persona", NO_REGISTRY_PERSONAS)
def test_guards_and_volunteers_get_403_on_every_registry_endpoint(api, town, persona):
    events = AuditEvent.objects.count()
    for method, path, body in _registry_calls(town):
        if method == "get":
            response = api.get(path, persona)
        else:
            response = getattr(api, method)(path, body, persona)
        assert response.status_code == 403, (method, path)
        assert response.json()["detail"], (method, path)
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("persona", NO_REGISTRY_PERSONAS)
def test_guards_and_volunteers_may_still_ask_who_they_are(api, town, persona):
    response = api.get("/me", persona)
    assert response.status_code == 200
    # Nothing of the registry: only scanning at the gates they are put on duty at.
    assert response.json()["capabilities"] == ["scan_at_gates"]
