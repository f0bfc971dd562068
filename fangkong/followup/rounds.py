"""Opening and closing rounds: the scheduler's side of the follow-up robot.

Opening a round writes one contact per target resident with one INSERT ... SELECT, so a
round of a million residents is one statement, not a million. Closing a round marks the
residents nobody reached and raises the "not reached" alerts for their grid workers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from fangkong.followup.answers import rules_of
from fangkong.followup.models import (
    Alert,
    AlertEvent,
    AlertKind,
    Campaign,
    CampaignStatus,
    Contact,
    ContactState,
    Round,
    RoundStatus,
)
from fangkong.followup.plan import parse_plan
from fangkong.followup.rules import unreached_rules
from fangkong.followup.schedule import next_round_at, parse_times
from fangkong.followup.targets import target_residents
from fangkong.lib import clock
from fangkong.residents.models import Proxy

log = logging.getLogger("fangkong.followup")


def campaign_next_round(campaign: Campaign, *, after: datetime) -> datetime | None:
    return next_round_at(times=parse_times(campaign.times), weekdays=campaign.weekdays or [],
                         starts_on=campaign.starts_on, ends_on=campaign.ends_on, after=after)


def round_open(*, campaign: Campaign, scheduled_for: datetime,
               now: datetime | None = None) -> Round | None:
    """Open the round due at `scheduled_for` and write its contacts. Idempotent: a round
    that exists already is returned as is. None when the round's time has passed."""
    now = now or clock.now()
    closes_at = scheduled_for + timedelta(minutes=campaign.round_minutes)
    if closes_at <= now:
        return None
    plan = parse_plan(campaign.plan, round_minutes=campaign.round_minutes)
    with transaction.atomic():
        round_, created = Round.objects.get_or_create(
            campaign=campaign, scheduled_for=scheduled_for,
            defaults={"closes_at": closes_at, "opened_at": now})
        if not created:
            return round_
        opened = max(now, scheduled_for)
        first_due = None if plan[0].channel == "visit" else opened + timedelta(minutes=plan[0].at)
        residents = target_residents(campaign.area, campaign.target,
                                     today=timezone.localdate(opened))
        proxy = Value("")
        if campaign.proxy_answering:
            proxy = Coalesce(Subquery(Proxy.objects.filter(resident=OuterRef("pk"))
                                      .order_by("pk").values("phone_index")[:1]), Value(""))
        select = residents.annotate(proxy=proxy).values_list(
            "district_id", "street_id", "community_id", "grid_id", "pk", "proxy")
        sql, params = select.query.sql_with_params()
        table = Contact._meta.db_table
        ops = connection.ops
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (district_id, street_id, community_id, grid_id, "  # noqa: S608
                "resident_id, proxy_index, round_id, state, step, tries, due_at, lease_owner, "
                "answers, answered_via, answered_by_proxy, severity) "
                f"SELECT s.*, %s, 'pending', 0, 0, %s, '', '{{}}', '', %s, '' FROM ({sql}) s",
                [round_.pk, ops.adapt_datetimefield_value(first_due), False, *params])
            targeted = cursor.rowcount
        round_.targeted = targeted
        round_.save(update_fields=["targeted"])
    log.info("opened %s with %d contacts", round_, targeted)
    return round_


def round_close(*, round_: Round, now: datetime | None = None) -> int:
    """Close a round: whoever was not reached is marked so, and each "not reached" rule
    raises an alert for their grid. Returns the number not reached. Idempotent."""
    now = now or clock.now()
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        if locked.status == RoundStatus.CLOSED:
            return 0
        rules = unreached_rules(list(rules_of(locked.campaign.version_id)))
        # A paused campaign stopped trying: that nobody reached them is not news about the
        # residents, and must not flood the grid workers' lists.
        if locked.campaign.status != CampaignStatus.PAUSED:
            for rule in rules:
                _unreached_alerts(locked, rule, now)
        unreached = Contact.objects.filter(round=locked, state=ContactState.PENDING).update(
            state=ContactState.UNREACHED, due_at=None, lease_owner="", lease_until=None)
        locked.status = RoundStatus.CLOSED
        locked.closed_at = now
        locked.save(update_fields=["status", "closed_at"])
    log.info("closed %s: %d not reached", round_, unreached)
    return unreached


def _unreached_alerts(round_: Round, rule, now: datetime) -> None:  # noqa: ANN001
    """One alert (and its "raised" event) per contact still pending, for one rule: two
    INSERT ... SELECT, however many residents nobody reached."""
    ops = connection.ops
    alert, event, contact = (Alert._meta.db_table, AlertEvent._meta.db_table,
                             Contact._meta.db_table)
    stamp = ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {alert} (district_id, street_id, community_id, grid_id, "  # noqa: S608
            "resident_id, kind, campaign_id, contact_id, rule_key, severity, title, reason, "
            "assigned_area_id, level, deadline_minutes, due_at, status, outcome, note, "
            "resolved_by_id, resolved_at, created_at, pushed_at) "
            "SELECT c.district_id, c.street_id, c.community_id, c.grid_id, c.resident_id, "
            "%s, %s, c.id, %s, %s, %s, '', c.grid_id, 0, %s, %s, 'open', '', '', NULL, NULL, "
            f"%s, NULL FROM {contact} c WHERE c.round_id = %s AND c.state = 'pending'",
            [AlertKind.UNREACHED, round_.campaign_id, rule.key, str(rule.severity),
             rule.title[:60], rule.deadline_minutes,
             ops.adapt_datetimefield_value(now + timedelta(minutes=rule.deadline_minutes)),
             stamp, round_.pk])
        cursor.execute(
            f"INSERT INTO {event} (alert_id, what, detail, by_id, at) "  # noqa: S608
            f"SELECT a.id, 'raised', '', NULL, %s FROM {alert} a JOIN {contact} c "
            "ON c.id = a.contact_id WHERE c.round_id = %s AND c.state = 'pending' "
            "AND a.rule_key = %s AND a.kind = %s",
            [stamp, round_.pk, rule.key, AlertKind.UNREACHED])


def rounds_schedule(*, now: datetime | None = None) -> dict[str, int]:
    """Open the rounds that are due and close those whose time is up. Idempotent; the
    worker calls it every few seconds."""
    now = now or clock.now()
    opened = closed = 0
    for campaign in Campaign.objects.filter(status=CampaignStatus.RUNNING,
                                            next_round_at__lte=now).select_related("area"):
        due = campaign.next_round_at
        while due is not None and due <= now:
            if round_open(campaign=campaign, scheduled_for=due, now=now) is not None:
                opened += 1
            else:
                log.warning("%s: missed the round of %s (the worker was not running)",
                            campaign, due)
            due = campaign_next_round(campaign, after=due)
        campaign.next_round_at = due
        campaign.save(update_fields=["next_round_at"])
    for round_ in Round.objects.filter(status=RoundStatus.OPEN, closes_at__lte=now):
        round_close(round_=round_, now=now)
        closed += 1
    # A campaign with no round left to open is finished once its last round has closed.
    Campaign.objects.filter(status=CampaignStatus.RUNNING, next_round_at__isnull=True).exclude(
        rounds__status=RoundStatus.OPEN).update(status=CampaignStatus.FINISHED)
    return {"opened": opened, "closed": closed}
