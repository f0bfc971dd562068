"""The SMS channel end to end against the fake gateway, a real HTTP server speaking the
gateway's protocol: the dispatcher texts residents through it, and its signed webhooks
(replies, delivery reports) come back through the Django test client. Everything between
is the real code on the real database, on a pinned clock."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from fangkong.followup.answers import spec_of
from fangkong.followup.channels import registry
from fangkong.followup.channels.base import Batch, Result
from fangkong.followup.channels.sms.inbound import reply_client_id
from fangkong.followup.channels.sms.texts import (
    MAX_SMS_CHARS,
    opted_out_text,
    reask_text,
    thanks_text,
)
from fangkong.followup.channels.web.links import contact_link
from fangkong.followup.dispatch import dispatch_pass
from fangkong.followup.models import (
    Alert,
    Attempt,
    Campaign,
    Contact,
    ContactState,
    Outcome,
    Questionnaire,
    QuestionnaireVersion,
    Round,
    SmsInbound,
    SmsOptOut,
)
from fangkong.followup.rounds import rounds_schedule
from fangkong.followup.understand import sms_short_form
from fangkong.lib import clock
from fangkong.lib.crypto import unseal
from fangkong.residents.models import PhoneKind, Resident, ResidentStatus, Tag
from fangkong.residents.personal import PHONE, phone_index
from fangkong.residents.services import proxy_add
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.followup.conftest import TUESDAY, at, make_campaign

pytestmark = pytest.mark.django_db

ACCOUNT, SECRET, SIGN = "fangkong-test", "gateway-secret", "【某某社区】"
PROXY_PHONE = "13912345678"
TAG = "sms_channel_test"
SMS_ONLY = [{"channel": "sms", "at": 0}]
# Two questions by SMS: "2" is a complete answer, "1" asks for the temperature too.
FEVER_ONLY = {
    "questions": [
        {"key": "fever", "kind": "yes_no", "label": "今天有没有发热？", "sms": "发热?(1有2没有)"},
        {"key": "temperature", "kind": "temperature", "label": "体温（°C）", "sms": "体温",
         "when": {"fever": True}},
    ],
    "rules": [{"key": "fever", "kind": "threshold", "question": "temperature", "op": ">=",
               "value": "37.3", "severity": "high", "title": "发热", "deadline_minutes": 120}],
}


@pytest.fixture
def gw() -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway(account=ACCOUNT, secret=SECRET) as fake, override_settings(
            SMS_GATEWAY_URL=fake.url, SMS_ACCOUNT=ACCOUNT, SMS_SECRET=SECRET, SMS_SIGN=SIGN,
            PUBLIC_URL="https://fk.example.cn"):
        registry.reset()
        yield fake
    registry.reset()


@pytest.fixture
def residents(community) -> list[tuple[Resident, str]]:  # noqa: ANN001
    """Three residents of the community with a mobile of their own, tagged as the target,
    with their clear numbers."""
    tag, _ = Tag.objects.get_or_create(slug=TAG, defaults={"name": TAG})
    chosen = list(Resident.objects.filter(community=community, status=ResidentStatus.ACTIVE,
                                          proxies__isnull=True, phone_kind=PhoneKind.MOBILE)
                  .order_by("pk")[:3])
    tag.residents.add(*chosen)
    return [(r, unseal(bytes(r.phone_sealed), purpose=PHONE)) for r in chosen]


def fever_version() -> QuestionnaireVersion:
    questionnaire = Questionnaire.objects.create(name="发热筛查")
    return QuestionnaireVersion.objects.create(questionnaire=questionnaire, number=1,
                                               spec=FEVER_ONLY)


def campaign_for(secretary, community, *, plan=SMS_ONLY, **overrides) -> Campaign:  # noqa: ANN001
    return make_campaign(secretary, community, plan=plan, target={"tags": [TAG]}, **overrides)


def run(moment) -> None:  # noqa: ANN001
    """Move the clock to `moment`, open and close rounds, and dispatch what is due."""
    clock.set(moment)
    rounds_schedule(now=moment)
    while dispatch_pass(owner="w1", now=moment, limit=10000):
        pass


def contact_of(resident: Resident, day=None) -> Contact:  # noqa: ANN001
    day = day or at(9, 0).date()
    return Contact.objects.get(resident=resident, round__scheduled_for__date=day)


def post(body: bytes, headers: dict[str, str], *, report: bool = False):  # noqa: ANN201
    """POST a webhook the way the gateway does (through the Django test client)."""
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    url = reverse("followup:sms_report" if report else "followup:sms_inbound")
    return Client().post(url, data=body, content_type="application/json", headers=headers)


def reply(gw: FakeSmsGateway, phone: str, text: str) -> tuple[int, list[str]]:
    """The resident texts `text`; returns the status and the texts sent back to them."""
    before = len(gw.sent)
    response = post(*gw.inbound_body(phone, text))
    return response.status_code, [s.text for s in gw.sent[before:] if s.to == phone]


def as_sent(text: Callable[..., str], *args: Any) -> str:
    """What `text(*args)` says to residents: in the installation's language, as the SMS
    webhook answers whatever language the test runs in."""
    with translation.override(settings.LANGUAGE_CODE):
        return text(*args)


# --- sending ----------------------------------------------------------------------------

def test_an_sms_step_texts_each_resident_once_and_a_proxy_once_for_all_she_looks_after(
        community_secretary, community, grid_worker, residents, gw, pinned_clock):
    (mother, _), (father, _), (neighbour, neighbour_phone) = residents
    for resident in (mother, father):
        proxy_add(by=grid_worker, resident=resident, name="王芳", relation="女儿",
                  phone=PROXY_PHONE)
    campaign = campaign_for(community_secretary, community)

    run(at(9, 0))

    texts = {sms.to: sms for sms in gw.sent}
    assert sorted(texts) == sorted([PROXY_PHONE, neighbour_phone])
    questions = sms_short_form(spec_of(campaign.version_id))
    lead = min(contact_of(mother).pk, contact_of(father).pk)
    for phone, contact in ((PROXY_PHONE, lead), (neighbour_phone, contact_of(neighbour).pk)):
        sms = texts[phone]
        assert sms.sign == SIGN and len(sms.text) <= MAX_SMS_CHARS
        assert questions in sms.text and contact_link(contact) in sms.text
        assert campaign.purpose in sms.text
        # Nothing personal: no name, no number, no ID in the message.
        for resident in (mother, father, neighbour):
            assert resident.name not in sms.text and resident.phone_last4 not in sms.text
    for_several = as_sent(gettext, "One reply answers for everyone you look after. ")
    assert for_several in texts[PROXY_PHONE].text
    assert for_several not in texts[neighbour_phone].text
    attempts = Attempt.objects.filter(contact__round__campaign=campaign)
    assert {a.outcome for a in attempts} == {Outcome.DELIVERED}
    assert {a.provider_id for a in attempts} == {s.message_id for s in gw.sent}


def test_a_web_step_texts_the_link_only(community_secretary, community, residents, gw,
                                        pinned_clock):
    campaign = campaign_for(community_secretary, community, plan=[{"channel": "web", "at": 0}])

    run(at(9, 0))

    assert len(gw.sent) == 3
    (resident, phone), *_ = residents
    [sms] = [s for s in gw.sent if s.to == phone]
    assert contact_link(contact_of(resident).pk) in sms.text
    assert sms_short_form(spec_of(campaign.version_id)) not in sms.text


def test_a_long_purpose_is_shortened_to_keep_the_message_one_long_sms(
        community_secretary, community, residents, gw, pinned_clock):
    campaign = campaign_for(community_secretary, community, purpose="请如实填写" * 60)

    run(at(9, 0))

    (resident, phone), *_ = residents
    [sms] = [s for s in gw.sent if s.to == phone]
    assert len(sms.text) == MAX_SMS_CHARS and "…" in sms.text
    assert sms_short_form(spec_of(campaign.version_id)) in sms.text
    assert sms.text.endswith(contact_link(contact_of(resident).pk))


class SendsThenDies:
    """The real transport, with the worker killed after the gateway took the batch and
    before the outcome was recorded."""

    def __init__(self, real) -> None:  # noqa: ANN001
        self.real = real
        self.needs_phone = True

    def send(self, batch: Batch) -> list[Result]:
        self.real.send(batch)
        raise RuntimeError("worker killed")


def test_an_attempt_sent_again_under_its_key_reaches_the_resident_once(
        community_secretary, community, residents, gw, pinned_clock, caplog):
    campaign = campaign_for(community_secretary, community)
    rounds_schedule(now=at(9, 0))
    with registry.override("sms", SendsThenDies(registry.transport_for("sms"))):
        assert dispatch_pass(owner="w1", now=at(9, 0)) == 0
    assert "worker killed" in caplog.text  # logged; the other channels went on
    first = {s.client_id: s.message_id for s in gw.sent}
    assert len(first) == 3
    assert {a.outcome for a in Attempt.objects.all()} == {Outcome.SENDING}

    # Another worker takes the contacts over once the dead one's lease has run out.
    later = at(9, 0) + timedelta(seconds=settings.FOLLOWUP_LEASE_SECONDS + 1)
    while dispatch_pass(owner="w2", now=later):
        pass

    assert len(gw.sent) == 3  # the gateway answered the same keys with the first result
    attempts = Attempt.objects.filter(contact__round__campaign=campaign)
    assert {a.key: a.provider_id for a in attempts} == first
    assert {a.outcome for a in attempts} == {Outcome.DELIVERED}


def test_refused_credentials_leave_the_attempts_to_be_sent_later_under_the_same_keys(
        community_secretary, community, residents, gw, pinned_clock, caplog):
    campaign_for(community_secretary, community)
    rounds_schedule(now=at(9, 0))
    with override_settings(SMS_SECRET="wrong"):
        registry.reset()
        assert dispatch_pass(owner="w1", now=at(9, 0)) == 0
        assert "GatewayAuthError" in caplog.text
    registry.reset()
    assert gw.sent == []
    keys = set(Attempt.objects.values_list("key", flat=True))
    assert len(keys) == 3 and {a.outcome for a in Attempt.objects.all()} == {Outcome.SENDING}
    assert dispatch_pass(owner="w1", now=at(9, 1)) == 0  # still leased

    later = at(9, 0) + timedelta(seconds=settings.FOLLOWUP_LEASE_SECONDS + 1)
    while dispatch_pass(owner="w1", now=later):
        pass

    assert {s.client_id for s in gw.sent} == keys
    assert Attempt.objects.count() == 3


def test_an_invalid_number_falls_back_to_the_next_step(
        community_secretary, community, residents, gw, pinned_clock):
    (dead, dead_phone), (alive, _), _ = residents
    gw.invalid_numbers.add(dead_phone)
    campaign_for(community_secretary, community,
                 plan=[{"channel": "sms", "at": 0},
                       {"channel": "voice", "at": 30}, {"channel": "visit", "at": 60}])

    run(at(9, 0))

    contact = contact_of(dead)
    assert contact.attempts.get().outcome == Outcome.INVALID_NUMBER
    # A dead number is not called either: straight to the door-visit list.
    assert (contact.state, contact.step, contact.due_at) == (ContactState.PENDING, 2, None)
    assert contact_of(alive).step == 1
    assert dead_phone not in {s.to for s in gw.sent}


# --- replies ----------------------------------------------------------------------------

def test_a_reply_2_answers_the_contact_and_is_thanked(
        community_secretary, community, residents, gw, pinned_clock):
    campaign_for(community_secretary, community, version=fever_version())
    run(at(9, 0))
    (resident, phone), *_ = residents
    clock.set(at(9, 20))

    status, answers = reply(gw, phone, "2")

    assert status == 200
    contact = contact_of(resident)
    assert contact.state == ContactState.ANSWERED and contact.answered_via == "sms"
    assert contact.answers == {"fever": [False, "sms"]} and not contact.answered_by_proxy
    assert answers == [as_sent(thanks_text)]
    assert not Alert.objects.filter(contact=contact).exists()


def test_a_reply_with_a_fever_raises_the_alert(
        community_secretary, community, residents, gw, pinned_clock):
    campaign_for(community_secretary, community, version=fever_version())
    run(at(9, 0))
    (resident, phone), *_ = residents

    assert reply(gw, phone, "1 38.5")[0] == 200

    contact = contact_of(resident)
    assert contact.state == ContactState.ANSWERED and contact.severity == "high"
    alert = Alert.objects.get(contact=contact, rule_key="fever")
    assert alert.assigned_area_id == contact.grid_id


def test_an_incomplete_reply_is_asked_again_and_its_rest_completes_it(
        community_secretary, community, residents, gw, pinned_clock):
    campaign_for(community_secretary, community, version=fever_version())
    run(at(9, 0))
    (resident, phone), *_ = residents

    status, answers = reply(gw, phone, "1")

    assert status == 200
    contact = contact_of(resident)
    assert contact.state == ContactState.PENDING and contact.answers == {"fever": [True, "sms"]}
    [reask] = answers
    assert "体温" in reask and as_sent(reask_text, []) in reask
    assert SmsInbound.objects.get().outcome == "partial"

    # The rest alone is read in the context of the first reply.
    reply(gw, phone, "38.2")
    contact.refresh_from_db()
    assert contact.state == ContactState.ANSWERED and contact.answers["temperature"][0] == "38.2"


def test_a_proxy_s_reply_answers_for_everyone_she_looks_after(
        community_secretary, community, grid_worker, residents, gw, pinned_clock):
    (mother, _), (father, _), (neighbour, _) = residents
    for resident in (mother, father):
        proxy_add(by=grid_worker, resident=resident, name="王芳", relation="女儿",
                  phone=PROXY_PHONE)
    campaign_for(community_secretary, community)  # the daily health questions
    run(at(9, 0))

    status, answers = reply(gw, PROXY_PHONE, "2 2")

    assert status == 200 and len(answers) == 1
    for resident in (mother, father):
        contact = contact_of(resident)
        assert (contact.state, contact.answered_via, contact.answered_by_proxy) == (
            ContactState.ANSWERED, "sms", True)
    assert contact_of(neighbour).state == ContactState.PENDING


def test_help_is_answered_with_the_questions_and_the_link(
        community_secretary, community, residents, gw, pinned_clock):
    campaign = campaign_for(community_secretary, community)
    run(at(9, 0))
    (resident, phone), *_ = residents

    [answer] = reply(gw, phone, "?")[1]

    assert sms_short_form(spec_of(campaign.version_id)) in answer
    assert contact_link(contact_of(resident).pk) in answer
    assert contact_of(resident).state == ContactState.PENDING


def test_td_opts_out_and_the_next_round_does_not_text_them(
        community_secretary, community, residents, gw, pinned_clock):
    campaign_for(community_secretary, community)
    run(at(9, 0))
    (leaver, phone), (stayer, stayer_phone), _ = residents

    status, answers = reply(gw, phone, "TD")

    assert status == 200 and answers == [as_sent(opted_out_text)]
    assert contact_of(leaver).state == ContactState.OPTED_OUT
    opt_out = SmsOptOut.objects.get()
    assert opt_out.phone_index == phone_index(phone)

    before = len(gw.sent)
    run(at(9, 0, TUESDAY))

    assert {s.to for s in gw.sent[before:]} == {stayer_phone, residents[2][1]}
    tuesday = contact_of(leaver, TUESDAY)
    assert tuesday.attempts.get().outcome == Outcome.OPTED_OUT
    assert tuesday.state == ContactState.OPTED_OUT
    assert contact_of(stayer, TUESDAY).attempts.get().outcome == Outcome.DELIVERED


def test_a_reply_from_an_unknown_number_stores_nothing(
        community_secretary, community, residents, gw, pinned_clock, caplog):
    campaign_for(community_secretary, community)
    run(at(9, 0))
    before = len(gw.sent)

    with caplog.at_level(logging.INFO, logger="fangkong.followup.sms"):
        assert post(*gw.inbound_body("13000000001", "TD")).status_code == 200

    assert not SmsInbound.objects.exists() and not SmsOptOut.objects.exists()
    assert len(gw.sent) == before
    assert "not in the registry" in caplog.text and "13000000001" not in caplog.text


@pytest.mark.parametrize("forge", ["wrong secret", "missing signature", "tampered body",
                                   "replayed nonce"])
def test_a_webhook_without_a_good_signature_is_refused_and_changes_nothing(
        community_secretary, community, residents, gw, pinned_clock, caplog, forge):
    campaign_for(community_secretary, community, version=fever_version())
    run(at(9, 0))
    (resident, phone), *_ = residents
    body, headers = gw.inbound_body(phone, "1 38.5")
    if forge == "wrong secret":
        forger = FakeSmsGateway(account=ACCOUNT, secret="guessed")
        headers = forger.signed_headers(body)
    elif forge == "missing signature":
        headers = {k: v for k, v in headers.items() if k != "X-Signature"}
    elif forge == "tampered body":
        body = body.replace(b"38.5", b"36.5")
    else:
        assert post(body, headers).status_code == 200
        SmsInbound.objects.all().delete()
        Contact.objects.filter(pk=contact_of(resident).pk).update(
            state=ContactState.PENDING, answers={}, answered_at=None)
    sent = len(gw.sent)

    with caplog.at_level(logging.WARNING, logger="fangkong.followup.sms"):
        response = post(body, headers)

    assert response.status_code == 401
    assert not SmsInbound.objects.exists()
    assert contact_of(resident).state == ContactState.PENDING
    assert len(gw.sent) == sent
    assert "refused" in caplog.text and "127.0.0.1" in caplog.text


def test_the_same_reply_delivered_twice_is_answered_once(
        community_secretary, community, residents, gw, pinned_clock):
    campaign_for(community_secretary, community, version=fever_version())
    run(at(9, 0))
    (resident, phone), *_ = residents
    body, headers = gw.inbound_body(phone, "1 38.5")

    assert post(body, headers).status_code == 200
    # The gateway delivers it again, signed afresh.
    assert post(body, gw.signed_headers(body)).status_code == 200

    inbound = SmsInbound.objects.get()
    replies = [s for s in gw.sent if s.to == phone and s.client_id.startswith("re-")]
    assert len(replies) == 1
    assert replies[0].client_id == reply_client_id(inbound.message_id)
    assert Alert.objects.filter(contact=contact_of(resident)).count() == 1


def test_a_reply_the_gateway_could_not_take_goes_out_when_the_webhook_comes_again(
        community_secretary, community, residents, gw, pinned_clock):
    campaign_for(community_secretary, community, version=fever_version())
    run(at(9, 0))
    (resident, phone), *_ = residents
    body, headers = gw.inbound_body(phone, "2")
    gw.fail_next(1)

    assert post(body, headers).status_code == 503
    assert contact_of(resident).state == ContactState.ANSWERED  # the answer is kept
    assert post(body, gw.signed_headers(body)).status_code == 200

    assert len([s for s in gw.sent if s.to == phone and s.client_id.startswith("re-")]) == 1
    assert SmsInbound.objects.get().replied_at is not None


# --- delivery reports -------------------------------------------------------------------

def test_a_failed_delivery_report_moves_the_contact_on(
        community_secretary, community, residents, gw, pinned_clock):
    campaign_for(community_secretary, community,
                 plan=[{"channel": "sms", "at": 0, "retries": 1, "spacing": 30},
                       {"channel": "visit", "at": 300}])
    run(at(9, 0))
    (failed, phone), (delivered, _), _ = residents
    assert contact_of(failed).step == 1  # delivered: waiting for an answer or the visit
    by_phone = {s.to: s.message_id for s in gw.sent}
    clock.set(at(9, 5))

    assert post(*gw.report_body(by_phone[phone], status="failed", error_code="UNDELIV"),
                report=True).status_code == 200
    others = [m for p, m in by_phone.items() if p != phone]
    assert post(*gw.report_body(*others), report=True).status_code == 200

    contact = contact_of(failed)
    assert (contact.step, contact.tries, contact.due_at) == (0, 1, at(9, 35))
    assert contact.attempts.get().outcome == Outcome.FAILED
    assert contact_of(delivered).attempts.get().outcome == Outcome.DELIVERED
    assert contact_of(delivered).step == 1
    run(at(9, 35))
    assert [s.to for s in gw.sent].count(phone) == 2  # the second try, under a new key

    # The same report again changes nothing.
    assert post(*gw.report_body(by_phone[phone], status="failed"),
                report=True).status_code == 200
    assert contact_of(failed).attempts.count() == 2


def test_a_report_with_a_bad_signature_is_refused(
        community_secretary, community, residents, gw, pinned_clock):
    campaign_for(community_secretary, community)
    run(at(9, 0))
    body, headers = gw.report_body(gw.sent[0].message_id, status="failed")

    assert post(body, {**headers, "X-Signature": "0" * 64}, report=True).status_code == 401

    assert {a.outcome for a in Attempt.objects.all()} == {Outcome.DELIVERED}
    assert not Round.objects.get().contacts.filter(step=0).exists()


def test_the_end_of_an_isolation_period_is_told_to_the_resident_once(
        community_secretary, residents, gw):  # noqa: ANN001
    from datetime import date

    from fangkong.followup.models import Alert
    from fangkong.isolation.services import isolation_expire, isolation_start

    resident, number = residents[0]
    period = isolation_start(resident=resident, kind="isolation", starts_on=date(2026, 11, 1),
                             reason="密切接触者", by=community_secretary)
    assert isolation_expire(today=date(2026, 11, 20)) == 1
    assert isolation_expire(today=date(2026, 11, 21)) == 0
    assert [s.to for s in gw.sent] == [number]
    assert "2026-11-14" in gw.sent[0].text
    notice = Alert.objects.get(resident=resident, kind="notice")
    from fangkong.isolation.services import _told

    assert _told("sent") in notice.reason and notice.grid_id == resident.grid_id
    assert period.pk
