"""Escalate the overdue difficulties (every 10 minutes, idempotent)."""

from __future__ import annotations

from datetime import timedelta

from fangkong.jobs.dispatch import handler
from fangkong.jobs.handlers import PERIODIC
from fangkong.jobs.models import Job

PERIODIC["care.escalate"] = timedelta(minutes=10)


@handler("care.escalate")
def escalate(job: Job) -> dict:
    from fangkong.care.services import difficulties_escalate

    return {"escalated": difficulties_escalate()}
