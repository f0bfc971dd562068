"""The gates' periodic job: deleting old passages and visitors (passes/retention.py)."""

from __future__ import annotations

from datetime import timedelta

from fangkong.jobs.dispatch import handler
from fangkong.jobs.handlers import PERIODIC
from fangkong.jobs.models import Job

PERIODIC["passes.purge"] = timedelta(hours=24)


@handler("passes.purge")
def purge(job: Job) -> dict:
    from fangkong.passes.retention import gates_purge

    return gates_purge()
