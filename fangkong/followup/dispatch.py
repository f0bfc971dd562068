"""The follow-up dispatcher: claim due contacts, try them on their channel, record the
outcome, schedule the next step.

Contacts are the work rows (state, due time, lease). A worker claims a batch of one
round's step with a conditional UPDATE (after `SELECT ... FOR UPDATE SKIP LOCKED` on
PostgreSQL; SQLite serialises writers), so any number of `fangkong worker` processes can
share a database. Before anything is sent, one `Attempt` per contact is committed with its
idempotency key; the transport sends once per key, so a worker killed between sending and
recording is repeated by the next worker without a second message reaching the resident.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from fangkong.followup.answers import contacts_answer, spec_of
from fangkong.followup.channels.base import (
    Batch,
    Result,
    Subject,
    Task,
    Transport,
    masked_name,
)
from fangkong.followup.channels.registry import transport_for
from fangkong.followup.channels.web.links import contact_link
from fangkong.followup.models import (
    Attempt,
    Campaign,
    CampaignStatus,
    Contact,
    ContactState,
    Outcome,
    Round,
    RoundStatus,
)
from fangkong.followup.plan import (
    Step,
    after_outcome,
    fall_back,
    in_quiet_hours,
    parse_plan,
    step_start,
)
from fangkong.lib import clock
from fangkong.lib.bulk import bulk_insert
from fangkong.lib.crypto import unseal
from fangkong.residents.personal import PHONE

log = logging.getLogger("fangkong.followup")
TICK_SECONDS = 5  # how much capacity one pass may use: rate x the worker's polling period
CONTACT_FIELDS = [f.name for f in Contact._meta.concrete_fields]


def _quiet(campaign: Campaign, channel: str, now: datetime) -> bool:
    local = timezone.localtime(now).time()
    if channel == "voice":
        return in_quiet_hours(campaign.quiet_calls, local)
    if channel in ("sms", "web"):
        return in_quiet_hours(campaign.quiet_sms, local)
    return False


def _room(campaign: Campaign, round_: Round, step_index: int, step: Step,
          now: datetime) -> int:
    """How many contacts this pass may take on the step, within the campaign's capacity:
    concurrent calls for voice (minus the calls under way), messages per second for text."""
    capacity = campaign.capacity or {}
    if step.channel == "voice":
        lines = int(capacity.get("voice", 30))
        busy = Contact.objects.filter(round=round_, step=step_index, lease_until__gt=now,
                                      state=ContactState.PENDING).exclude(lease_owner="").count()
        return max(lines - busy, 0)
    rate = float(capacity.get(step.channel, 50))
    return max(int(rate * TICK_SECONDS), 1)


def contacts_claim(*, round_: Round, step: int, owner: str, limit: int,
                   now: datetime, lease_seconds: int | None = None) -> tuple[str, list[Contact]]:
    """Lease up to `limit` due contacts of a round's step to `owner`, for `lease_seconds`
    from the moment of the claim (not from the start of the worker's pass, which may be a
    while ago)."""
    lease = f"{owner}#{secrets.token_hex(4)}"
    due = (Q(round=round_, state=ContactState.PENDING, step=step, due_at__lte=now)
           & (Q(lease_until__isnull=True) | Q(lease_until__lt=now)))
    with transaction.atomic():
        candidates = Contact.objects.filter(due).order_by("due_at", "pk")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return lease, []
        seconds = lease_seconds or settings.FOLLOWUP_LEASE_SECONDS
        Contact.objects.filter(due, pk__in=ids).update(
            lease_owner=lease, lease_until=max(now, clock.now()) + timedelta(seconds=seconds))
    # Of the resident only what reaching them needs (not the whole row, times a million).
    claimed = list(Contact.objects.filter(pk__in=ids, lease_owner=lease)
                   .select_related("resident")
                   .only(*CONTACT_FIELDS, "resident__phone_index", "resident__phone_sealed",
                         "resident__name", "resident__relation"))
    for contact in claimed:
        contact.round = round_
    return lease, claimed


def _phone_of(contact: Contact, proxies: dict[int, bytes]) -> str:
    sealed = proxies.get(contact.resident_id) if contact.proxy_index else None
    sealed = sealed or contact.resident.phone_sealed
    return unseal(bytes(sealed), purpose=PHONE) if sealed else ""


def _reachable(contact: Contact) -> str:
    """For transports that never dial (the simulation): a stand-in that says whether any
    number is known, without decrypting it."""
    return "(number)" if contact.proxy_index or contact.resident.phone_index else ""


def _subjects(group: list[Contact]) -> tuple[Subject, ...]:
    """The residents of a proxy session with the names a channel may say to the proxy:
    masked, and where two masked names sound the same, with the relation to their
    householder (as the building check-in's picker does)."""
    names = [masked_name(c.resident.name) for c in group]
    names = [f"{name}（{c.resident.get_relation_display()}）" if names.count(name) > 1
             else name for name, c in zip(names, group, strict=True)]
    return tuple(Subject(contact_id=c.pk, resident_id=c.resident_id, name=name,
                         answers=dict(c.answers)) for c, name in zip(group, names, strict=True))


def _tasks(campaign: Campaign, round_: Round, step: Step, contacts: list[Contact],
           *, keys: dict[int, str], needs_phone: bool) -> tuple[list[Task], dict[str, list[int]]]:
    """One task per contact, or one per proxy for the residents that proxy answers for."""
    from fangkong.residents.models import Proxy

    proxies: dict[int, bytes] = {}
    if needs_phone and any(c.proxy_index for c in contacts):
        for resident_id, sealed in (Proxy.objects.filter(
                resident_id__in=[c.resident_id for c in contacts if c.proxy_index])
                .order_by("-pk").values_list("resident_id", "phone_sealed")):
            proxies[resident_id] = sealed
    groups: dict[str, list[Contact]] = defaultdict(list)
    for contact in contacts:
        groups[contact.proxy_index or f"c{contact.pk}"].append(contact)
    greeting = f"{campaign.area.name}：{campaign.purpose.rstrip('。.')}"
    links = step.channel in ("web", "sms")
    tasks, members = [], {}
    for group in groups.values():
        lead = group[0]
        # A proxy's session is keyed by the proxy, not by whichever resident leads it this
        # time: after a crash the group may form differently, the key must not.
        step_try = keys[lead.pk].split(".", 1)[1]
        key = (keys[lead.pk] if not lead.proxy_index else
               f"p{round_.pk}.{lead.proxy_index[:16]}.{step_try}")
        members[key] = [c.pk for c in group]
        tasks.append(Task(key=key, contact_id=lead.pk, resident_id=lead.resident_id,
                          round_id=round_.pk,
                          phone=(_phone_of(lead, proxies) if needs_phone
                                 else _reachable(lead)),
                          greeting=greeting,
                          link=contact_link(lead.pk) if links else "",
                          also_for=tuple(c.pk for c in group[1:]),
                          answers=dict(lead.answers),
                          subjects=_subjects(group) if lead.proxy_index else ()))
    return tasks, members


def process_claimed(*, campaign: Campaign, round_: Round, plan: tuple[Step, ...],
                    step_index: int, lease: str, contacts: list[Contact],
                    now: datetime, transport: Transport | None = None) -> int:
    """Attempt every claimed contact on its step and record what happened."""
    step = plan[step_index]
    keys = {c.pk: f"{c.pk}.{step_index}.{c.tries + 1}" for c in contacts}
    # Committed before sending: the keys are what stop a resent message after a crash.
    # A key recorded already (its worker died before recording the outcome) is sent again
    # under the same key, which the channel drops if it went out the first time.
    known = set(Attempt.objects.filter(key__in=list(keys.values()))
                .values_list("key", flat=True))
    if known:
        # Tried again under its key (a crash, or a call not placed): it is under way anew.
        Attempt.objects.filter(key__in=list(known)).update(
            outcome=Outcome.SENDING, started_at=now, finished_at=None)
    started = connection.ops.adapt_datetimefield_value(now)
    bulk_insert(Attempt._meta.db_table,
                ["contact_id", "channel", "step", "try_number", "key", "outcome", "started_at",
                 "provider_id", "detail"],
                [(c.pk, step.channel, step_index, c.tries + 1, keys[c.pk], Outcome.SENDING,
                  started, "", "") for c in contacts if keys[c.pk] not in known])
    transport = transport or transport_for(step.channel)
    tasks, members = _tasks(campaign, round_, step, contacts, keys=keys,
                            needs_phone=getattr(transport, "needs_phone", True))
    spec = spec_of(campaign.version_id)
    results: dict[str, Result] = {r.key: r for r in transport.send(
        Batch(channel=step.channel, campaign_id=campaign.pk, spec=spec, tasks=tasks))}
    # Outcomes are dated when they are known: a batch of calls takes minutes.
    now = max(now, clock.now())
    by_pk = {c.pk: c for c in contacts}
    with transaction.atomic():
        # Only contacts this worker still holds: a lease lost to a slow send is someone
        # else's now, and their outcome is theirs to record.
        held = set(Contact.objects.filter(pk__in=list(by_pk), lease_owner=lease)
                   .values_list("pk", flat=True))
        outcome_of: dict[int, Result] = {}
        key_of = {pk: key for key, pks in members.items() for pk in pks}
        result_leads = {key: pks[0] for key, pks in members.items()}
        for key, pks in members.items():
            result = results.get(key) or Result(key=key, outcome=Outcome.FAILED,
                                                detail="no result from the channel")
            for pk in pks:
                outcome_of[pk] = result
        given_of: dict[int, dict[str, Any]] = {}
        for pk, result in outcome_of.items():
            given = (result.answers if pk == result_leads.get(key_of[pk])
                     else (result.more_answers or {}).get(pk))
            if given and pk in held:
                given_of[pk] = given
        # The answers first: whether they complete the questionnaire decides where each
        # contact goes next (a call cut short keeps what it got and is tried again).
        contacts_answer([(by_pk[pk], given, step.channel) for pk, given in given_of.items()],
                        now=now, proxied={pk for pk in given_of if by_pk[pk].proxy_index})
        changed: list[Contact] = []
        attempts: list[Attempt] = []
        for pk, result in outcome_of.items():
            if pk not in held:
                continue
            contact = by_pk[pk]
            contact.tries += 1
            attempts.append(Attempt(key=keys[pk], outcome=result.outcome, finished_at=now,
                                    provider_id=result.provider_id[:64],
                                    detail=result.detail[:200]))
            outcome = result.outcome
            if pk in given_of:
                outcome = "answered" if contact.state == ContactState.ANSWERED else "partial"
            elif outcome == "answered":
                outcome = "partial"  # e.g. a proxy who answered for someone else only
            nxt = after_outcome(plan, step=step_index, tries=contact.tries,
                                outcome=outcome, now=now, opened=round_.scheduled_for,
                                closes=round_.closes_at)
            contact.state, contact.step, contact.tries, contact.due_at = (
                nxt.state, nxt.step, nxt.tries, nxt.due_at)
            contact.lease_owner, contact.lease_until = "", None
            changed.append(contact)
        _attempts_record(attempts, now)
        _contacts_move(changed)
        _recordings_keep(results.values(), by_pk, held, keys, now)
    return len(changed)


def _recordings_keep(results, by_pk: dict[int, Contact], held: set[int],  # noqa: ANN001
                     keys: dict[int, str], now: datetime) -> None:
    """What residents said on the calls, sealed, with the attempt it was said in (only
    for contacts this worker still holds, all of them claimed in this batch)."""
    items = [(by_pk[rec.contact_id], keys[rec.contact_id], rec)
             for result in results for rec in result.recordings if rec.contact_id in held]
    if items:
        from fangkong.followup.recordings import recordings_store

        recordings_store(items=items, now=now)


def _lease_seconds(channel: str) -> int:
    """A call batch holds its contacts while the calls last (ringing, the questions): far
    longer than sending a batch of messages. A lease that ran out under a live call would
    let another worker call the same resident again."""
    if channel == "voice":
        return max(settings.FOLLOWUP_LEASE_SECONDS, settings.FOLLOWUP_CALL_LEASE_SECONDS)
    return settings.FOLLOWUP_LEASE_SECONDS


def _grouped(items, key):  # noqa: ANN001, ANN202
    groups: dict = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def _attempts_record(attempts: list[Attempt], now: datetime) -> None:
    """Write the outcomes: one UPDATE per distinct (outcome, provider id, detail), which for
    a simulated or bulk channel is a handful of statements for a whole batch."""
    for (outcome, provider_id, detail), group in _grouped(
            attempts, lambda a: (a.outcome, a.provider_id, a.detail)).items():
        keys = [a.key for a in group]
        for start in range(0, len(keys), 5000):
            Attempt.objects.filter(key__in=keys[start:start + 5000]).update(
                outcome=outcome, finished_at=now, provider_id=provider_id, detail=detail)


def _contacts_move(contacts: list[Contact]) -> None:
    """Write where each contact goes next, one UPDATE per distinct destination (most of a
    batch shares a few: the next step at its start time, a retry after the spacing)."""
    for (state, step, tries, due_at), group in _grouped(
            contacts, lambda c: (c.state, c.step, c.tries, c.due_at)).items():
        ids = [c.pk for c in group]
        for start in range(0, len(ids), 5000):
            Contact.objects.filter(pk__in=ids[start:start + 5000]).update(
                state=state, step=step, tries=tries, due_at=due_at, lease_owner="",
                lease_until=None)


@dataclass(frozen=True)
class Claim:
    """Contacts of one round's step, leased to a worker to attempt now."""

    campaign: Campaign
    round_: Round
    plan: tuple[Step, ...]
    step_index: int
    lease: str
    contacts: list[Contact]


def worker_channels() -> frozenset[str]:
    """The channels `fangkong worker` attempts: all of them, but for robot calls when a SIP
    trunk is configured; line machines (`fangkong lines`) dial those."""
    channels = {"web", "sms", "voice"}
    if settings.SIP_TRUNK:
        channels.discard("voice")
    return frozenset(channels)


def _open_rounds(now: datetime) -> Iterator[tuple[Round, tuple[Step, ...]]]:
    """The rounds open now of running campaigns, each with its campaign's plan."""
    rounds = (Round.objects.filter(status=RoundStatus.OPEN, closes_at__gt=now,
                                   campaign__status=CampaignStatus.RUNNING)
              .select_related("campaign", "campaign__area"))
    for round_ in rounds:
        yield round_, parse_plan(round_.campaign.plan,
                                 round_minutes=round_.campaign.round_minutes)


def calls_attended(now: datetime | None = None) -> bool:
    """True when some line machine is alive (a heartbeat within the last minute) with its
    trunk up: robot calls are being made."""
    from fangkong.followup.models import LineMachine

    now = now or clock.now()
    return LineMachine.objects.filter(heartbeat_at__gte=now - timedelta(seconds=60),
                                      trunk_up=True).exists()


def calls_unattended_move_on(*, now: datetime) -> int:
    """With a SIP trunk but no line machine alive with its trunk up, nobody makes the
    robot calls: once the next step of a plan has started, the contacts waiting on a call
    move on to it (a web link, the door visit), so an outage does not hold up the round.
    Returns how many moved."""
    if not settings.SIP_TRUNK or calls_attended(now):
        return 0
    moved = 0
    for round_, plan in _open_rounds(now):
        for index, step in enumerate(plan):
            if step.channel != "voice" or index + 1 >= len(plan):
                continue
            if step_start(plan, index + 1, round_.scheduled_for) > now:
                continue
            nxt = fall_back(plan, index, now=now, opened=round_.scheduled_for,
                            closes=round_.closes_at)
            waiting = (Q(round=round_, state=ContactState.PENDING, step=index, due_at__lte=now)
                       & (Q(lease_until__isnull=True) | Q(lease_until__lt=now)))
            count = Contact.objects.filter(waiting).update(
                step=nxt.step, tries=nxt.tries, due_at=nxt.due_at, lease_owner="",
                lease_until=None)
            if count:
                log.warning("%s: no line machine is making calls; %d contacts moved on from "
                            "step %d to the next", round_.campaign, count, index)
            moved += count
    return moved


def due_claims(*, owner: str, now: datetime, limit: int, channels: frozenset[str],
               total: int | None = None) -> Iterator[Claim]:
    """Claim what is due on every open round's steps of `channels`: up to `limit` contacts
    per step within the campaign's capacity, and `total` in all when given."""
    left = total
    for round_, plan in _open_rounds(now):
        campaign = round_.campaign
        for index, step in enumerate(plan):
            if step.channel not in channels or _quiet(campaign, step.channel, now):
                continue
            room = min(_room(campaign, round_, index, step, now), limit)
            if left is not None:
                room = min(room, left)
            if room <= 0:
                continue
            lease, contacts = contacts_claim(round_=round_, step=index, owner=owner,
                                             lease_seconds=_lease_seconds(step.channel),
                                             limit=room, now=now)
            if not contacts:
                continue
            if left is not None:
                left -= len(contacts)
            yield Claim(campaign, round_, plan, index, lease, contacts)
            if left is not None and left <= 0:
                return


def claim_process(claim: Claim, *, now: datetime, transport: Transport | None = None) -> int:
    """Attempt a claim's contacts; a failure leaves them leased and their attempts
    "sending": once the lease runs out they go out again under the same keys (see the
    module's doc). Returns how many were handled."""
    try:
        return process_claimed(campaign=claim.campaign, round_=claim.round_, plan=claim.plan,
                               step_index=claim.step_index, lease=claim.lease,
                               contacts=claim.contacts, now=now, transport=transport)
    except Exception:  # noqa: BLE001 - one channel's failure must not stop the others
        log.exception("%s: step %d (%s) failed; its contacts are retried after their lease",
                      claim.campaign, claim.step_index, claim.plan[claim.step_index].channel)
        return 0


def dispatch_pass(*, owner: str, now: datetime | None = None, limit: int = 500,
                  channels: frozenset[str] | None = None) -> int:
    """One pass over every open round: claim what is due on each step and attempt it.
    Returns how many contacts were handled (0 = nothing was due)."""
    now = now or clock.now()
    handled = 0
    for claim in due_claims(owner=owner, now=now, limit=limit,
                            channels=worker_channels() if channels is None else channels):
        handled += claim_process(claim, now=now)
    return handled
