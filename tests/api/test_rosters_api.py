"""Roster imports through the JSON API, with a bearer token, in the API tests' own town
(tests/api/conftest.py): upload, the automatic mapping, the check of every row and its
problems, commit and undo, with the background steps run at once (`run_jobs`, as the
worker would run them). And the refusals: a mapping without a name column, a step the
import is not at, an empty file, roles that do not import (403 before any id or area is
looked up), and an import or area outside the caller's (404, like a missing one)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from fangkong.jobs.models import Job
from fangkong.lib.idcard import make_id_number
from fangkong.places.models import Area, Household
from fangkong.residents.models import Resident
from fangkong.rosters.models import ImportBlob, ImportStatus, RosterImport
from tests.api.conftest import REGION, Api, Town
from tests.rosters.helpers import csv_bytes, run_jobs

pytestmark = pytest.mark.django_db

SECRETARY = "community_secretary"
NOT_FOUND = {"detail": "Not found."}
HEADER = ["姓名", "身份证号", "联系电话", "楼栋", "单元", "房号", "网格"]
AUTO_MAPPING = ["name", "id_number", "phone", "building", "unit", "room", "grid"]
NEW_NAME = "欧阳测导"
NEW_ID = make_id_number(REGION, date(1968, 4, 5), 501)  # the town uses 1 to 25
NEW_PHONE = "13900000501"
BAD_ID_ROW = 3  # the file's row numbers as Excel shows them (the header is row 1)
NO_NAME = "No column holds the name (姓名). Choose which column does."
ROLES_THAT_DO_NOT_IMPORT = ("gate_guard", "volunteer", "street_officer", "admin")


def _zh(message: str) -> str:
    """A message as the API says it by default (Chinese)."""
    with translation.override("zh-hans"):
        return translation.gettext(message)


def _roster(grid: str = "A1网格") -> bytes:
    """One new resident in a new flat (unit 1, room 103) of building 1 of `grid`, which
    the town has registered, and one row with an ID number that is too short."""
    return csv_bytes([
        HEADER,
        [NEW_NAME, NEW_ID, NEW_PHONE, "1", "1", "103", grid],
        ["号码不全", "110101", "13900000502", "1", "1", "104", grid],
    ], encoding="utf-8")


def _bearer(town: Town, persona: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {town.tokens[persona]}"}


def _upload(api: Api, persona: str, area: Area, data: bytes,
            filename: str = "居民登记表.csv", **fields: Any) -> Any:
    """POST /api/imports as a multipart form (the file and the area's id)."""
    form = {"file": SimpleUploadedFile(filename, data, "text/csv"), "area_id": area.pk,
            **fields}
    return api.client.post("/api/imports", form, **_bearer(api.town, persona))


def _uploaded(api: Api, persona: str, area: Area, data: bytes | None = None) -> int:
    """An import read up to the mapping step; its id."""
    response = _upload(api, persona, area, data if data is not None else _roster())
    assert response.status_code == 202, response.content
    run_jobs()
    assert api.get(f"/imports/{response.json()['id']}", persona).json()["status"] == "mapping"
    return response.json()["id"]


def _ready(api: Api, persona: str, area: Area, data: bytes | None = None) -> int:
    """An import checked up to the preview; its id."""
    import_id = _uploaded(api, persona, area, data)
    response = api.post(f"/imports/{import_id}/mapping", {"mapping": AUTO_MAPPING}, persona)
    assert response.status_code == 202, response.content
    run_jobs()
    assert api.get(f"/imports/{import_id}", persona).json()["status"] == "ready"
    return import_id


def test_upload_map_check_commit_and_undo(api, town):
    community = town.areas["C1"]
    building = town.buildings["A1"]

    response = _upload(api, SECRETARY, community, _roster())
    assert response.status_code == 202, response.content
    body = response.json()
    import_id = body["id"]
    assert (body["status"], body["busy"], body["area_id"], body["filename"]) == (
        "inspecting", True, community.pk, "居民登记表.csv")
    roster_import = RosterImport.objects.get(pk=import_id)
    assert roster_import.created_by == town.users[SECRETARY]
    assert roster_import.area == community

    # Read in the background: the columns and the mapping fangkong recognised.
    run_jobs()
    response = api.get(f"/imports/{import_id}", SECRETARY)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "mapping" and not body["busy"], body
    assert body["columns"] == HEADER
    assert body["mapping"] == AUTO_MAPPING
    assert (body["format"], body["encoding"], body["data_rows"]) == ("csv", "utf-8", 2)
    assert body["progress"] is None
    assert body["counts"] == {}

    # Confirm the mapping: every row is checked in the background.
    response = api.post(f"/imports/{import_id}/mapping", {"mapping": AUTO_MAPPING}, SECRETARY)
    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["busy"]) == ("analysing", True)
    run_jobs()
    body = api.get(f"/imports/{import_id}", SECRETARY).json()
    assert (body["status"], body["busy"]) == ("ready", False), body
    assert body["counts"] == {"new": 1, "updated": 0, "unchanged": 0, "invalid": 1,
                              "duplicate": 0, "skipped": 0}
    assert not Resident.objects.filter(name=NEW_NAME).exists()  # nothing written yet

    response = api.get(f"/imports/{import_id}/problems", SECRETARY)
    assert response.status_code == 200
    problems = response.json()
    assert problems["total"] == 1
    [problem] = problems["items"]
    assert (problem["row"], problem["column"], problem["kind"]) == (BAD_ID_ROW, "身份证号",
                                                                     "invalid")
    assert problem["message"]
    page = api.get(f"/imports/{import_id}/problems", SECRETARY, offset=1).json()
    assert page == {"total": 1, "items": []}

    # Commit: the valid row is written, in a new flat of the registered building.
    response = api.post(f"/imports/{import_id}/commit", {}, SECRETARY)
    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["busy"]) == ("committing", True)
    run_jobs()
    body = api.get(f"/imports/{import_id}", SECRETARY).json()
    assert body["status"] == "done", body
    resident = Resident.objects.select_related("household").get(name=NEW_NAME)
    assert resident.household.building_id == building.pk
    assert (resident.household.unit, resident.household.room) == (1, "103")
    assert resident.phone_last4 == NEW_PHONE[-4:]
    assert not Resident.objects.filter(name="号码不全").exists()
    found = api.get("/residents", SECRETARY, q=NEW_NAME).json()["items"]
    assert [item["id"] for item in found] == [resident.pk]

    # Undo: the resident, and the flat the import added, are gone again.
    response = api.post(f"/imports/{import_id}/undo", {}, SECRETARY)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "undoing"
    run_jobs()
    assert api.get(f"/imports/{import_id}", SECRETARY).json()["status"] == "undone"
    assert not Resident.objects.filter(pk=resident.pk).exists()
    assert not Household.objects.filter(pk=resident.household_id).exists()
    assert api.get("/residents", SECRETARY, q=NEW_NAME).json()["items"] == []


def test_mapping_without_a_name_column_is_refused_with_the_reason(api, town):
    import_id = _uploaded(api, SECRETARY, town.areas["C1"])
    jobs = Job.objects.count()
    mapping = ["", *AUTO_MAPPING[1:]]
    response = api.post(f"/imports/{import_id}/mapping", {"mapping": mapping}, SECRETARY)
    assert response.status_code == 400
    message = _zh(NO_NAME)
    assert response.json() == {"detail": message, "errors": {"mapping": [message]}}
    # A mapping that does not fit the file's columns, or names no known field.
    for wrong in (AUTO_MAPPING[:-1], [*AUTO_MAPPING[:-1], "shoe_size"]):
        response = api.post(f"/imports/{import_id}/mapping", {"mapping": wrong}, SECRETARY)
        assert response.status_code == 400, wrong
        assert list(response.json()["errors"]) == ["mapping"]
    roster_import = RosterImport.objects.get(pk=import_id)
    assert roster_import.status == ImportStatus.MAPPING
    assert roster_import.mapping == AUTO_MAPPING
    assert Job.objects.count() == jobs


def test_the_refusals_are_in_chinese_by_default(api, town):
    """No English words around the quoted 姓名: every refusal of this module reads in the
    interface's language, not only the generic ones."""
    import_id = _uploaded(api, SECRETARY, town.areas["C1"])
    refusals = [
        api.post(f"/imports/{import_id}/mapping", {"mapping": ["", *AUTO_MAPPING[1:]]},
                 SECRETARY),
        api.post(f"/imports/{import_id}/commit", {}, SECRETARY),
        _upload(api, SECRETARY, town.areas["C1"], b""),
        api.get(f"/imports/{import_id}", "volunteer"),
    ]
    assert [r.status_code for r in refusals] == [400, 400, 400, 403]
    for response in refusals:
        detail = response.json()["detail"]
        assert detail and not re.search(r"[A-Za-z]{3,}", detail), detail
    assert refusals[0].json()["errors"]["mapping"] != [NO_NAME]


def test_a_step_the_import_is_not_at_is_refused(api, town):
    import_id = _uploaded(api, SECRETARY, town.areas["C1"])
    jobs = Job.objects.count()
    expected = _zh("This import is “%(status)s”: that cannot be done now.") % {
        "status": _zh("Check the columns")}
    for step in ("commit", "undo"):
        response = api.post(f"/imports/{import_id}/{step}", {}, SECRETARY)
        assert response.status_code == 400, step
        assert response.json() == {"detail": expected, "errors": {"__all__": [expected]}}
    assert RosterImport.objects.get(pk=import_id).status == ImportStatus.MAPPING
    assert Job.objects.count() == jobs


def test_an_empty_file_is_refused_and_nothing_is_stored(api, town):
    imports = RosterImport.objects.count()
    response = _upload(api, SECRETARY, town.areas["C1"], b"")
    assert response.status_code == 400
    message = _zh("The file is empty.")
    assert response.json() == {"detail": message, "errors": {"file": [message]}}
    # No file at all is a request of the wrong shape.
    response = api.client.post("/api/imports", {"area_id": town.areas["C1"].pk},
                               **_bearer(town, SECRETARY))
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["file"]
    assert RosterImport.objects.count() == imports


def test_discard_deletes_the_file(api, town):
    import_id = _ready(api, SECRETARY, town.areas["C1"])
    assert ImportBlob.objects.filter(roster_import_id=import_id).exists()
    response = api.post(f"/imports/{import_id}/discard", {}, SECRETARY)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["busy"]) == ("discarded", False)
    assert not ImportBlob.objects.filter(roster_import_id=import_id).exists()
    response = api.post(f"/imports/{import_id}/commit", {}, SECRETARY)
    assert response.status_code == 400
    assert not Resident.objects.filter(name=NEW_NAME).exists()


@pytest.mark.parametrize("persona", ROLES_THAT_DO_NOT_IMPORT)
def test_roles_that_do_not_import_are_refused(api, town, persona):
    """Gate guards, volunteers, street officers and administrators cannot import at all:
    403 on every import operation, whatever the id or area, even in their own area."""
    import_id = _ready(api, SECRETARY, town.areas["C1"])
    imports, jobs = RosterImport.objects.count(), Job.objects.count()
    refused = {"detail": _zh("Your role cannot import rosters.")}
    for path in (f"/imports/{import_id}", f"/imports/{import_id}/problems",
                 "/imports/999999999"):
        response = api.get(path, persona)
        assert (response.status_code, response.json()) == (403, refused), path
    for step, body in (("mapping", {"mapping": AUTO_MAPPING}), ("commit", {}),
                       ("discard", {}), ("undo", {})):
        response = api.post(f"/imports/{import_id}/{step}", body, persona)
        assert (response.status_code, response.json()) == (403, refused), step
    own_area = town.users[persona].area
    for area in {own_area, town.areas["C1"]}:
        response = _upload(api, persona, area, _roster())
        assert (response.status_code, response.json()) == (403, refused), area
    assert RosterImport.objects.get(pk=import_id).status == ImportStatus.READY
    assert (RosterImport.objects.count(), Job.objects.count()) == (imports, jobs)


def test_a_grid_worker_sees_only_the_imports_of_its_grid(api, town):
    """The grid worker of A1 neither sees nor acts on an import into the neighbouring grid
    A2 or into the community above (404, the same answer as a missing import), nor
    uploads into them; an import into A1 is theirs."""
    own = _ready(api, SECRETARY, town.areas["A1"])
    others = [_ready(api, SECRETARY, town.areas["A2"], _roster("A2网格")),
              _ready(api, SECRETARY, town.areas["C1"])]
    imports, jobs = RosterImport.objects.count(), Job.objects.count()
    assert api.get(f"/imports/{own}", "grid_worker").json()["status"] == "ready"
    assert api.get(f"/imports/{own}/problems", "grid_worker").json()["total"] == 1
    for import_id in [*others, 999999999]:
        for path in (f"/imports/{import_id}", f"/imports/{import_id}/problems"):
            response = api.get(path, "grid_worker")
            assert (response.status_code, response.json()) == (404, NOT_FOUND), path
        for step, body in (("mapping", {"mapping": AUTO_MAPPING, "template_name": "越界"}),
                           ("commit", {}), ("discard", {}), ("undo", {})):
            response = api.post(f"/imports/{import_id}/{step}", body, "grid_worker")
            assert (response.status_code, response.json()) == (404, NOT_FOUND), step
    for area_key in ("A2", "C1", "B1"):
        response = _upload(api, "grid_worker", town.areas[area_key], _roster())
        assert (response.status_code, response.json()) == (404, NOT_FOUND), area_key
    assert set(RosterImport.objects.filter(pk__in=others).values_list("status", flat=True)) \
        == {ImportStatus.READY}
    assert (RosterImport.objects.count(), Job.objects.count()) == (imports, jobs)
    # Their own grid's import goes through.
    response = api.post(f"/imports/{own}/commit", {}, "grid_worker")
    assert response.status_code == 202
    run_jobs()
    assert api.get(f"/imports/{own}", "grid_worker").json()["status"] == "done"


def test_an_ambiguous_file_is_answered_with_an_encoding(api, town):
    # ASCII column names and one name that reads as Chinese in UTF-8 and in GB18030.
    data = "name,room\n张伟,1-1-105\n".encode()
    response = _upload(api, SECRETARY, town.areas["C1"], data)
    import_id = response.json()["id"]
    run_jobs()
    assert api.get(f"/imports/{import_id}", SECRETARY).json()["status"] == "needs_encoding"
    bad = api.post(f"/imports/{import_id}/encoding", {"encoding": "latin-1"}, SECRETARY)
    assert bad.status_code == 400
    response = api.post(f"/imports/{import_id}/encoding", {"encoding": "utf-8"}, SECRETARY)
    assert response.status_code == 202 and response.json()["status"] == "inspecting"
    run_jobs()
    body = api.get(f"/imports/{import_id}", SECRETARY).json()
    assert (body["status"], body["encoding"]) == ("mapping", "utf-8")


def test_a_running_check_can_be_stopped(api, town):
    import_id = _uploaded(api, SECRETARY, town.areas["C1"])
    api.post(f"/imports/{import_id}/mapping", {"mapping": AUTO_MAPPING}, SECRETARY)
    response = api.post(f"/imports/{import_id}/cancel", {}, SECRETARY)
    assert response.status_code == 202
    run_jobs()
    assert api.get(f"/imports/{import_id}", SECRETARY).json()["status"] == "mapping"
    assert api.post(f"/imports/{import_id}/cancel", {}, SECRETARY).status_code == 400
