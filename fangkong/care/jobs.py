"""Periodic care jobs: escalate the overdue difficulties (every 10 minutes) and raise the
day's overload warnings (every hour; one warning per person and day, so each is raised
once and a missed hour is made up by the next). Both idempotent."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from fangkong.jobs.dispatch import handler
from fangkong.jobs.handlers import PERIODIC
from fangkong.jobs.models import Job
from fangkong.lib import clock

PERIODIC["care.escalate"] = timedelta(minutes=10)
PERIODIC["care.workload"] = timedelta(hours=1)


@handler("care.escalate")
def escalate(job: Job) -> dict:
    from fangkong.care.services import difficulties_escalate

    return {"escalated": difficulties_escalate()}


@handler("care.workload")
def workload(job: Job) -> dict:
    from fangkong.care.workload import workload_warn

    now = clock.now()
    return {"warned": workload_warn(on_day=timezone.localdate(now), now=now)}
