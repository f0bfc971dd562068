"""The database-backed dispatcher: enqueue, claim with a lease, finish.

Any number of `fangkong worker` processes on any number of machines share one database.
A worker claims due rows with a conditional UPDATE (on PostgreSQL after
`SELECT ... FOR UPDATE SKIP LOCKED`, on SQLite inside an IMMEDIATE transaction, which
serialises writers), so a row is held by one worker at a time; a crashed worker's lease
expires and the row is claimed again. Nothing is lost.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from fangkong.jobs.models import Job, JobState

log = logging.getLogger("fangkong.jobs")
Handler = Callable[[Job], dict[str, Any] | None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of `kind` (it receives the claimed Job)."""

    def register(func: Handler) -> Handler:
        HANDLERS[kind] = func
        return func

    return register


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_enqueue(*, kind: str, payload: dict[str, Any] | None = None,
                due_at: datetime | None = None, dedupe_key: str | None = None,
                by=None, max_attempts: int = 3) -> Job | None:  # noqa: ANN001
    """Queue a job. With `dedupe_key`, returns None when an unfinished job with that key
    exists already (so periodic and repeated requests enqueue once)."""
    try:
        with transaction.atomic():
            return Job.objects.create(kind=kind, payload=payload or {},
                                      due_at=due_at or timezone.now(), dedupe_key=dedupe_key,
                                      created_by=by, max_attempts=max_attempts)
    except IntegrityError:
        if dedupe_key is None:
            raise
        return None


def jobs_claim(*, owner: str, limit: int = 1, now: datetime | None = None) -> list[Job]:
    """Lease up to `limit` due jobs to `owner`: queued ones whose time has come, and
    running ones whose lease has expired (their worker died)."""
    now = now or timezone.now()
    lease_until = now + timedelta(seconds=settings.JOB_LEASE_SECONDS)
    # Each claim gets its own token: a restarted process with the same name, or a worker
    # whose lease ran out, can never pass for the current holder.
    lease = f"{owner}#{secrets.token_hex(6)}"
    due = Q(state=JobState.QUEUED, due_at__lte=now) | Q(state=JobState.RUNNING,
                                                        lease_until__lt=now)
    with transaction.atomic():
        # A job whose worker died on every attempt is given up, not retried forever.
        Job.objects.filter(state=JobState.RUNNING, lease_until__lt=now,
                           attempts__gte=F("max_attempts")).update(
            state=JobState.FAILED, finished_at=now, lease_owner="", lease_until=None,
            error="the worker stopped (lease expired) on every attempt")
        candidates = Job.objects.filter(due).order_by("due_at", "pk")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        # Conditional: only rows still due are taken, whatever happened since the SELECT.
        Job.objects.filter(due, pk__in=ids).update(
            state=JobState.RUNNING, lease_owner=lease, lease_until=lease_until,
            attempts=F("attempts") + 1)
        return list(Job.objects.filter(pk__in=ids, lease_owner=lease))


def job_progress(job: Job, *, done: int, total: int | None = None) -> bool:
    """Record progress and renew the lease. Returns False when the job should stop:
    cancellation was asked, or this worker no longer holds the lease."""
    fields: dict[str, Any] = {"progress_done": done,
                              "lease_until": timezone.now()
                              + timedelta(seconds=settings.JOB_LEASE_SECONDS)}
    if total is not None:
        fields["progress_total"] = total
    held = Job.objects.filter(pk=job.pk, lease_owner=job.lease_owner,
                              state=JobState.RUNNING).update(**fields)
    if not held:
        return False
    return not Job.objects.filter(pk=job.pk, cancel_requested=True).exists()


def job_run(job: Job) -> None:
    """Run a claimed job with its handler and record the outcome."""
    func = HANDLERS.get(job.kind)
    now = timezone.now
    # Only the current lease holder may record the outcome: a worker that was too slow and
    # lost its lease must not overwrite the new holder's state.
    mine = Job.objects.filter(pk=job.pk, lease_owner=job.lease_owner)
    if func is None:
        mine.update(state=JobState.FAILED, finished_at=now(),
                                             error=f"no handler for job kind {job.kind!r}")
        return
    try:
        result = func(job) or {}
    except Exception:  # noqa: BLE001 - a job's failure must not kill the worker
        log.exception("job %s failed", job)
        state = JobState.FAILED if job.attempts >= job.max_attempts else JobState.QUEUED
        backoff = timedelta(seconds=30 * 2 ** max(job.attempts - 1, 0))
        mine.update(
            state=state, error=traceback.format_exc()[-4000:], lease_owner="",
            lease_until=None, due_at=now() + backoff,
            finished_at=now() if state == JobState.FAILED else None)
        return
    mine.update(state=JobState.DONE, result=result, lease_owner="",
                                         lease_until=None, finished_at=now(), error="")


def run_due_jobs(*, owner: str, limit: int = 10) -> int:
    """Claim and run due jobs one by one until none is due or `limit` ran."""
    ran = 0
    while ran < limit:
        claimed = jobs_claim(owner=owner, limit=1)
        if not claimed:
            break
        job_run(claimed[0])
        ran += 1
    return ran
