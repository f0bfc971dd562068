"""The database-backed dispatcher: enqueue with dedupe, leases, retries with backoff,
periodic jobs once per slot, and `fangkong worker --once`."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from fangkong.jobs.dispatch import handler, job_enqueue, job_run, jobs_claim, run_due_jobs
from fangkong.jobs.handlers import PERIODIC, enqueue_periodic
from fangkong.jobs.models import Job, JobState

pytestmark = pytest.mark.django_db

CALLS: list[dict] = []


@handler("test.echo")
def echo(job: Job) -> dict:
    CALLS.append(job.payload)
    return {"echo": job.payload}


@handler("test.fail")
def fail(job: Job) -> dict:
    raise RuntimeError("the gateway is down")


@pytest.fixture(autouse=True)
def no_calls():
    CALLS.clear()



def holder(job: Job) -> str:
    """The worker named in a lease ("w1#3f2a..." -> "w1"); the token differs per claim."""
    return job.lease_owner.split("#", 1)[0]

def _later(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


def test_enqueue_with_a_dedupe_key_queues_once_while_unfinished():
    first = job_enqueue(kind="test.echo", payload={"n": 1}, dedupe_key="round:7")
    assert first is not None
    assert job_enqueue(kind="test.echo", payload={"n": 2}, dedupe_key="round:7") is None
    assert Job.objects.filter(dedupe_key="round:7").count() == 1
    job_run(jobs_claim(owner="w1")[0])
    assert Job.objects.get(pk=first.pk).state == JobState.DONE
    again = job_enqueue(kind="test.echo", payload={"n": 3}, dedupe_key="round:7")
    assert again is not None and again.pk != first.pk


def test_enqueue_without_a_dedupe_key_queues_every_time():
    a = job_enqueue(kind="test.echo")
    b = job_enqueue(kind="test.echo")
    assert a.pk != b.pk
    assert (a.state, a.attempts, a.dedupe_key) == (JobState.QUEUED, 0, None)


def test_a_job_is_leased_to_one_owner_only():
    job = job_enqueue(kind="test.echo")
    claimed = jobs_claim(owner="w1")
    assert [j.pk for j in claimed] == [job.pk]
    assert (claimed[0].state, holder(claimed[0]), claimed[0].attempts) == (
        JobState.RUNNING, "w1", 1)
    assert claimed[0].lease_until > timezone.now()
    assert jobs_claim(owner="w2") == []
    assert holder(Job.objects.get(pk=job.pk)) == "w1"


def test_a_job_due_later_is_not_claimed_until_its_time():
    job = job_enqueue(kind="test.echo", due_at=_later(600))
    assert jobs_claim(owner="w1") == []
    assert [j.pk for j in jobs_claim(owner="w1", now=_later(601))] == [job.pk]


def test_claim_takes_at_most_the_limit_in_due_order():
    jobs = [job_enqueue(kind="test.echo", due_at=_later(-60 + i)) for i in range(3)]
    claimed = jobs_claim(owner="w1", limit=2)
    assert [j.pk for j in claimed] == [jobs[0].pk, jobs[1].pk]
    assert [j.pk for j in jobs_claim(owner="w2", limit=5)] == [jobs[2].pk]


def test_an_expired_lease_is_claimed_again_by_another_owner():
    job = job_enqueue(kind="test.echo")
    jobs_claim(owner="crashed")
    assert jobs_claim(owner="w2", now=_later(settings.JOB_LEASE_SECONDS - 5)) == []
    reclaimed = jobs_claim(owner="w2", now=_later(settings.JOB_LEASE_SECONDS + 5))
    assert [j.pk for j in reclaimed] == [job.pk]
    assert (holder(reclaimed[0]), reclaimed[0].attempts) == ("w2", 2)


def test_a_finished_job_records_its_result_and_releases_the_lease():
    job = job_enqueue(kind="test.echo", payload={"who": "张伟"})
    job_run(jobs_claim(owner="w1")[0])
    job.refresh_from_db()
    assert (job.state, job.result, job.lease_owner, job.lease_until) == (
        JobState.DONE, {"echo": {"who": "张伟"}}, "", None)
    assert job.finished_at is not None
    assert CALLS == [{"who": "张伟"}]


def test_a_failing_job_is_retried_with_growing_backoff_then_failed():
    job = job_enqueue(kind="test.fail", max_attempts=3)
    for attempt, backoff in ((1, 30), (2, 60)):
        claimed = jobs_claim(owner="w1", now=_later(3600 * attempt))
        assert [j.pk for j in claimed] == [job.pk]
        started = timezone.now()
        job_run(claimed[0])
        job.refresh_from_db()
        assert (job.state, job.attempts, job.lease_owner) == (JobState.QUEUED, attempt, "")
        assert "the gateway is down" in job.error
        assert started + timedelta(seconds=backoff) <= job.due_at
        assert job.due_at <= timezone.now() + timedelta(seconds=backoff)
        assert job.finished_at is None
    job_run(jobs_claim(owner="w1", now=_later(3 * 3600))[0])
    job.refresh_from_db()
    assert (job.state, job.attempts) == (JobState.FAILED, 3)
    assert job.finished_at is not None
    assert jobs_claim(owner="w1", now=_later(10 * 3600)) == []


def test_a_job_without_handler_fails_at_once():
    job = job_enqueue(kind="test.nobody")
    job_run(jobs_claim(owner="w1")[0])
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert "test.nobody" in job.error


def test_periodic_jobs_are_queued_once_per_slot():
    now = timezone.now()
    assert enqueue_periodic(now) == len(PERIODIC)
    assert enqueue_periodic(now) == 0
    kind = next(iter(PERIODIC))
    queued = Job.objects.get(kind=kind)
    Job.objects.filter(pk=queued.pk).update(state=JobState.DONE, finished_at=now)
    assert enqueue_periodic(now) == 0
    assert Job.objects.filter(kind=kind).count() == 1
    later = now + PERIODIC[kind]

    def slot(at, period) -> int:  # noqa: ANN001
        return int(at.timestamp() // period.total_seconds())

    # One period of `kind` later, each periodic job whose own slot has changed is queued.
    changed = sum(slot(later, p) != slot(now, p) for p in PERIODIC.values())
    assert enqueue_periodic(later) == changed >= 1
    assert Job.objects.filter(kind=kind).count() == 2


def test_run_due_jobs_runs_until_none_is_due():
    for n in range(3):
        job_enqueue(kind="test.echo", payload={"n": n})
    job_enqueue(kind="test.echo", payload={"n": "later"}, due_at=_later(3600))
    assert run_due_jobs(owner="w1", limit=10) == 3
    assert sorted(c["n"] for c in CALLS) == [0, 1, 2]


def test_worker_once_runs_the_due_jobs_and_exits():
    due = job_enqueue(kind="test.echo", payload={"n": 1})
    later = job_enqueue(kind="test.echo", payload={"n": 2}, due_at=_later(3600))
    out = io.StringIO()
    call_command("worker", once=True, stdout=out)
    assert Job.objects.get(pk=due.pk).state == JobState.DONE
    assert Job.objects.get(pk=later.pk).state == JobState.QUEUED
    periodic = Job.objects.filter(kind__in=list(PERIODIC))
    assert periodic.count() == len(PERIODIC)
    assert all(j.state == JobState.DONE for j in periodic)
    ran = 1 + len(PERIODIC)
    assert f"ran {ran} job(s)" in out.getvalue()
    assert CALLS == [{"n": 1}]


def test_a_worker_that_lost_its_lease_does_not_release_the_new_owners_lease():
    job = job_enqueue(kind="test.fail")
    slow = jobs_claim(owner="slow")[0]
    jobs_claim(owner="w2", now=_later(settings.JOB_LEASE_SECONDS + 5))
    job_run(slow)  # the slow worker's handler finally fails, long after its lease ended
    job.refresh_from_db()
    assert (job.state, holder(job)) == (JobState.RUNNING, "w2")
    # Otherwise a third worker takes the job while w2 is still running it.
    assert jobs_claim(owner="w3", now=_later(settings.JOB_LEASE_SECONDS + 10)) == []


def test_each_claim_gets_its_own_lease_token():
    job_enqueue(kind="test.echo")
    first = jobs_claim(owner="w1")[0]
    second = jobs_claim(owner="w1", now=_later(settings.JOB_LEASE_SECONDS + 5))[0]
    assert first.pk == second.pk and first.lease_owner != second.lease_owner
    # The first holder's progress reports are refused: it must stop.
    from fangkong.jobs.dispatch import job_progress

    assert job_progress(first, done=1) is False
    assert job_progress(second, done=1) is True
