"""A worker killed in the middle of a round, with real processes on the test database:
nothing is lost and nothing is sent twice.

Three `fangkong worker` processes (tests/followup/crash_worker.py: the real command, with
a stand-in gateway that appends every message it sends to a file) share the test
database with this test, so what the test writes must be committed: it is a
TransactionTestCase, which removes what it made afterwards (see CommittedData).
Worker A works until its gateway hangs in the middle of a batch, and is killed with
SIGKILL while it holds that batch's leases. Workers B and C then finish the round at the
same time, on leases short enough (LEASE_SECONDS) for A's to run out quickly.

The only messages that may go out twice are the ones A had handed to its gateway without
living to record the outcome: they go out again under the same key, which a real gateway
drops (its client_id). The test checks that exactly those are repeated, once each.

Real time throughout (the subprocesses cannot share a pinned clock): the round opened a
minute ago and every step of the plan starts at once, so all the work is due now. Retries
are left out of the plan because their spacing is counted in whole minutes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.test import TransactionTestCase
from django.utils import timezone

from fangkong.accounts.models import User
from fangkong.followup.models import (
    Attempt,
    Campaign,
    Contact,
    ContactState,
    Outcome,
    Questionnaire,
)
from fangkong.followup.rounds import round_open
from fangkong.followup.services import CampaignInput, campaign_create, campaign_start
from fangkong.jobs.models import Job
from tests.followup.crash_worker import outcome_for

ROOT = Path(__file__).resolve().parents[2]
# Short, so that A's leases run out soon, yet well above the time a worker takes for one
# pass (under a second here): a lease that runs out while its worker is still sending lets
# a second worker send the same messages again.
LEASE_SECONDS = 5
STALL_AFTER = 130  # A's gateway hangs after this many messages: its second pass
# sms -> voice -> web link -> door visit, all due at the round's start.
PLAN = [{"channel": "sms", "at": 0}, {"channel": "voice", "at": 0},
        {"channel": "web", "at": 0}, {"channel": "visit", "at": 0}]
VISIT = 3
# Batches of 50 texts (10 a second x the 5-second tick) and 25 calls at once.
CAPACITY = {"sms": 10, "web": 10, "voice": 25}


@dataclass(frozen=True)
class Sent:
    worker: str
    batch: int
    channel: str
    key: str


def read_sent(path: Path) -> list[Sent]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [Sent(w, int(b), c, k) for w, b, c, k in (line.split() for line in lines)]


def database_url() -> str:
    """The test database, as DATABASE_URL for a process of its own."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgresql://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    """The worker processes of one test, their logs, and how to wait on them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.record = folder / "sent.txt"
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fangkong.settings",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database_url(),
            "FANGKONG_DATA_KEY": settings.DATA_KEY,
            "FANGKONG_SECRET_KEY": settings.SECRET_KEY,
            "FANGKONG_FOLLOWUP_LEASE_SECONDS": str(LEASE_SECONDS),
            "FANGKONG_FOLLOWUP_CALL_LEASE_SECONDS": str(LEASE_SECONDS),
            "FANGKONG_WORKER_POLL_SECONDS": "1",
        }

    def start(self, name: str, *, stall_after: int | None = None,
              held: bool = False) -> subprocess.Popen:
        """Start a worker; a `held` one starts up, then waits for `release()`."""
        args = [sys.executable, "-m", "tests.followup.crash_worker", name, str(self.record)]
        if stall_after is not None:
            args += ["--stall-after", str(stall_after)]
        if held:
            args += ["--ready", str(self.ready(name)), "--go", str(self.folder / "go")]
        with open(self.folder / f"{name}.log", "wb") as log:
            process = subprocess.Popen(args, env=self.env, cwd=ROOT, stdout=log,
                                       stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def ready(self, name: str) -> Path:
        return self.folder / f"{name}.ready"

    def release(self) -> None:
        (self.folder / "go").touch()

    def logs(self) -> str:
        return "\n".join(f"--- worker {name}:\n" + (self.folder / f"{name}.log").read_text()[-3000:]
                         for name in self.processes)

    def wait_for(self, what: str, done: Callable[[], bool], *, seconds: float,
                 running: tuple[str, ...]) -> None:
        deadline = time.monotonic() + seconds
        while not done():
            for name in running:
                if self.processes[name].poll() is not None:
                    pytest.fail(f"worker {name} exited while waiting for {what}\n{self.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {seconds} s\n{self.logs()}")
            time.sleep(0.02)

    def stop(self, *names: str) -> None:
        """SIGTERM: the worker finishes the pass under way and exits."""
        for name in names:
            self.processes[name].send_signal(signal.SIGTERM)
        for name in names:
            assert self.processes[name].wait(timeout=30) == 0, self.logs()

    def kill_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def open_round(secretary, community):  # noqa: ANN001, ANN201
    """A running campaign for everyone in the community, its round opened a minute ago;
    no quiet hours (the test runs whenever it runs), one task per resident."""
    now = timezone.now()
    scheduled = (now - timedelta(minutes=1)).replace(second=0, microsecond=0)
    local = timezone.localtime(scheduled)
    version = Questionnaire.objects.get(slug="daily_health").versions.order_by("-number")[0]
    campaign = campaign_create(by=secretary, data=CampaignInput(
        name="崩溃测试", purpose="疫情防控每日健康随访", area=community, version=version,
        times=[local.strftime("%H:%M")], starts_on=local.date(), round_minutes=60,
        plan=PLAN, quiet_calls=[], quiet_sms=[], capacity=CAPACITY, proxy_answering=False))
    campaign = campaign_start(by=secretary, campaign=campaign)  # next round: tomorrow
    round_ = round_open(campaign=campaign, scheduled_for=scheduled, now=now)
    assert round_ is not None and round_.targeted > 250
    return round_


def expected_attempts(contact: Contact) -> set[tuple[int, str, str]]:
    """(step, channel, outcome) of every attempt the plan implies for a contact."""
    has_phone = contact.resident.phone_sealed is not None
    attempts = set()
    for step, channel in enumerate(("sms", "voice", "web")):
        outcome = outcome_for(channel, contact_id=contact.pk, has_phone=has_phone)
        attempts.add((step, channel, outcome))
        if outcome == Outcome.INVALID_NUMBER:
            break  # a dead number skips every phone channel: straight to the door visit
    return attempts


class CommittedData(TransactionTestCase):
    """Tests whose writes are committed, for other processes to see. Afterwards only the
    campaigns and jobs made during the test are removed (with their rounds, contacts and
    attempts): TransactionTestCase would empty every table, which the append-only audit
    log refuses, and the session's test city must stay for the tests that follow.
    (`django_db(transaction=True)` cannot change that; a pytest fixture outside the
    per-test transaction would not get the test database set up when run alone.)"""

    last_campaign = last_job = 0

    @classmethod
    def _fixture_setup(cls) -> None:
        super()._fixture_setup()
        cls.last_campaign = Campaign.objects.aggregate(last=Max("pk"))["last"] or 0
        cls.last_job = Job.objects.aggregate(last=Max("pk"))["last"] or 0

    def _fixture_teardown(self) -> None:
        Campaign.objects.filter(pk__gt=self.last_campaign).delete()
        Job.objects.filter(pk__gt=self.last_job).delete()


class KilledWorkerTest(CommittedData):
    def setUp(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="fangkong-crash-"))
        self.addCleanup(shutil.rmtree, folder, True)
        self.workers = Workers(folder)
        self.addCleanup(self.workers.kill_all)

    def test_killed_worker_loses_nothing_and_sends_nothing_twice(self) -> None:
        workers = self.workers
        secretary = User.objects.select_related("area").get(username="community_secretary")
        round_ = open_round(secretary, secretary.area)
        contacts = Contact.objects.filter(round=round_)
        unfinished = contacts.filter(state=ContactState.PENDING, step__lt=VISIT)

        # A works until its gateway hangs in the middle of a batch, then it is killed. B and
        # C start up meanwhile, and are let loose together once A is dead.
        a = workers.start("A", stall_after=STALL_AFTER)
        workers.start("B", held=True)
        workers.start("C", held=True)
        workers.wait_for("message from A",
                         lambda: len(read_sent(workers.record)) >= STALL_AFTER,
                         seconds=30, running=("A", "B", "C"))
        # The contacts A claimed and has not released (their leases run out LEASE_SECONDS
        # after A's pass began).
        claimed_by_a = set(contacts.filter(lease_owner__contains=f":{a.pid}#")
                           .values_list("pk", flat=True))
        assert claimed_by_a, "A was killed while holding no leases"
        assert unfinished.exists()
        a.send_signal(signal.SIGKILL)
        assert a.wait(timeout=10) == -signal.SIGKILL
        sent_by_a = read_sent(workers.record)
        assert len(sent_by_a) == STALL_AFTER

        workers.wait_for("B and C ready",
                         lambda: all(workers.ready(name).exists() for name in "BC"),
                         seconds=30, running=("B", "C"))
        workers.release()
        workers.wait_for("finished round", lambda: not unfinished.exists(), seconds=45,
                         running=("B", "C"))
        workers.stop("B", "C")
        sent = read_sent(workers.record)

        # Nothing is lost: every contact was tried once on each step the plan implies, with
        # one key per step, and waits on the door-visit list with no lease left behind.
        rows = list(Attempt.objects.filter(contact__round=round_))
        assert max(Counter((r.contact_id, r.step) for r in rows).values()) == 1
        attempts = defaultdict(set)
        for attempt in rows:
            assert attempt.key == f"{attempt.contact_id}.{attempt.step}.1", attempt
            assert (attempt.try_number, attempt.finished_at is not None) == (1, True), attempt
            attempts[attempt.contact_id].add((attempt.step, attempt.channel, attempt.outcome))
        everyone = list(contacts.select_related("resident"))
        assert len(everyone) == round_.targeted
        for contact in everyone:
            assert attempts[contact.pk] == expected_attempts(contact), contact.pk
            assert (contact.state, contact.step, contact.tries, contact.due_at,
                    contact.lease_owner, contact.lease_until) == (
                ContactState.PENDING, VISIT, 0, None, "", None)

        # Every attempt reached its resident, and the only repeats are the messages A had
        # sent in the batch it never finished: once more each, same key, by B or C.
        times_sent = Counter(s.key for s in sent)
        assert set(times_sent) == {r.key for r in rows}
        last_batch_of_a = max(s.batch for s in sent_by_a)
        unfinished_by_a = {s.key for s in sent_by_a if s.batch == last_batch_of_a}
        assert {int(key.split(".")[0]) for key in unfinished_by_a} <= claimed_by_a
        repeated = {key for key, n in times_sent.items() if n > 1}
        assert repeated == unfinished_by_a, [
            s for s in sent if s.key in repeated ^ unfinished_by_a]
        for key in repeated:
            senders = sorted(s.worker for s in sent if s.key == key)
            assert len(senders) == 2 and senders[0] == "A" and senders[1] in "BC", senders

        # B and C shared the rest of the round, at the same time, and never sent the same
        # message twice between them.
        after_kill = sent[len(sent_by_a):]
        assert max(Counter(s.key for s in after_kill).values()) == 1
        order = [s.worker for s in after_kill]
        starts = {name: order.index(name) for name in "BC"}
        ends = {name: len(order) - 1 - order[::-1].index(name) for name in "BC"}
        assert starts["B"] < ends["C"] and starts["C"] < ends["B"], "B and C took turns"
