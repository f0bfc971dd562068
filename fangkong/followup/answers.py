"""Recording answers, whatever channel brought them, and raising the alerts they call for.

Every channel ends here: the web form, an SMS reply, the robot call, a worker's door visit
and the simulated population. Answers are checked against the contact's questionnaire
version before anything is stored, so a wrong value is never kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.db import transaction

from fangkong.followup.models import (
    Alert,
    AlertEvent,
    AlertKind,
    Contact,
    ContactState,
    QuestionnaireVersion,
)
from fangkong.followup.questions import Kind, Spec, parse_spec
from fangkong.followup.rules import Finding, evaluate, highest, parse_rules
from fangkong.lib import clock
from fangkong.lib.bulk import bulk_update


@lru_cache(maxsize=256)
def spec_of(version_id: int) -> Spec:
    """The parsed spec of a questionnaire version (versions never change: safe to cache)."""
    return parse_spec(QuestionnaireVersion.objects.get(pk=version_id).spec)


@lru_cache(maxsize=256)
def rules_of(version_id: int) -> tuple:
    spec = spec_of(version_id)
    return tuple(parse_rules(list(spec.rules), {q.key: q for q in spec.questions}))


def encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value


def decode_answers(stored: dict[str, Any], spec: Spec) -> dict[str, Any]:
    """{key: [json value, channel]} as stored -> {key: normalised value}."""
    values: dict[str, Any] = {}
    for key, pair in stored.items():
        value = pair[0] if isinstance(pair, list) else pair
        try:
            question = spec.question(key)
        except KeyError:
            continue
        if question.kind in (Kind.TEMPERATURE, Kind.NUMBER) and value is not None:
            value = Decimal(str(value))
        values[key] = value
    return values


def checked(spec: Spec, given: dict[str, Any]) -> dict[str, Any]:
    """Normalise and check each answer; ValueError(key, reason) for the first bad one."""
    values = {}
    for key, value in given.items():
        question = spec.question(key)  # KeyError for a question that does not exist
        try:
            values[key] = question.check(value)
        except ValueError as exc:
            raise AnswerError(key, str(exc)) from exc
    return values


class AnswerError(ValueError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


def merge(contact: Contact, spec: Spec, new: dict[str, Any], channel: str) -> dict[str, Any]:
    """The stored answers with `new` applied (a later answer to the same question wins),
    and the answers of questions that no longer apply dropped."""
    stored = dict(contact.answers)
    for key, value in new.items():
        stored[key] = [encode(value), channel]
    keep = spec.clean(decode_answers(stored, spec))
    return {k: v for k, v in stored.items() if k in keep}


def history_for(contacts: list[Contact], *, rounds: int) -> dict[int, list[dict[str, Any]]]:
    """Each resident's answers in the campaign's earlier rounds, oldest first."""
    if not contacts or rounds <= 1:
        return {}
    first = contacts[0]
    campaign_id = first.round.campaign_id
    earlier = (Contact.objects
               .filter(round__campaign_id=campaign_id,
                       resident_id__in=[c.resident_id for c in contacts],
                       round__scheduled_for__lt=first.round.scheduled_for)
               .exclude(answers={})
               .order_by("resident_id", "-round__scheduled_for")
               .values_list("resident_id", "answers"))
    spec = spec_of(first.round.campaign.version_id)
    found: dict[int, list[dict[str, Any]]] = {}
    for resident_id, answers in earlier:
        past = found.setdefault(resident_id, [])
        if len(past) < rounds - 1:
            past.append(decode_answers(answers, spec))
    return {r: list(reversed(p)) for r, p in found.items()}


def contacts_answer(items: list[tuple[Contact, dict[str, Any], str]], *,
                    now: datetime | None = None, proxied: set[int] = frozenset()) -> list[Alert]:
    """Record answers for several contacts of one round: [(contact, checked answers,
    channel)]; `proxied` holds the contacts a proxy answered for. A contact whose applicable questions are all answered becomes answered,
    its rules are evaluated and alerts are raised. Call inside a transaction; saves the
    contacts (update_fields) and returns the alerts created."""
    if not items:
        return []
    now = now or clock.now()
    round_ = items[0][0].round
    spec = spec_of(round_.campaign.version_id)
    rules = list(rules_of(round_.campaign.version_id))
    depth = max((r.rounds for r in rules if r.kind == "rising"), default=0)
    history = history_for([c for c, _, _ in items], rounds=depth) if depth else {}
    questions = {q.key: q for q in spec.questions}
    alerts: list[Alert] = []
    for contact, given, channel in items:
        contact.answers = merge(contact, spec, given, channel)
        values = decode_answers(contact.answers, spec)
        # answered_at, not the state: the dispatcher has already set the state of a contact
        # its channel reported as answered, and it still needs its channel and time stamped.
        if spec.complete(values, channel=channel) and contact.answered_at is None:
            contact.state = ContactState.ANSWERED
            contact.answered_via = channel
            contact.answered_at = now
            contact.answered_by_proxy = contact.pk in proxied
            contact.due_at = None
            contact.lease_owner, contact.lease_until = "", None
        if contact.state == ContactState.ANSWERED:
            findings = evaluate(rules, values, history=history.get(contact.resident_id, []),
                                questions=questions)
            top = highest(findings)
            contact.severity = str(top) if top else ""
            alerts += [_alert_for(contact, f, now, round_.campaign_id) for f in findings]
    # Every field a contact's answer can change, for all of them at once (the values of
    # the fields an item did not change are the ones it was read with).
    bulk_update(Contact, [c for c, _g, _ch in items],
                ["answers", "state", "answered_via", "answered_at", "answered_by_proxy",
                 "due_at", "lease_owner", "lease_until", "severity"])
    return alerts_store(alerts, now=now)


def _alert_for(contact: Contact, finding: Finding, now: datetime, campaign_id: int) -> Alert:
    alert = Alert(resident_id=contact.resident_id, kind=AlertKind.RULE, campaign_id=campaign_id,
                  contact=contact, rule_key=finding.rule_key, severity=str(finding.severity),
                  title=finding.title[:60], reason=finding.reason[:200],
                  assigned_area_id=contact.grid_id,
                  deadline_minutes=finding.deadline_minutes,
                  due_at=now + timedelta(minutes=finding.deadline_minutes), created_at=now)
    alert.copy_scope_from(contact)
    return alert


def alerts_store(alerts: list[Alert], *, now: datetime) -> list[Alert]:
    """Save new alerts, skipping one already open for the same contact and rule."""
    if not alerts:
        return []
    open_keys = set(Alert.objects.filter(
        contact_id__in=[a.contact_id for a in alerts if a.contact_id], status="open")
        .values_list("contact_id", "rule_key"))
    fresh = [a for a in alerts if (a.contact_id, a.rule_key) not in open_keys]
    with transaction.atomic():
        Alert.objects.bulk_create(fresh)
        AlertEvent.objects.bulk_create(
            [AlertEvent(alert=a, what="raised", detail=a.reason[:200], at=now) for a in fresh])
    return fresh
