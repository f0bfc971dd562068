"""The follow-up robot in the worker: the scheduler and dispatcher tick, periodic jobs."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from fangkong.followup.alerts import alerts_escalate
from fangkong.followup.dispatch import calls_unattended_move_on, dispatch_pass
from fangkong.followup.robots import alerts_push
from fangkong.followup.rounds import rounds_schedule
from fangkong.jobs.dispatch import handler
from fangkong.jobs.handlers import PERIODIC, TICKS
from fangkong.jobs.models import Job, JobState
from fangkong.lib import clock

log = logging.getLogger("fangkong.followup")
PERIODIC["followup.escalate"] = timedelta(minutes=1)
PERIODIC["followup.push"] = timedelta(minutes=1)
PERIODIC["followup.purge"] = timedelta(hours=24)


def followup_tick(owner: str) -> int:
    """Open and close the rounds that are due, then attempt what is due. Safe in any
    number of workers at once."""
    now = clock.now()
    rounds_schedule(now=now)
    calls_unattended_move_on(now=now)
    return dispatch_pass(owner=owner, now=now)


TICKS.append(followup_tick)


@handler("followup.escalate")
def escalate(job: Job) -> dict:
    return {"escalated": alerts_escalate()}


@handler("followup.push")
def push(job: Job) -> dict:
    """Alert summaries to the chat groups' robots, one run at a time: a run still going
    (a slow robot, a late job of the previous minute) makes this one skip."""
    if (Job.objects.filter(kind=job.kind, state=JobState.RUNNING,
                           lease_until__gt=timezone.now()).exclude(pk=job.pk).exists()):
        return {"skipped": "another run is under way"}
    return {"pushed": alerts_push()}


@handler("followup.purge")
def purge(job: Job) -> dict:
    """Erase the health answers whose purpose has ended (see followup/retention.py)."""
    from fangkong.followup.retention import answers_purge

    return answers_purge()


PERIODIC["followup.recordings_purge"] = timedelta(hours=24)


@handler("followup.recordings_purge")
def recordings_purge(job: Job) -> dict:
    """Delete the call recordings kept long enough (see followup/recordings.py), and the
    record of calls placed that the per-number cap no longer looks at."""
    from fangkong.followup.recordings import recordings_purge as purge_recordings
    from fangkong.followup.retention import number_dials_purge

    return {**purge_recordings(), "number_dials": number_dials_purge()}
