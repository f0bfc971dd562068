"""Simulated days: the demo city's campaigns run on a movable clock, in seconds.

`simulate_days` sets the clock to the start, then steps through time: at each step it
opens and closes the rounds that are due, dispatches every due contact through the
channels (the simulated population unless a gateway is configured), escalates overdue
alerts, and plays the grid workers: door visits for part of the visit list and the
resolution of most alerts, through the same services a person uses. A new user of the
demo sees full round tables, alerts and visit lists at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fangkong.accounts.models import Role, User
from fangkong.accounts.scope import grid_scope_q
from fangkong.followup.alerts import alert_resolve, alerts_escalate
from fangkong.followup.answers import contacts_answer, spec_of
from fangkong.followup.channels.sim.population import Behaviour, SimResident, _rng
from fangkong.followup.dispatch import dispatch_pass
from fangkong.followup.models import (
    Alert,
    AlertKind,
    AlertOutcome,
    AlertStatus,
    Campaign,
    CampaignStatus,
    Contact,
    ContactState,
    Questionnaire,
    Round,
    RoundStatus,
)
from fangkong.followup.rounds import campaign_next_round, rounds_schedule
from fangkong.followup.selectors import visit_list
from fangkong.followup.services import CampaignInput, campaign_create, campaign_start
from fangkong.isolation.models import IsolationPeriod, PeriodKind
from fangkong.lib import clock
from fangkong.places.models import Area
from fangkong.residents.models import Resident, ResidentStatus

STEP = timedelta(minutes=15)
OWNER = "simulate"
# What a simulated worker finds when resolving an alert of each kind.
OUTCOMES = {AlertKind.RULE: [(AlertOutcome.VISITED, 6), (AlertOutcome.FEVER_CLINIC, 2),
                             (AlertOutcome.FALSE_ALARM, 2)],
            AlertKind.UNREACHED: [(AlertOutcome.REACHED, 6), (AlertOutcome.VISITED, 3),
                                  (AlertOutcome.NOT_HOME, 1)],
            AlertKind.NOTICE: [(AlertOutcome.ACKNOWLEDGED, 1)]}


@dataclass
class SimulationReport:
    days: int
    rounds: int
    contacts: int
    answered: int
    alerts: int
    resolved: int


def demo_campaigns_create(*, by: User, community: Area, starts_on: date,
                          seed: int = 2020) -> list[Campaign]:
    """The demo community's campaigns: isolation twice a day, the elderly living alone
    every morning, and a fever screen of every resident once a day. Also puts ~2% of the
    community in home isolation or health monitoring so the first one has a target."""
    rng = random.Random(seed)
    residents = list(Resident.objects.filter(community=community,
                                             status=ResidentStatus.ACTIVE)
                     .values_list("pk", flat=True))
    chosen = rng.sample(residents, max(len(residents) // 50, 1))
    periods = []
    for n, pk in enumerate(chosen):
        start = starts_on - timedelta(days=rng.randint(0, 10))
        periods.append(IsolationPeriod(
            resident_id=pk, kind=PeriodKind.ISOLATION if n % 3 else PeriodKind.MONITORING,
            starts_on=start, planned_end=start + timedelta(days=13),
            reason=rng.choice(["密切接触者", "从中高风险地区返回", "次密接"]),
            place="家中", created_by=by))
    IsolationPeriod.objects.bulk_create(periods, ignore_conflicts=True)

    def version(slug: str):  # noqa: ANN202
        return Questionnaire.objects.get(slug=slug).versions.latest("number")

    call_then_visit = [{"channel": "web", "at": 0},
                       {"channel": "voice", "at": 60, "retries": 2, "spacing": 20,
                        "busy_spacing": 5},
                       {"channel": "visit", "at": 180}]
    specs = [
        CampaignInput(name="居家隔离人员每日两次健康监测", purpose="居家隔离期间每日两次健康监测",
                      area=community, version=version("daily_health"),
                      times=["09:00", "16:00"], starts_on=starts_on, round_minutes=300,
                      target={"isolation": "any"}, plan=call_then_visit),
        CampaignInput(name="独居老人每日关怀", purpose="了解独居老人身体和生活需要",
                      area=community, version=version("elderly_wellbeing"),
                      times=["08:30"], starts_on=starts_on, round_minutes=300,
                      target={"tags": ["elderly_alone"]},
                      plan=[{"channel": "voice", "at": 0, "retries": 2, "spacing": 20},
                            {"channel": "visit", "at": 120}]),
        CampaignInput(name="全体居民发热排查", purpose="疫情防控全体居民发热排查",
                      area=community, version=version("daily_health"), times=["10:00"],
                      starts_on=starts_on, round_minutes=480, plan=call_then_visit),
    ]
    campaigns = []
    for data in specs:
        campaign = campaign_create(by=by, data=data)
        campaigns.append(campaign_start(by=by, campaign=campaign))
    return campaigns


def _workers_act(now: datetime, rng: random.Random, workers: list[User], seed: int) -> int:
    """The grid workers' share of the day: answer part of the door-visit list (a visit
    reaches the resident 3 times in 4), and resolve alerts raised over two hours ago, in
    the daytime: the last ones stay open for the demo's user to handle."""
    done = 0
    if not 8 <= timezone.localtime(now).hour < 20:
        return 0  # workers rest at night; the alerts wait (and escalate)
    for worker in workers:
        for contact in visit_list(worker)[:40]:
            if rng.random() > 0.1:
                continue  # not yet: a worker gets round to part of the list per step
            if rng.random() < 0.25:
                continue  # nobody home
            spec = spec_of(contact.round.campaign.version_id)
            resident = SimResident(seed, str(contact.resident_id), Behaviour())
            answers = resident.answers_for(spec, str(contact.round_id), channel="web")
            with transaction.atomic():
                locked = Contact.objects.select_for_update().select_related(
                    "round", "round__campaign").get(pk=contact.pk)
                if locked.state == ContactState.PENDING:
                    contacts_answer([(locked, answers, "visit")], now=now)
                    done += 1
        stale = Alert.objects.filter(grid_scope_q(worker), status=AlertStatus.OPEN,
                                     created_at__lte=now - timedelta(hours=2)).order_by("pk")
        for alert in stale[:20]:
            if rng.random() < 0.6:
                continue
            choices = OUTCOMES.get(alert.kind, OUTCOMES[AlertKind.RULE])
            outcome = rng.choices([c for c, _w in choices], [w for _c, w in choices])[0]
            alert_resolve(alert=alert, by=worker, outcome=outcome, note="")
            done += 1
    return done


def _next_moment(moment: datetime, end: datetime) -> datetime:
    """The next time anything happens by itself (a contact falls due, a round opens or
    closes), but at most STEP on, so the simulated workers act regularly."""
    nxt = moment + STEP
    candidates = [
        Contact.objects.filter(state=ContactState.PENDING, round__status=RoundStatus.OPEN,
                               due_at__gt=moment).order_by("due_at")
        .values_list("due_at", flat=True).first(),
        Campaign.objects.filter(status=CampaignStatus.RUNNING, next_round_at__gt=moment)
        .order_by("next_round_at").values_list("next_round_at", flat=True).first(),
        Round.objects.filter(status=RoundStatus.OPEN, closes_at__gt=moment)
        .order_by("closes_at").values_list("closes_at", flat=True).first(),
    ]
    for candidate in candidates:
        if candidate is not None and candidate < nxt:
            nxt = candidate
    return min(nxt, end)


def simulate_days(*, days: int, end: datetime | None = None, seed: int = 2020,
                  progress: Callable[[int, int], None] | None = None) -> SimulationReport:
    """Run the running campaigns from `end - days` to `end` (default: now) on the
    movable clock. The clock is given back to real time afterwards."""
    if settings.SMS_GATEWAY_URL or not settings.SIMULATE_CHANNELS:
        raise ValueError(
            "simulate runs only where every channel is simulated (FANGKONG_SIMULATE_CHANNELS "
            "on, no FANGKONG_SMS_GATEWAY_URL): here it would reach real residents")
    end = end or clock.now()
    start = end - timedelta(days=days)
    rng = _rng(seed, "simulate")
    # Grid workers, and the community workers who cover the grids without one.
    workers = list(User.objects.filter(role__in=[Role.GRID_WORKER, Role.COMMUNITY_WORKER],
                                       is_active=True).select_related("area").order_by("pk"))
    # Campaigns that would start later begin with the simulation (a demo made today).
    Campaign.objects.filter(status=CampaignStatus.RUNNING, starts_on__gt=start.date()).update(
        starts_on=start.date())
    for campaign in Campaign.objects.filter(status=CampaignStatus.RUNNING):
        campaign.next_round_at = campaign_next_round(campaign, after=start)
        campaign.save(update_fields=["next_round_at"])
    span = (end - start).total_seconds()
    try:
        moment = start
        while moment < end:
            moment = _next_moment(moment, end)
            clock.set(moment)
            rounds_schedule(now=moment)
            while dispatch_pass(owner=OWNER, now=moment, limit=5000):
                pass
            alerts_escalate(now=moment)
            _workers_act(moment, rng, workers, seed)
            if progress:
                progress(int((moment - start).total_seconds()), int(span))
    finally:
        clock.reset()
    rounds = Round.objects.filter(scheduled_for__gte=start)
    contacts = Contact.objects.filter(round__in=rounds)
    alerts = Alert.objects.filter(created_at__gte=start)
    return SimulationReport(
        days=days, rounds=rounds.count(), contacts=contacts.count(),
        answered=contacts.filter(state=ContactState.ANSWERED).count(),
        alerts=alerts.count(), resolved=alerts.filter(status=AlertStatus.RESOLVED).count())


def demo_followup(*, days: int = 2, progress: Callable[[int, int], None] | None = None
                  ) -> SimulationReport:
    """The demo's follow-up: campaigns in the demo secretary's community, then `days`
    simulated days up to now."""
    secretary = User.objects.filter(role=Role.COMMUNITY_SECRETARY).order_by("pk").first()
    if secretary is None:
        raise ValueError("no community secretary: load the demo city first")
    community = secretary.area
    if not Campaign.objects.filter(area=community).exists():
        starts_on = (clock.now() - timedelta(days=days)).date()
        demo_campaigns_create(by=secretary, community=community, starts_on=starts_on)
    return simulate_days(days=days, progress=progress)

