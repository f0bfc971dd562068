"""Job handlers of the foundation, and the periodic jobs the worker enqueues."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from fangkong.jobs.dispatch import handler, job_enqueue
from fangkong.jobs.models import Job

# kind -> period: the worker enqueues each once per period (deduplicated by time slot).
PERIODIC: dict[str, timedelta] = {
    "places.refresh_stats": timedelta(hours=1),
}
# Work that is not a Job row but due rows of its own (the follow-up robot's contacts): the
# worker calls each tick on every pass with its name; a tick returns how much it did.
TICKS: list[Callable[[str], int]] = []


@handler("places.refresh_stats")
def refresh_stats(job: Job) -> dict:
    """Rebuild every area's figures from the rows (heals any drift; idempotent)."""
    from fangkong.places.services import stats_refresh

    grids = job.payload.get("grid_ids")
    return {"grids": stats_refresh(grid_ids=grids)}


def enqueue_periodic(now=None) -> int:  # noqa: ANN001
    """Queue each periodic job for the current time slot; safe to call often."""
    now = now or timezone.now()
    queued = 0
    for kind, period in PERIODIC.items():
        slot = int(now.timestamp() // period.total_seconds())
        key = f"{kind}@{slot}"
        if Job.objects.filter(dedupe_key=key).exists():
            continue
        if job_enqueue(kind=kind, dedupe_key=key) is not None:
            queued += 1
    return queued
