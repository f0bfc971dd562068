"""Background steps of a roster import. Each claims the import's job, runs one service
step with progress and cancellation, and records how it ended on the import."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from fangkong.jobs.dispatch import handler, job_progress
from fangkong.jobs.handlers import PERIODIC
from fangkong.jobs.models import Job
from fangkong.rosters import commit as committing
from fangkong.rosters import services
from fangkong.rosters.models import BlobKind, ImportBlob, ImportStatus, RosterImport

log = logging.getLogger("fangkong.rosters")
PERIODIC["rosters.purge"] = timedelta(hours=6)


def _step(job: Job, run, *, cancelled_status: str) -> dict:  # noqa: ANN001
    roster_import = RosterImport.objects.select_related("area", "created_by").get(
        pk=job.payload["import"])
    if roster_import.job_id != job.pk or not roster_import.busy:
        # A step queued before the import moved on (or was superseded): nothing to do.
        return {"status": roster_import.status, "skipped": True}

    def progress(done: int, total: int) -> bool:
        return job_progress(job, done=done, total=total)

    with translation.override(roster_import.language or settings.LANGUAGE_CODE):
        try:
            run(roster_import, progress)
        except services.Cancelled:
            roster_import.status = cancelled_status
            roster_import.message = _("Stopped at your request; nothing was changed.")
            roster_import.save(update_fields=["status", "message"])
        except Exception:
            log.exception("roster import %s failed", roster_import.pk)
            roster_import.status = ImportStatus.FAILED
            roster_import.message = _("Something went wrong while working on this file; "
                                      "nothing was changed. The administrator can see the "
                                      "details in the log.")
            roster_import.save(update_fields=["status", "message"])
            raise
    return {"status": roster_import.status}


@handler("rosters.inspect")
def inspect(job: Job) -> dict:
    return _step(job, lambda ri, _progress: services.import_inspect(ri),
                 cancelled_status=ImportStatus.CANCELLED)


@handler("rosters.analyse")
def analyse(job: Job) -> dict:
    # Stopped while checking: back to the columns, to check again when the user wants.
    return _step(job, lambda ri, progress: services.import_analyse(ri, progress=progress),
                 cancelled_status=ImportStatus.MAPPING)


@handler("rosters.commit")
def commit(job: Job) -> dict:
    # The commit is one transaction: progress written to the job row from inside it would
    # stay invisible and hold that row locked, so the commit reports none and cannot be
    # stopped (a million rows take well under the job's lease).
    return _step(job, lambda ri, _progress: committing.commit(ri, progress=services.never_stop),
                 cancelled_status=ImportStatus.READY)



@handler("rosters.undo")
def undo(job: Job) -> dict:
    return _step(job, lambda ri, _progress: committing.undo(ri, by=job.created_by),
                 cancelled_status=ImportStatus.DONE)


@handler("rosters.purge")
def purge(job: Job) -> dict:
    """Delete the sealed file and prepared rows of imports: a day after upload for those
    that ended without importing (discarded, cancelled, failed, undone), IMPORT_KEEP_DAYS
    after upload for all others (the error report needs the file until then); imports
    still waiting then are marked not imported. Runs every 6 hours; idempotent."""
    now = timezone.now()
    ended = Q(status__in=[ImportStatus.DISCARDED, ImportStatus.CANCELLED,
                          ImportStatus.FAILED, ImportStatus.UNDONE],
              created_at__lt=now - timedelta(days=1))
    old = Q(created_at__lt=now - timedelta(days=settings.IMPORT_KEEP_DAYS))
    # An import left waiting (mapping or preview) that long will not be committed: its
    # prepared rows go, so it is marked as not imported.
    RosterImport.objects.filter(old, status__in=[
        ImportStatus.NEEDS_ENCODING, ImportStatus.MAPPING, ImportStatus.READY]).update(
        status=ImportStatus.DISCARDED,
        message=_("Not imported: the file was left waiting for more than %(n)d days.")
        % {"n": settings.IMPORT_KEEP_DAYS})
    stale = RosterImport.objects.filter(ended | old).exclude(
        status__in=[ImportStatus.INSPECTING, ImportStatus.ANALYSING, ImportStatus.COMMITTING,
                    ImportStatus.UNDOING])
    deleted, _n = ImportBlob.objects.filter(roster_import__in=stale,
                                            kind__in=list(BlobKind.values)).delete()
    return {"blobs": deleted}
