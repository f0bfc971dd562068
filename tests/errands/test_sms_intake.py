"""Errands asked for by SMS, end to end: the fake gateway posts a signed inbound message
to the webhook, the intake creates the errand for the resident the phone belongs to (or
the one its proxy looks after), and the reply goes back through the gateway. Messages
without a keyword still reach the follow-up as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation

from fangkong.errands.models import Errand, ErrandKind, Source
from fangkong.errands.resident_links import resident_from_token
from fangkong.errands.sms_intake import SMS_ERRANDS_PER_HOUR, errand_ask_read
from fangkong.followup.channels import registry
from fangkong.followup.channels.sms.inbound import reply_client_id
from fangkong.followup.channels.sms.texts import thanks_text
from fangkong.followup.channels.web.links import contact_link
from fangkong.followup.models import Contact, ContactState, SmsInbound
from fangkong.followup.rounds import round_open
from fangkong.lib import clock
from fangkong.residents.models import Resident, ResidentStatus, Tag
from fangkong.residents.services import proxy_add
from tests.errands import resident_fixtures as fixtures
from tests.errands.resident_fixtures import NOW, ZHANG_PHONE, person
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.followup.conftest import make_campaign

home, pinned, zhang = fixtures.home, fixtures.pinned, fixtures.zhang
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned")]

ACCOUNT, SECRET = "fangkong-test", "gateway-secret"
PUBLIC = "https://fk.example.cn"
DAUGHTER_PHONE = "13955556666"
STRANGER_PHONE = "13000000001"


@pytest.fixture
def gw() -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway(account=ACCOUNT, secret=SECRET) as fake, override_settings(
            SMS_GATEWAY_URL=fake.url, SMS_ACCOUNT=ACCOUNT, SMS_SECRET=SECRET,
            PUBLIC_URL=PUBLIC):
        registry.reset()
        yield fake
    registry.reset()


@pytest.fixture
def wife(community_secretary, home) -> Resident:  # noqa: ANN001
    """王秀英, without a phone of her own, in 张小华's home."""
    return person(community_secretary, home, "王秀英", relation="spouse")


def post(body: bytes, headers: dict[str, str]):  # noqa: ANN201
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return Client().post(reverse("followup:sms_inbound"), data=body,
                         content_type="application/json", headers=headers)


def text(gw: FakeSmsGateway, phone: str, message: str) -> tuple[int, list[str]]:
    """`phone` texts `message`; returns the status and the replies sent back to it."""
    before = len(gw.sent)
    response = post(*gw.inbound_body(phone, message))
    return response.status_code, [s.text for s in gw.sent[before:] if s.to == phone]


def links_in(reply: str) -> list[tuple[int, bool]]:
    """What the resident-page links in a reply open: (resident id, by proxy)."""
    tokens = [word.rstrip("/").rsplit("/", 1)[1] for word in reply.split()
              if word.startswith(PUBLIC + "/errands/r/")]
    return [resident_from_token(token) for token in tokens]


# Reading the keyword ----------------------------------------------------------------------


@pytest.mark.parametrize("message,kind,details", [
    ("代购 大米一袋、鸡蛋10个", ErrandKind.GROCERIES, "大米一袋、鸡蛋10个"),
    ("买菜：青菜两斤", ErrandKind.GROCERIES, "青菜两斤"),
    ("  买药，阿莫西林 0.25g 两盒", ErrandKind.MEDICINE, "阿莫西林 0.25g 两盒"),
    ("垃圾", ErrandKind.GARBAGE, ""),
    ("维修 厨房水管漏水\r\n很急", ErrandKind.REPAIR, "厨房水管漏水\n很急"),
    ("帮忙 取快递", ErrandKind.OTHER, "取快递"),
])
def test_a_keyword_gives_the_kind_and_the_rest_is_the_request(message, kind, details):
    ask = errand_ask_read(message)
    assert (ask.kind, ask.details) == (kind, details)


@pytest.mark.parametrize("message", ["2", "1 38.5", "TD", "?", "是", "不是", "没有发热",
                                     "", "请问代购怎么弄", "药快吃完了", "药够", "修改一下"])
def test_a_message_without_a_leading_keyword_is_not_an_errand(message):
    assert errand_ask_read(message) is None


# Creating the errand ----------------------------------------------------------------------


@pytest.mark.parametrize("message,kind", [("代购 大米一袋", "groceries"), ("买菜 青菜", "groceries"),
                                          ("买药 布洛芬", "medicine"), ("垃圾", "garbage"),
                                          ("维修 水管漏水", "repair"), ("帮忙 取快递", "other")])
def test_a_resident_s_keyword_message_creates_the_errand_and_is_confirmed(
        gw, zhang, message, kind):
    status, replies = text(gw, ZHANG_PHONE, message)

    assert status == 200
    errand = Errand.objects.get(resident=zhang)
    assert (errand.kind, errand.source, errand.created_by) == (kind, Source.SMS, None)
    assert errand.details == errand_ask_read(message).details
    assert errand.events.get().by_resident
    [reply] = replies
    assert errand.handover_code in reply and str(errand.pk) in reply and "张*华" in reply
    assert links_in(reply) == [(zhang.pk, False)]
    assert "张小华" not in reply and len(reply) <= 300
    inbound = SmsInbound.objects.get()
    assert inbound.reply == reply and inbound.replied_at is not None and inbound.text == ""


def test_medicine_by_sms_keeps_the_text_whole_for_the_worker(gw, zhang):
    text(gw, ZHANG_PHONE, "买药 阿莫西林胶囊0.25g两盒，布洛芬一盒")

    errand = Errand.objects.get(resident=zhang)
    assert errand.details == "阿莫西林胶囊0.25g两盒，布洛芬一盒"
    # No lines yet: the worker adds them (name, strength, quantity) when they call back.
    assert not errand.items.exists()


def test_a_keyword_without_a_request_gets_the_how_to(gw, zhang):
    status, [reply] = text(gw, ZHANG_PHONE, "代购")

    assert status == 200 and "代购 大米一袋" in reply
    assert not Errand.objects.exists()


def test_a_proxy_for_one_resident_asks_for_them(gw, wife, grid_worker):
    proxy_add(by=grid_worker, resident=wife, name="王芳", relation="女儿", phone=DAUGHTER_PHONE)

    status, [reply] = text(gw, DAUGHTER_PHONE, "买菜 青菜两斤")

    assert status == 200
    errand = Errand.objects.get()
    assert (errand.resident_id, errand.source) == (wife.pk, Source.SMS)
    assert links_in(reply) == [(wife.pk, True)] and "王*英" in reply


def test_a_proxy_for_several_residents_is_asked_to_use_each_page(
        gw, zhang, wife, grid_worker):
    for resident in (zhang, wife):
        proxy_add(by=grid_worker, resident=resident, name="王芳", relation="女儿",
                  phone=DAUGHTER_PHONE)

    status, [reply] = text(gw, DAUGHTER_PHONE, "买药 降压药")

    assert status == 200
    assert not Errand.objects.exists()
    assert sorted(links_in(reply)) == sorted([(zhang.pk, True), (wife.pk, True)])
    assert "张*华" in reply and "王*英" in reply and len(reply) <= 300
    assert SmsInbound.objects.get().reply == reply


def test_a_resident_who_is_also_a_proxy_is_asked_which_person(gw, zhang, wife, grid_worker):
    proxy_add(by=grid_worker, resident=wife, name="张小华", relation="丈夫", phone=ZHANG_PHONE)

    status, [reply] = text(gw, ZHANG_PHONE, "代购 牛奶")

    assert not Errand.objects.exists()
    assert sorted(links_in(reply)) == sorted([(zhang.pk, False), (wife.pk, True)])


def test_an_unknown_number_gets_no_reply_and_nothing_is_stored(gw, zhang, caplog):
    # A reply to every stranger who texts a keyword would be a paid spam route.
    status, replies = text(gw, STRANGER_PHONE, "代购 大米")

    assert status == 200 and replies == []
    assert not Errand.objects.exists() and not SmsInbound.objects.exists()
    assert STRANGER_PHONE not in caplog.text


def test_a_resident_who_moved_out_is_not_registered_any_more(gw, zhang):
    Resident.objects.filter(pk=zhang.pk).update(status=ResidentStatus.MOVED_OUT)

    text(gw, ZHANG_PHONE, "代购 大米")

    assert not Errand.objects.exists()


def test_a_flood_of_requests_is_cut_after_a_few_an_hour(gw, zhang):
    for n in range(SMS_ERRANDS_PER_HOUR + 2):
        text(gw, ZHANG_PHONE, f"代购 第{n}次")

    assert Errand.objects.filter(resident=zhang).count() == SMS_ERRANDS_PER_HOUR
    clock.advance(hours=1, minutes=1)
    text(gw, ZHANG_PHONE, "代购 一小时后")
    assert Errand.objects.filter(resident=zhang).count() == SMS_ERRANDS_PER_HOUR + 1


# Once per message -------------------------------------------------------------------------


def test_a_webhook_delivered_twice_creates_one_errand_and_one_reply(gw, zhang):
    body, headers = gw.inbound_body(ZHANG_PHONE, "代购 大米一袋")

    assert post(body, headers).status_code == 200
    assert post(body, gw.signed_headers(body)).status_code == 200

    assert Errand.objects.filter(resident=zhang).count() == 1
    inbound = SmsInbound.objects.get()
    replies = [s for s in gw.sent if s.to == ZHANG_PHONE]
    assert [s.client_id for s in replies] == [reply_client_id(inbound.message_id)]


def test_a_reply_the_gateway_could_not_take_goes_out_on_the_retry_with_one_errand(gw, zhang):
    body, headers = gw.inbound_body(ZHANG_PHONE, "维修 灯不亮")
    gw.fail_next(1)

    assert post(body, headers).status_code == 503
    assert Errand.objects.filter(resident=zhang).count() == 1  # kept
    assert post(body, gw.signed_headers(body)).status_code == 200

    assert Errand.objects.filter(resident=zhang).count() == 1
    assert len([s for s in gw.sent if s.to == ZHANG_PHONE]) == 1
    assert SmsInbound.objects.get().replied_at is not None


# The follow-up is untouched ---------------------------------------------------------------


@pytest.fixture
def pending(community_secretary, zhang) -> Contact:  # noqa: ANN001
    """张小华 is asked today's questions by SMS and has not answered yet."""
    Tag.objects.create(slug="sms_intake", name="sms_intake").residents.add(zhang)
    campaign = make_campaign(community_secretary, community_secretary.area,
                             plan=[{"channel": "sms", "at": 0}],
                             target={"tags": ["sms_intake"]}, starts_on=NOW.date())
    round_ = round_open(campaign=campaign, scheduled_for=NOW, now=NOW)
    from fangkong.followup.dispatch import dispatch_pass

    while dispatch_pass(owner="w1", now=NOW, limit=100):
        pass
    return Contact.objects.get(round=round_, resident=zhang)


def test_an_answer_still_goes_to_the_follow_up(gw, pending):
    status, replies = text(gw, ZHANG_PHONE, "2 2")

    assert status == 200
    pending.refresh_from_db()
    assert pending.state == ContactState.ANSWERED and pending.answered_via == "sms"
    with translation.override(settings.LANGUAGE_CODE):
        assert replies == [thanks_text()]
    assert not Errand.objects.exists()


def test_a_request_while_questions_wait_is_an_errand_and_leaves_the_answer_open(
        gw, zhang, pending):
    status, [reply] = text(gw, ZHANG_PHONE, "买菜 鸡蛋")

    assert status == 200
    assert Errand.objects.get(resident=zhang).kind == ErrandKind.GROCERIES
    pending.refresh_from_db()
    assert pending.state == ContactState.PENDING and pending.answers == {}
    assert contact_link(pending.pk) not in reply
