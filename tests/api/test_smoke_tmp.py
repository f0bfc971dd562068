import pytest

@pytest.mark.django_db
def test_smoke(api, town):
    r = api.get("/me", "grid_worker"); print(r.status_code, r.json())
    rid = town.resident("A1").pk
    r = api.get(f"/residents/{rid}", "grid_worker"); print(r.status_code, r.json())
    r = api.get("/residents", "community_secretary"); print(r.status_code, r.json())
    r = api.get(f"/areas/{town.areas['C1'].pk}", "community_secretary"); print(r.status_code, r.json())
    r = api.get(f"/households/{town.households['A1'][0].pk}", "grid_worker"); print(r.status_code, r.json())
    r = api.get(f"/buildings/{town.buildings['A1'].pk}/households", "grid_worker"); print(r.status_code, r.json())
    r = api.post(f"/residents/{rid}/reveal", {"what": "phone"}, "grid_worker"); print(r.status_code, r.json(), r.headers.get("Cache-Control"))
    r = api.post("/residents", {"household_id": town.households['A1'][1].pk, "name": "", "id_number": "123", "phone": "12", "tags": ["nope"]}, "grid_worker"); print(r.status_code, r.json())
    r = api.post("/residents", {"household_id": town.households['A1'][1].pk, "name": "", "id_number": "123", "phone": "12", "gender": "X"}, "grid_worker"); print(r.status_code, r.json())
    r = api.patch(f"/residents/{rid}", {"version": 5, "name": "x"}, "grid_worker"); print(r.status_code, r.json())
    r = api.patch(f"/residents/{rid}", {"version": 1, "name": "新名字"}, "grid_worker"); print(r.status_code, r.json())
    r = api.get("/residents", "grid_worker", limit=0); print(r.status_code, r.json())
    r = api.get("/residents", "gate_guard"); print(r.status_code, r.json())
    r = api.get("/residents", token="fk_bad"); print(r.status_code, r.json())
