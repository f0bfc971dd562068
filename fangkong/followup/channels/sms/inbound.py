"""What the SMS gateway posts back: residents' replies and delivery reports. The services
behind the webhooks of fangkong.followup.channels.sms.views.

A reply is matched by the sender's blind index (a resident's phone, or a proxy's) to the
pending contacts of the open round that last texted that number. When a proxy looks after
several residents, one reply answers for all of them in that round: the message asked
"one reply answers for everyone you look after", and the dispatcher sends the proxy one
message for all of them. A reply is processed once per gateway message id
(`SmsInbound`), and our answer goes out under a client id derived from that id, so a
webhook delivered twice stores one answer and sends one reply.

A message that starts with an errand keyword (代购, 买药, 垃圾, 维修, 帮忙 ...) is a request
for an errand, not an answer: it goes to fangkong.errands.sms_intake first.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from fangkong.errands.sms_intake import errand_ask_read, sms_errand_intake
from fangkong.followup.answers import contacts_answer, decode_answers, spec_of
from fangkong.followup.channels.sms.gateway import DeliveryReport, InboundSms, OutgoingSms
from fangkong.followup.channels.sms.texts import (
    form_text,
    idle_help_text,
    opted_out_text,
    questions_text,
    reask_text,
    reply_read,
    thanks_text,
)
from fangkong.followup.channels.sms.transport import gateway_client
from fangkong.followup.channels.web.links import contact_link
from fangkong.followup.models import (
    Attempt,
    Contact,
    ContactState,
    Outcome,
    Round,
    RoundStatus,
    SmsInbound,
    SmsInboundOutcome,
    SmsOptOut,
)
from fangkong.followup.plan import after_outcome, parse_plan
from fangkong.followup.questions import Spec
from fangkong.followup.understand import parse_sms_reply
from fangkong.lib.phone import mask_phone
from fangkong.residents.models import Proxy, Resident
from fangkong.residents.personal import phone_index

log = logging.getLogger("fangkong.followup.sms")

TEXT_CHANNELS = ("web", "sms")
# Re-asks per phone and round: an auto-responder cannot start an endless exchange.
MAX_REASKS = 3
_NO_QUESTIONS = Spec(questions=())  # reads TD and ? when no round is waiting
_CONTACT_MOVES = ["state", "step", "tries", "due_at", "lease_owner", "lease_until"]
ERRAND_OUTCOME = SmsInboundOutcome.ERRAND


@dataclass(frozen=True)
class Reply:
    inbound_id: int
    client_id: str
    to: str
    text: str


class ReportNotYetRecorded(Exception):
    """The report is about a send the dispatcher has not recorded yet: try again later."""


def reply_client_id(message_id: str) -> str:
    """The gateway client id of our answer to an inbound message (the same every time)."""
    return "re-" + hashlib.sha256(message_id.encode()).hexdigest()[:40]


def _message_key(message_id: str) -> str:
    if len(message_id) <= 64:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()[:57]


def _unsent(seen: SmsInbound, message: InboundSms) -> Reply | None:
    if not seen.reply or seen.replied_at is not None:
        return None
    return Reply(seen.pk, reply_client_id(message.message_id), message.sender, seen.reply)


def sms_inbound_receive(message: InboundSms, *, now: datetime) -> Reply | None:
    """Record one reply (answers, opt-out, help) once per message id, and return our
    answer to send (None: nothing to send). A message seen before changes nothing; its
    answer is returned again only if it was never handed to the gateway. A number that
    is neither a resident's nor a proxy's is logged and nothing is stored (a request for
    an errand from it gets a polite reply)."""
    key = _message_key(message.message_id)
    index = phone_index(message.sender)
    try:
        with transaction.atomic():
            seen = SmsInbound.objects.select_for_update().filter(message_id=key).first()
            if seen is not None:
                return _unsent(seen, message)
            # A request for an errand (代购, 买药, 垃圾, 维修, 帮忙 ...; never one character,
            # which answers to the questions start with: "药够", "药快吃完了") goes to the
            # errands before any questionnaire reads it; recorded here, so it is taken once.
            ask = errand_ask_read(message.text)
            if ask is not None:
                intake = sms_errand_intake(ask, index=index, now=now)
                if not intake.known:
                    # Nothing is stored and nothing is sent for an unknown number: a reply
                    # to every stranger who texts a keyword would be a paid spam route.
                    log.info("errand SMS from %s, a number not in the registry",
                             mask_phone(message.sender))
                    return None
                inbound = SmsInbound.objects.create(
                    message_id=key, phone_index=index, received_at=now,
                    outcome=ERRAND_OUTCOME, reply=intake.reply)
                return Reply(inbound.pk, reply_client_id(message.message_id),
                             message.sender, inbound.reply)
            if not (Resident.objects.filter(phone_index=index).exists()
                    or Proxy.objects.filter(phone_index=index).exists()):
                log.info("SMS from %s, a number not in the registry: ignored",
                         mask_phone(message.sender))
                return None
            inbound = _process(message, index, key, now)
    except IntegrityError:  # the same message delivered twice at the same moment
        return _unsent(SmsInbound.objects.get(message_id=key), message)
    if not inbound.reply:
        return None
    return Reply(inbound.pk, reply_client_id(message.message_id), message.sender, inbound.reply)


def _waiting_contacts(index: str, now: datetime) -> list[Contact]:
    """The pending contacts of this phone in the open round that last texted it."""
    pending = Contact.objects.filter(Q(proxy_index=index) | Q(resident__phone_index=index),
                                     state=ContactState.PENDING, round__status=RoundStatus.OPEN,
                                     round__closes_at__gt=now)
    round_id = (Attempt.objects.filter(contact__in=pending, channel__in=TEXT_CHANNELS)
                .exclude(provider_id="").order_by("-started_at", "-pk")
                .values_list("contact__round_id", flat=True).first())
    if round_id is None:
        return []
    return list(pending.filter(round_id=round_id).select_for_update(of=("self",))
                .select_related("round__campaign__area").order_by("pk"))


def _process(message: InboundSms, index: str, key: str, now: datetime) -> SmsInbound:
    contacts = _waiting_contacts(index, now)
    if not contacts:
        said = parse_sms_reply(_NO_QUESTIONS, message.text)
        if said.opt_out:
            outcome, reply = SmsInboundOutcome.OPTED_OUT, opted_out_text()
            _opt_out(index, key, now, [])
        elif said.help:
            outcome, reply = SmsInboundOutcome.HELP, idle_help_text()
        else:
            outcome, reply = SmsInboundOutcome.NOTHING_OPEN, ""
        return SmsInbound.objects.create(message_id=key, phone_index=index, received_at=now,
                                         outcome=outcome, reply=reply)
    lead = contacts[0]
    campaign = lead.round.campaign
    spec = spec_of(campaign.version_id)
    link = contact_link(lead.pk)
    said = reply_read(spec, message.text, decode_answers(lead.answers, spec))
    if said.opt_out:
        outcome, reply = SmsInboundOutcome.OPTED_OUT, opted_out_text()
        _opt_out(index, key, now, contacts)
    elif said.help:
        # The greeting the dispatcher sends: the community and the campaign's purpose.
        outcome, reply = SmsInboundOutcome.HELP, questions_text(
            greeting=f"{campaign.area.name}: {campaign.purpose}", spec=spec, link=link,
            for_several=len(contacts) > 1)
    else:
        if said.answers:
            contacts_answer([(c, said.answers, "sms") for c in contacts], now=now,
                            proxied={c.pk for c in contacts if c.proxy_index == index})
        if all(c.state == ContactState.ANSWERED for c in contacts):
            outcome, reply = SmsInboundOutcome.ANSWERED, thanks_text()
        else:
            outcome = SmsInboundOutcome.PARTIAL if said.answers else SmsInboundOutcome.REASKED
            reply = reask_text(said.problems) if said.problems else form_text(link)
            if _reasks(index, lead.round) >= MAX_REASKS:
                log.info("SMS reply %s not understood again: no further re-ask", key)
                reply = ""
    return SmsInbound.objects.create(message_id=key, phone_index=index, received_at=now,
                                     outcome=outcome, text=message.text[:200], reply=reply)


def _reasks(index: str, round_: Round) -> int:
    return SmsInbound.objects.filter(
        phone_index=index, received_at__gte=round_.scheduled_for,
        outcome__in=[SmsInboundOutcome.PARTIAL, SmsInboundOutcome.REASKED]).count()


def _opt_out(index: str, key: str, now: datetime, contacts: list[Contact]) -> None:
    """Remember the opt-out for later rounds and take these contacts off the phone
    channels of this one; a door visit still happens (refusing messages is not refusing
    the grid worker), as the plan does for an "opted_out" outcome."""
    SmsOptOut.objects.get_or_create(phone_index=index,
                                    defaults={"at": now, "source_message_id": key})
    if not contacts:
        return
    round_ = contacts[0].round
    campaign = round_.campaign
    plan = parse_plan(campaign.plan, round_minutes=campaign.round_minutes)
    for contact in contacts:
        if contact.step < len(plan) and plan[contact.step].channel == "visit":
            continue
        if contact.step >= len(plan):
            contact.state, contact.due_at = ContactState.OPTED_OUT, None
        else:
            nxt = after_outcome(plan, step=contact.step, tries=contact.tries,
                                outcome=Outcome.OPTED_OUT, now=now,
                                opened=round_.scheduled_for, closes=round_.closes_at)
            contact.state, contact.step, contact.tries, contact.due_at = (
                nxt.state, nxt.step, nxt.tries, nxt.due_at)
        contact.lease_owner, contact.lease_until = "", None
        contact.save(update_fields=_CONTACT_MOVES)


def sms_replies_send(replies: list[Reply], *, now: datetime) -> int:
    """Hand our answers to the gateway and note those it took; returns how many it did
    not take now (outage, rate limit: the webhook is refused so that the gateway delivers
    it again, and the same answer goes out then under the same client id). Raises
    GatewayAuthError, and ValueError when no gateway is configured."""
    if not replies:
        return 0
    results = gateway_client().send([OutgoingSms(client_id=r.client_id, to=r.to, text=r.text)
                                     for r in replies])
    taken = {s.client_id for s in results if s.status not in ("failed", "throttled")}
    done = [r.inbound_id for r in replies if r.client_id in taken]
    SmsInbound.objects.filter(pk__in=done).update(replied_at=now)
    return len(replies) - len(done)


def sms_report_record(report: DeliveryReport, *, now: datetime) -> str:
    """Record a delivery report on the attempts it is about and return what it did:
    "unknown" (not an attempt: one of our replies), "recorded" or "moved". A "failed" or
    "expired" report marks the attempts failed and moves each contact that still waits
    on that attempt as the plan does after a failure (a retry, or the next channel).
    Idempotent. Raises ReportNotYetRecorded while the send is still being recorded."""
    match = Q(provider_id=report.message_id)
    if report.client_id:
        match |= Q(key=report.client_id)
    attempts = list(Attempt.objects.filter(match, channel__in=TEXT_CHANNELS).order_by("pk"))
    if not attempts:
        return "unknown"
    if any(a.outcome == Outcome.SENDING for a in attempts):
        raise ReportNotYetRecorded(report.message_id)
    delivered = [a for a in attempts if a.outcome == Outcome.DELIVERED]
    if report.status == "delivered":
        Attempt.objects.filter(pk__in=[a.pk for a in delivered]).update(
            detail="report: delivered")
        return "recorded"
    detail = f"report: {report.status} {report.error_code}".strip()[:200]
    moved = 0
    with transaction.atomic():
        for attempt in delivered:
            Attempt.objects.filter(pk=attempt.pk).update(outcome=Outcome.FAILED, detail=detail)
            moved += _after_failure(attempt, now)
    return "moved" if moved else "recorded"


def _after_failure(attempt: Attempt, now: datetime) -> int:
    contact = (Contact.objects.select_for_update(of=("self",))
               .select_related("round__campaign").get(pk=attempt.contact_id))
    round_ = contact.round
    if (contact.state != ContactState.PENDING or round_.status != RoundStatus.OPEN
            or round_.closes_at <= now):
        return 0
    if contact.lease_owner and contact.lease_until and contact.lease_until > now:
        return 0  # a worker is trying the next step right now
    newest = (Attempt.objects.filter(contact=contact).order_by("-step", "-try_number", "-pk")
              .values_list("pk", flat=True).first())
    if newest != attempt.pk:
        return 0  # the contact has been tried again since
    campaign = round_.campaign
    plan = parse_plan(campaign.plan, round_minutes=campaign.round_minutes)
    if attempt.step >= len(plan):
        return 0
    nxt = after_outcome(plan, step=attempt.step, tries=attempt.try_number,
                        outcome=Outcome.FAILED, now=now, opened=round_.scheduled_for,
                        closes=round_.closes_at)
    contact.state, contact.step, contact.tries, contact.due_at = (
        nxt.state, nxt.step, nxt.tries, nxt.due_at)
    contact.lease_owner, contact.lease_until = "", None
    contact.save(update_fields=_CONTACT_MOVES)
    return 1
