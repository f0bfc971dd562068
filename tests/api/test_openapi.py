"""The OpenAPI description lists every route, and every operation declares the error
responses it can return, with the bodies they have."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

# (method, path) -> the status codes the operation declares. Every operation can answer
# 401; 403 is a role that cannot do it (or a session write without CSRF); 404 is an
# object that is missing or outside the caller's area; 422 a request of the wrong shape;
# 400 input the services refused. /me has no object, no parameters and no role gate.
# The roster steps answer 202: they queue background work (poll GET /imports/{id}).
OPERATIONS: dict[tuple[str, str], set[int]] = {
    ("get", "/api/me"): {200, 401},
    ("get", "/api/areas/{area_id}"): {200, 401, 403, 404, 422},
    ("get", "/api/areas/{area_id}/children"): {200, 401, 403, 404, 422},
    ("get", "/api/areas/{area_id}/buildings"): {200, 401, 403, 404, 422},
    ("get", "/api/residents"): {200, 401, 403, 422},
    ("post", "/api/residents"): {201, 400, 401, 403, 404, 422},
    ("get", "/api/residents/{resident_id}"): {200, 401, 403, 404, 422},
    ("patch", "/api/residents/{resident_id}"): {200, 400, 401, 403, 404, 422},
    ("post", "/api/residents/{resident_id}/reveal"): {200, 401, 403, 404, 422},
    ("get", "/api/households/{household_id}"): {200, 401, 403, 404, 422},
    ("get", "/api/buildings/{building_id}/households"): {200, 401, 403, 404, 422},
    ("post", "/api/imports"): {202, 400, 401, 403, 404, 422},
    ("get", "/api/imports/{import_id}"): {200, 401, 403, 404, 422},
    ("get", "/api/imports/{import_id}/problems"): {200, 401, 403, 404, 422},
    ("post", "/api/imports/{import_id}/mapping"): {202, 400, 401, 403, 404, 422},
    ("post", "/api/imports/{import_id}/commit"): {202, 400, 401, 403, 404, 422},
    ("post", "/api/imports/{import_id}/discard"): {200, 400, 401, 403, 404, 422},
    ("post", "/api/imports/{import_id}/encoding"): {202, 400, 401, 403, 404, 422},
    ("post", "/api/imports/{import_id}/cancel"): {202, 400, 401, 403, 404, 422},
    ("post", "/api/imports/{import_id}/undo"): {202, 400, 401, 403, 404, 422},
    ("get", "/api/followup/campaigns"): {200, 401, 403, 422},
    ("get", "/api/followup/campaigns/{campaign_id}"): {200, 401, 403, 404, 422},
    ("get", "/api/followup/rounds/{round_id}/table"): {200, 401, 403, 404, 422},
    ("get", "/api/followup/alerts"): {200, 401, 403, 422},
    ("post", "/api/followup/alerts/{alert_id}/resolve"): {200, 400, 401, 403, 404, 422},
    ("get", "/api/followup/isolation"): {200, 401, 403, 422},
    ("post", "/api/followup/isolation"): {201, 400, 401, 403, 404, 422},
    # A gate device records at its own gate: no object named, no role (fangkong.api.gates).
    ("post", "/api/gate/scan"): {200, 400, 401, 422},
}
# Operations of gate devices: their own token only, and no other operation accepts it.
DEVICE_OPERATIONS = {("post", "/api/gate/scan")}
USER_SCHEMES = {"TokenAuth", "SessionAuthWithCsrf"}
# Operations without an id in the path that still name an object in their body: the
# household of a new resident, the area an import goes into, the resident of a new
# isolation period (404 outside the area).
OBJECT_IN_BODY = {("post", "/api/residents"), ("post", "/api/imports"),
                  ("post", "/api/followup/isolation")}
ERROR_BODIES = {400: "FieldErrors", 401: "Error", 403: "Error", 404: "Error",
                422: "RequestErrors"}


@pytest.fixture
def schema() -> dict:
    response = Client().get(reverse("api:openapi-json"))
    assert response.status_code == 200
    return response.json()


def _operations(schema: dict) -> dict[tuple[str, str], dict]:
    return {(method, path): op for path, ops in schema["paths"].items()
            for method, op in ops.items()}


def test_every_route_is_listed(schema):
    assert set(_operations(schema)) == set(OPERATIONS)


def test_every_operation_declares_its_error_responses(schema):
    for key, op in _operations(schema).items():
        declared = {int(code) for code in op["responses"]}
        assert declared == OPERATIONS[key], key
        assert 401 in declared, key
        takes_an_object = "{" in key[1] or key in OBJECT_IN_BODY
        assert (404 in declared) == takes_an_object, key


def test_error_responses_have_the_error_bodies(schema):
    for key, op in _operations(schema).items():
        for code, response in op["responses"].items():
            if int(code) >= 400:
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/" + ERROR_BODIES[int(code)]), (key, code)


def test_every_operation_accepts_a_token_or_the_session(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert set(schemes) == USER_SCHEMES | {"GateDeviceAuth"}
    for key, op in _operations(schema).items():
        if key not in DEVICE_OPERATIONS:
            assert {name for req in op["security"] for name in req} == USER_SCHEMES, key


def test_the_gate_scan_accepts_the_device_token_only(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["GateDeviceAuth"] == {"type": "http", "scheme": "bearer"}
    for key in DEVICE_OPERATIONS:
        op = _operations(schema)[key]
        assert {name for req in op["security"] for name in req} == {"GateDeviceAuth"}, key


def test_no_output_schema_has_a_sealed_value_or_a_blind_index(schema):
    for name, component in schema["components"]["schemas"].items():
        for field in component.get("properties", {}):
            assert "sealed" not in field and "index" not in field, (name, field)


def test_the_docs_page_is_served():
    assert Client().get("/api/docs").status_code == 200


def test_the_roster_upload_is_a_multipart_form(schema):
    """POST /api/imports takes the file and the area as multipart/form-data, not JSON."""
    content = schema["paths"]["/api/imports"]["post"]["requestBody"]["content"]
    assert set(content) == {"multipart/form-data"}
    form = content["multipart/form-data"]["schema"]
    assert set(form["required"]) == {"file", "area_id"}
    assert form["properties"]["file"]["format"] == "binary"
    assert form["properties"]["area_id"]["type"] == "integer"
