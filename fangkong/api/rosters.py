"""Roster imports over the API: upload a file, read the automatic column mapping, confirm
or correct it, read the preview and its problems, commit, undo. The steps run in the
background: poll GET /imports/{id} until `busy` is false."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import StringConstraints

from fangkong.accounts.roles import Can, can
from fangkong.api.auth import actor
from fangkong.api.schemas import errors
from fangkong.places.selectors import area_for_user
from fangkong.rosters import services
from fangkong.rosters.columns import FIELD_BY_KEY
from fangkong.rosters.models import RosterImport
from fangkong.rosters.selectors import import_for_user, import_problems

if TYPE_CHECKING:
    from fangkong.accounts.models import User

router = Router(tags=["roster imports"])
PROBLEMS_MAX = 1000


class ProgressOut(Schema):
    done: int
    total: int


class ImportOut(Schema):
    id: int
    area_id: int
    filename: str
    status: str = Field(description="inspecting, needs_encoding, mapping, analysing, ready, "
                                    "committing, done, undoing, undone, discarded, cancelled, "
                                    "failed")
    busy: bool
    stale: bool = Field(description="the registry changed since the preview: post the "
                                    "mapping again to check the file again")
    message: str
    format: str
    encoding: str
    columns: list[str]
    mapping: list[str] = Field(description="the field each column maps to; \"\" = ignored. "
                                           "Fields: " + ", ".join(FIELD_BY_KEY))
    data_rows: int
    counts: dict[str, int]
    progress: ProgressOut | None
    sha256: str


class ProblemOut(Schema):
    row: int
    column: str
    kind: str
    message: str


class ProblemsOut(Schema):
    total: int
    items: list[ProblemOut]


class EncodingIn(Schema):
    encoding: str = Field(max_length=16, description="utf-8, utf-8-sig or gb18030")


class MappingIn(Schema):
    mapping: list[Annotated[str, StringConstraints(max_length=16)]] = Field(max_length=500)
    template_name: str = Field("", max_length=64)


def _importer(request: HttpRequest) -> User:
    """The caller, when their role imports rosters: 403 otherwise, before any id or area
    is looked up (like `require_registry` for the registry's endpoints)."""
    user = actor(request)
    if not can(user, Can.IMPORT_ROSTER):
        raise PermissionDenied(_("Your role cannot import rosters."))
    return user


def _out(roster_import: RosterImport) -> dict[str, Any]:
    job = roster_import.job
    return {
        "id": roster_import.pk, "area_id": roster_import.area_id,
        "filename": roster_import.filename, "status": roster_import.status,
        "busy": roster_import.busy, "stale": roster_import.stale,
        "message": roster_import.message,
        "format": roster_import.format, "encoding": roster_import.encoding,
        "columns": roster_import.columns, "mapping": roster_import.mapping,
        "data_rows": roster_import.data_rows, "counts": roster_import.counts,
        "progress": ({"done": job.progress_done, "total": job.progress_total}
                     if job is not None and roster_import.busy else None),
        "sha256": roster_import.sha256,
    }


@router.post("/imports", response={202: ImportOut, **errors(400, 401, 403, 404, 422)})
def import_start(request: HttpRequest, file: File[UploadedFile],
                 area_id: Form[int], encoding: Form[str] = "") -> Status[dict]:
    """Upload a roster (.xlsx, .xls, .csv) into a community or grid. Returns at once; the
    file is read in the background (status `inspecting`, then `mapping`)."""
    user = _importer(request)
    area = area_for_user(user, area_id)
    services.upload_size_check(file.size or 0)  # before reading it into memory
    roster_import = services.roster_import_start(by=user, area=area, filename=file.name or "",
                                                 data=file.read(), encoding=encoding or None)
    return Status(202, _out(roster_import))


@router.get("/imports/{import_id}", response={200: ImportOut, **errors(401, 403, 404, 422)})
def import_detail(request: HttpRequest, import_id: int) -> dict:
    """An import's state, its columns and mapping, its counts (after the check) and
    progress while a step runs."""
    return _out(services.roster_import_reconcile(import_for_user(_importer(request),
                                                                 import_id)))


@router.get("/imports/{import_id}/problems",
            response={200: ProblemsOut, **errors(401, 403, 404, 422)})
def import_problem_list(request: HttpRequest, import_id: int, offset: int = 0,
                        limit: int = 100) -> dict:
    """Each problem with the file's row number, column name and the reason."""
    roster_import = import_for_user(_importer(request), import_id)
    problems = import_problems(roster_import)
    limit = max(1, min(limit, PROBLEMS_MAX))
    return {"total": problems.count(),
            "items": list(problems.values("row", "column", "kind", "message")[
                max(offset, 0):max(offset, 0) + limit])}


def _step(request: HttpRequest, import_id: int, action, status: int = 202,  # noqa: ANN001
          **kwargs) -> Status[dict]:  # noqa: ANN003
    user = _importer(request)
    roster_import = import_for_user(user, import_id)
    action(by=user, roster_import=roster_import, **kwargs)
    roster_import.refresh_from_db()
    return Status(status, _out(roster_import))


@router.post("/imports/{import_id}/mapping",
             response={202: ImportOut, **errors(400, 401, 403, 404, 422)})
def import_mapping(request: HttpRequest, import_id: int, payload: MappingIn) -> Status[dict]:
    """Confirm or correct the mapping (one field per column, "" to ignore a column) and
    start the check of every row (status `analysing`, then `ready`)."""
    return _step(request, import_id, services.roster_import_set_mapping,
                 mapping=payload.mapping, template_name=payload.template_name)


@router.post("/imports/{import_id}/encoding",
             response={202: ImportOut, **errors(400, 401, 403, 404, 422)})
def import_encoding(request: HttpRequest, import_id: int, payload: EncodingIn) -> Status[dict]:
    """Answer `needs_encoding`: the file is read again in the chosen encoding."""
    return _step(request, import_id, services.roster_import_set_encoding,
                 encoding=payload.encoding)


@router.post("/imports/{import_id}/cancel",
             response={202: ImportOut, **errors(400, 401, 403, 404, 422)})
def import_cancel(request: HttpRequest, import_id: int) -> Status[dict]:
    """Ask the running check or commit to stop (a commit is rolled back as a whole)."""
    return _step(request, import_id, services.roster_import_cancel)


@router.post("/imports/{import_id}/commit",
             response={202: ImportOut, **errors(400, 401, 403, 404, 422)})
def import_commit(request: HttpRequest, import_id: int) -> Status[dict]:
    """Import all valid rows of a checked file (status `committing`, then `done`)."""
    return _step(request, import_id, services.roster_import_commit)


@router.post("/imports/{import_id}/discard",
             response={200: ImportOut, **errors(400, 401, 403, 404, 422)})
def import_discard(request: HttpRequest, import_id: int) -> Status[dict]:
    """Import nothing; the file and the prepared rows are deleted (at once: 200)."""
    return _step(request, import_id, services.roster_import_discard, status=200)


@router.post("/imports/{import_id}/undo",
             response={202: ImportOut, **errors(400, 401, 403, 404, 422)})
def import_undo(request: HttpRequest, import_id: int) -> Status[dict]:
    """Undo a committed import as a whole, while nobody has changed its residents."""
    return _step(request, import_id, services.roster_import_undo)



