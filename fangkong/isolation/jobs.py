"""End the isolation periods that ran out (hourly, idempotent)."""

from __future__ import annotations

from datetime import timedelta

from fangkong.jobs.dispatch import handler
from fangkong.jobs.handlers import PERIODIC
from fangkong.jobs.models import Job

PERIODIC["isolation.expire"] = timedelta(hours=1)


@handler("isolation.expire")
def expire(job: Job) -> dict:
    from fangkong.isolation.services import isolation_expire

    return {"ended": isolation_expire()}
