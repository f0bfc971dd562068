"""The follow-up robot in the worker: the scheduler and dispatcher tick, periodic jobs."""

from __future__ import annotations

import logging
from datetime import timedelta

from fangkong.followup.alerts import alerts_escalate
from fangkong.followup.dispatch import dispatch_pass
from fangkong.followup.rounds import rounds_schedule
from fangkong.jobs.dispatch import handler
from fangkong.jobs.handlers import PERIODIC, TICKS
from fangkong.jobs.models import Job
from fangkong.lib import clock

log = logging.getLogger("fangkong.followup")
PERIODIC["followup.escalate"] = timedelta(minutes=1)


def followup_tick(owner: str) -> int:
    """Open and close the rounds that are due, then attempt what is due. Safe in any
    number of workers at once."""
    now = clock.now()
    rounds_schedule(now=now)
    return dispatch_pass(owner=owner, now=now)


TICKS.append(followup_tick)


@handler("followup.escalate")
def escalate(job: Job) -> dict:
    return {"escalated": alerts_escalate()}
