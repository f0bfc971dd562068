"""Importing a roster: upload, read, map, check every row, preview, commit, undo.

The steps a person takes (`roster_import_*` with `by=`) check the right and the area and
queue the work; the work itself (`import_inspect`, `import_analyse` here, `commit` and
`undo` in fangkong/rosters/commit.py) runs in the background worker
(fangkong/rosters/jobs.py) with progress and cancellation. A commit is one transaction:
every valid row, or nothing. Every change of state is conditional on the state the user
saw, so two clicks (or two users) never queue a step twice.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from fangkong.accounts.roles import Can, can
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.jobs.dispatch import job_enqueue
from fangkong.jobs.models import Job, JobState
from fangkong.lib.encoding import ENCODINGS
from fangkong.lib.spreadsheets.read import Sheet, SheetError, header_names, header_rows, read_sheet
from fangkong.places.models import AreaKind
from fangkong.residents.models import Tag
from fangkong.rosters.analysis import Matcher, Placer, Plan, plan_rows
from fangkong.rosters.columns import FIELD_BY_KEY, auto_mapping, is_header_cell, mapping_problems
from fangkong.rosters.commit import undo_blockers
from fangkong.rosters.models import (
    BlobKind,
    ImportProblem,
    ImportStatus,
    ImportTemplate,
    RosterImport,
)
from fangkong.rosters.rows import ChunkJob, read_chunk
from fangkong.rosters.selectors import import_target_areas
from fangkong.rosters.staging import file_get, file_put, stage_put, value_put

Progress = Callable[[int, int], bool]  # (done, total) -> go on?
CHUNK_ROWS = 5000
# From this many rows on, the rows are read in worker processes, one per core.
PARALLEL_ROWS = 50_000
SAMPLE_ROWS = 5


class Cancelled(Exception):  # noqa: N818 - a signal, not an error
    """The user asked to stop; nothing has been changed."""


def never_stop(done: int, total: int) -> bool:
    """A progress callback for steps nobody can stop."""
    return True


# --- steps a person takes -------------------------------------------------------------


def _require_import(by, roster_import: RosterImport | None = None, area=None) -> None:  # noqa: ANN001
    if not can(by, Can.IMPORT_ROSTER):
        raise PermissionDenied(_("Your role cannot import rosters."))
    target = area or (roster_import.area if roster_import else None)
    if target is not None and not import_target_areas(by).filter(pk=target.pk).exists():
        raise Http404


def _enqueue(roster_import: RosterImport, kind: str, by) -> None:  # noqa: ANN001
    job = job_enqueue(kind=f"rosters.{kind}", payload={"import": roster_import.pk}, by=by,
                      max_attempts=1)
    roster_import.job = job
    roster_import.save(update_fields=["job"])


def _require_status(roster_import: RosterImport, *allowed: str) -> None:
    if roster_import.status not in allowed:
        raise ValidationError(_("This import is “%(status)s”: that cannot be done now.")
                              % {"status": roster_import.get_status_display()})


def _move(roster_import: RosterImport, to: str, *allowed: str) -> None:
    """Change the state, only if it is still one of `allowed` in the database."""
    _require_status(roster_import, *allowed)
    moved = RosterImport.objects.filter(pk=roster_import.pk, status__in=allowed).update(
        status=to, message="")
    if not moved:  # someone (or a second click) was quicker
        roster_import.refresh_from_db()
        _require_status(roster_import, *allowed)
    roster_import.status = to
    roster_import.message = ""


def upload_size_check(size: int) -> None:
    """Refuse a file over the limit before it is read into memory."""
    limit = settings.IMPORT_MAX_BYTES
    if size > limit:
        raise ValidationError({"file": [_(
            "The file is %(size)d MB; at most %(max)d MB can be imported at once. Split it "
            "into several files.") % {"size": size // 2**20, "max": limit // 2**20}]})


def roster_import_start(*, by, area, filename: str, data: bytes,  # noqa: ANN001
                        encoding: str | None = None,
                        template: ImportTemplate | None = None,
                        queue: bool = True) -> RosterImport:
    """Store an uploaded file (sealed) and queue its reading (`queue=False`: the caller,
    e.g. the import command, runs the steps itself). Refuses an empty or too big file,
    and an area the user may not import into."""
    if area.kind not in (AreaKind.COMMUNITY, AreaKind.GRID):
        raise ValidationError({"area": [_("Choose a community or a grid to import into.")]})
    _require_import(by, area=area)
    if not data:
        raise ValidationError({"file": [_("The file is empty.")]})
    upload_size_check(len(data))
    if encoding and encoding not in ENCODINGS:
        raise ValidationError({"encoding": [_("Unknown encoding.")]})
    with transaction.atomic():
        roster_import = RosterImport.objects.create(
            area=area, created_by=by, filename=os.path.basename(filename)[:200] or "roster",
            size=len(data), sha256=hashlib.sha256(data).hexdigest(), encoding=encoding or "",
            template=template, status=ImportStatus.INSPECTING,
            language=translation.get_language() or settings.LANGUAGE_CODE)
        file_put(roster_import, data)
        if queue:
            _enqueue(roster_import, "inspect", by)
    return roster_import


def roster_import_set_encoding(*, by, roster_import: RosterImport, encoding: str) -> None:  # noqa: ANN001
    """The user's answer when the file reads as Chinese in two encodings."""
    _require_import(by, roster_import)
    _require_status(roster_import, ImportStatus.NEEDS_ENCODING, ImportStatus.MAPPING)
    if encoding not in ENCODINGS:
        raise ValidationError({"encoding": [_("Unknown encoding.")]})
    with transaction.atomic():
        _move(roster_import, ImportStatus.INSPECTING, ImportStatus.NEEDS_ENCODING,
              ImportStatus.MAPPING)
        roster_import.encoding = encoding
        roster_import.save(update_fields=["encoding"])
        _enqueue(roster_import, "inspect", by)


def roster_import_set_mapping(*, by, roster_import: RosterImport, mapping: list[str],  # noqa: ANN001
                              template_name: str = "") -> None:
    """Confirm (or correct) which field each column holds, optionally save it as a named
    template, and queue the check of every row."""
    _require_import(by, roster_import)
    _require_status(roster_import, ImportStatus.MAPPING, ImportStatus.READY)
    if len(mapping) != len(roster_import.columns) or any(
            key and key not in FIELD_BY_KEY for key in mapping):
        raise ValidationError({"mapping": [_("The column choices do not fit this file; "
                                             "reload the page.")]})
    problems = mapping_problems(mapping)
    if problems:
        raise ValidationError({"mapping": problems})
    template_name = " ".join(template_name.split())[:64]
    with transaction.atomic():
        if template_name:
            ImportTemplate.objects.update_or_create(
                area=roster_import.area if by.area_id is None else by.area, name=template_name,
                defaults={"created_by": by, "mapping": {
                    name: key for name, key in zip(roster_import.columns, mapping, strict=True)
                    if name}})
        _move(roster_import, ImportStatus.ANALYSING, ImportStatus.MAPPING, ImportStatus.READY)
        roster_import.mapping = mapping
        roster_import.counts = {}
        roster_import.save(update_fields=["mapping", "counts"])
        _enqueue(roster_import, "analyse", by)


def roster_import_commit(*, by, roster_import: RosterImport) -> None:  # noqa: ANN001
    """The user chose "import all valid rows": queue the commit."""
    _require_import(by, roster_import)
    _require_status(roster_import, ImportStatus.READY)
    if roster_import.stale:
        raise ValidationError(_("The registry has changed since this preview. Check the file "
                                "again first."))
    with transaction.atomic():
        _move(roster_import, ImportStatus.COMMITTING, ImportStatus.READY)
        _enqueue(roster_import, "commit", by)


def roster_import_discard(*, by, roster_import: RosterImport) -> None:  # noqa: ANN001
    """The user chose "import nothing": the file and prepared rows are deleted."""
    _require_import(by, roster_import)
    _require_status(roster_import, ImportStatus.NEEDS_ENCODING, ImportStatus.MAPPING,
                    ImportStatus.READY, ImportStatus.FAILED)
    with transaction.atomic():
        _move(roster_import, ImportStatus.DISCARDED, ImportStatus.NEEDS_ENCODING,
              ImportStatus.MAPPING, ImportStatus.READY, ImportStatus.FAILED)
        roster_import.blobs.all().delete()


def roster_import_cancel(*, by, roster_import: RosterImport) -> None:  # noqa: ANN001
    """Ask the check of every row to stop (it goes back to the columns). Reading the file
    is quick, and a commit or an undo is one transaction that runs to its end."""
    _require_import(by, roster_import)
    if roster_import.status != ImportStatus.ANALYSING or roster_import.job_id is None:
        raise ValidationError(_("Only checking the rows can be stopped."))
    Job.objects.filter(pk=roster_import.job_id).update(cancel_requested=True)


def roster_import_undo(*, by, roster_import: RosterImport) -> None:  # noqa: ANN001
    """Queue the undo of a committed import (checked again when it runs)."""
    _require_import(by, roster_import)
    _require_status(roster_import, ImportStatus.DONE)
    blocked = undo_blockers(roster_import)
    if blocked:
        raise ValidationError(blocked)
    with transaction.atomic():
        _move(roster_import, ImportStatus.UNDOING, ImportStatus.DONE)
        _enqueue(roster_import, "undo", by)


def roster_import_reconcile(roster_import: RosterImport) -> RosterImport:
    """An import whose background step ended without saying how (its worker died and the
    job was given up) goes back to where the user can act again: nothing was changed,
    since every step writes in one transaction or not at all."""
    job = roster_import.job
    if not roster_import.busy or job is None or job.state in (JobState.QUEUED,
                                                                JobState.RUNNING):
        return roster_import
    back = {ImportStatus.INSPECTING: ImportStatus.FAILED,
            ImportStatus.ANALYSING: ImportStatus.MAPPING,
            ImportStatus.COMMITTING: ImportStatus.READY,
            ImportStatus.UNDOING: ImportStatus.DONE}[roster_import.status]
    updated = RosterImport.objects.filter(pk=roster_import.pk,
                                          status=roster_import.status).update(
        status=back, message=_("The work on this file stopped unexpectedly; nothing was "
                               "changed. Try again."))
    if updated:
        roster_import.refresh_from_db()
    return roster_import


# --- the work, in the background ------------------------------------------------------


def _read(roster_import: RosterImport) -> Sheet:
    return read_sheet(file_get(roster_import), filename=roster_import.filename,
                      encoding=roster_import.encoding or None)


def _finish(roster_import: RosterImport, status: str, message: str = "", **fields) -> None:  # noqa: ANN003
    roster_import.status = status
    roster_import.message = message
    for name, value in fields.items():
        setattr(roster_import, name, value)
    roster_import.save(update_fields=["status", "message", *fields])


def import_inspect(roster_import: RosterImport) -> None:
    """Read the file, find the header, map the columns; stop at the mapping screen (or ask
    for the encoding when the file reads as Chinese two ways)."""
    try:
        sheet = _read(roster_import)
        first, last = header_rows(sheet, is_header_cell=is_header_cell)
    except SheetError as exc:
        if exc.code != "ambiguous":
            _finish(roster_import, ImportStatus.FAILED, str(exc))
            return
        found = _only_reading_with_a_header(roster_import, exc.readings or {})
        if found is None:
            value_put(roster_import, BlobKind.READINGS, exc.readings or {})
            _finish(roster_import, ImportStatus.NEEDS_ENCODING, str(exc))
            return
        sheet, first, last = found
    names = header_names(sheet, first, last)
    names = [name or _("Column %(n)d") % {"n": i + 1} for i, name in enumerate(names)]
    template = roster_import.template.mapping if roster_import.template else None
    samples = []
    for cells in sheet.rows[last + 1:]:
        if any(c not in (None, "") for c in cells):
            samples.append([_sample(c) for c in cells[:len(names)]])
            if len(samples) >= SAMPLE_ROWS:
                break
    value_put(roster_import, BlobKind.SAMPLES, samples)
    _finish(roster_import, ImportStatus.MAPPING, format=sheet.format,
            encoding=sheet.encoding or "", sheet_name=sheet.sheet_name[:100],
            header_first=first, header_last=last, columns=names,
            mapping=auto_mapping(names, template=template),
            data_rows=max(len(sheet.rows) - last - 1, 0))


def _only_reading_with_a_header(roster_import: RosterImport,
                                readings: dict[str, str]) -> tuple[Sheet, int, int] | None:
    """When the bytes read as Chinese in two encodings, the one in which the column names
    read as column names is the file's: that is evidence, not a guess. None when both or
    neither do (then the user is asked)."""
    data = file_get(roster_import)
    found = []
    for encoding in readings:
        try:
            sheet = read_sheet(data, filename=roster_import.filename, encoding=encoding)
            found.append((sheet, *header_rows(sheet, is_header_cell=is_header_cell)))
        except SheetError:
            continue
    return found[0] if len(found) == 1 else None


def _sample(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6G}"
    return str(value)[:60]


def _chunks(roster_import: RosterImport, sheet: Sheet) -> Iterator[ChunkJob]:
    formulas: dict[int, set[int]] = {}
    for r, c in sheet.formulas:
        formulas.setdefault(r, set()).add(c)
    tags: dict[str, str] = {}
    for slug, name, name_en in Tag.objects.values_list("slug", "name", "name_en"):
        for key in (slug, name, name_en):
            if key:
                tags[key.lower()] = slug
    start = roster_import.header_last + 1
    _fill_merged_down(sheet, start)
    merged_rows = frozenset(first_row + 1 for first_row, first_col, _last_row, last_col
                            in sheet.merged if last_col > first_col)
    base = dict(merged_rows=merged_rows, mapping=tuple(roster_import.mapping), names=tuple(roster_import.columns),
                tags=tags, data_key=settings.DATA_KEY, language=roster_import.language,
                today=timezone.localdate())
    rows = sheet.rows
    for i in range(start, len(rows), CHUNK_ROWS):
        yield ChunkJob(rows=[(r + 1, rows[r], frozenset(formulas.get(r, ())))
                             for r in range(i, min(i + CHUNK_ROWS, len(rows)))], **base)


def _fill_merged_down(sheet: Sheet, start: int) -> None:
    """A cell merged down several rows (one building for a block of rooms) holds its
    value in the first row only: give it to every row of the block."""
    rows = sheet.rows
    for first_row, first_col, last_row, last_col in sheet.merged:
        if last_row <= first_row or first_row < start or first_row >= len(rows):
            continue
        top = rows[first_row]
        value = top[first_col] if first_col < len(top) else None
        for r in range(first_row + 1, min(last_row, len(rows) - 1) + 1):
            row = rows[r]
            if len(row) <= last_col:
                row.extend([None] * (last_col + 1 - len(row)))
            for c in range(first_col, last_col + 1):
                row[c] = value


def _read_rows(jobs: Iterator[ChunkJob], total: int) -> Iterator[list]:
    processes = os.cpu_count() or 1
    if total < PARALLEL_ROWS or processes < 2:
        yield from map(read_chunk, jobs)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    # The forked processes inherit the parent's heap (the whole sheet): frozen, their
    # garbage collector does not walk it again and again, nor copy its pages by touching.
    gc.freeze()
    try:
        with mp.get_context(method).Pool(processes) as pool:
            yield from pool.imap(read_chunk, jobs)
    finally:
        gc.unfreeze()


def import_analyse(roster_import: RosterImport, *, progress: Progress = never_stop) -> Plan:
    """Check every row and plan what the commit will do; store the problems and the
    prepared rows (sealed) and stop at the preview. Raises Cancelled when asked to stop."""
    try:
        sheet = _read(roster_import)
    except SheetError as exc:
        _finish(roster_import, ImportStatus.FAILED, str(exc))
        return Plan()
    total = max(len(sheet.rows) - roster_import.header_last - 1, 0)
    by = roster_import.created_by
    placer, matcher = Placer(roster_import.area), Matcher(by, roster_import.area)
    names = {key: roster_import.columns[i] for i, key in enumerate(roster_import.mapping)
             if key}
    plan = Plan()
    done = 0
    for results in _read_rows(_chunks(roster_import, sheet), total):
        plan_rows(results, placer=placer, matcher=matcher, names=names, plan=plan)
        done += len(results)
        if not progress(done, total):
            raise Cancelled
    del sheet
    with transaction.atomic():
        ImportProblem.objects.filter(roster_import=roster_import).delete()
        ImportProblem.objects.bulk_create(
            (ImportProblem(roster_import=roster_import, row=row, column=col[:100], kind=kind,
                           message=msg[:500]) for row, col, kind, msg in plan.problems),
            batch_size=5000)
        stage_put(roster_import, plan.staged)
        _finish(roster_import, ImportStatus.READY, counts=plan.counts, data_rows=total,
                stale=False)
        if plan.elsewhere:
            # As for one typed ID number: trying a file of numbers to find out where people
            # live leaves a trace.
            audit_record(by=by, action=AuditAction.ID_NUMBER_CLASH,
                         object_type="roster_import", object_id=roster_import.pk,
                         object_label=roster_import.filename,
                         area_path=roster_import.area.path,
                         changes={"rows": ["", plan.elsewhere]})
    return plan
