"""Fixtures of the follow-up tests: a campaign in the secretary's community, a pinned
clock, and a transport that records what it was asked to send."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fangkong.followup.channels import registry
from fangkong.followup.channels.base import Batch, Result
from fangkong.followup.models import Questionnaire
from fangkong.followup.services import CampaignInput, campaign_create, campaign_start
from fangkong.lib import clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 30)
TUESDAY = MONDAY + timedelta(days=1)


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


class RecordingTransport:
    """Answers every task with a scripted outcome and remembers what it was sent.

    `script(task) -> Result` decides; by default every task is answered normally."""

    needs_phone = True

    def __init__(self, script=None) -> None:  # noqa: ANN001
        self.sent: list[tuple[str, object]] = []  # (channel, task)
        self.script = script

    def send(self, batch: Batch) -> list[Result]:
        results = []
        for task in batch.tasks:
            self.sent.append((batch.channel, task))
            if self.script is not None:
                results.append(self.script(task))
            else:
                results.append(Result(key=task.key, outcome="delivered"))
        return results


def run_until(moment, owner="w1"):  # noqa: ANN001, ANN201
    """Advance the clock to `moment`, scheduling and dispatching at every time something
    falls due (a contact, a round opening or closing), and at least every 5 minutes."""
    from datetime import timedelta

    from fangkong.followup.dispatch import dispatch_pass
    from fangkong.followup.rounds import rounds_schedule
    from fangkong.followup.simulate import _next_moment

    while clock.now() < moment:
        clock.set(min(_next_moment(clock.now(), moment), clock.now() + timedelta(minutes=5)))
        rounds_schedule(now=clock.now())
        while dispatch_pass(owner=owner, now=clock.now(), limit=10000):
            pass


@pytest.fixture
def pinned_clock():
    clock.set(at(8, 0))
    yield clock
    clock.reset()


@pytest.fixture
def community(community_secretary):  # noqa: ANN001, ANN201
    return community_secretary.area


def daily_version():  # noqa: ANN201
    return Questionnaire.objects.get(slug="daily_health").versions.order_by("-number").first()


def make_campaign(by, area, *, plan=None, start=True, **overrides):  # noqa: ANN001, ANN201
    fields = {"name": "居家健康监测", "purpose": "疫情防控每日健康随访",
              "version": daily_version(), "times": ["09:00"], "starts_on": MONDAY,
              "round_minutes": 360, **overrides}
    data = CampaignInput(
        area=area,
        plan=plan or [{"channel": "web", "at": 0},
                      {"channel": "voice", "at": 90, "retries": 2, "spacing": 30,
                       "busy_spacing": 5},
                      {"channel": "visit", "at": 300}],
        **fields)
    campaign = campaign_create(by=by, data=data)
    if start:
        campaign = campaign_start(by=by, campaign=campaign)
    return campaign


@pytest.fixture
def transports():
    """Record every channel's sends; tests set `.script` per channel."""
    recorders = {name: RecordingTransport() for name in ("web", "sms", "voice")}
    with registry.override("web", recorders["web"]), registry.override("sms", recorders["sms"]), \
            registry.override("voice", recorders["voice"]):
        yield recorders
