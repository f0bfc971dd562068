"""A resident opens their passes with their mobile number and a code sent by SMS (through
a fake gateway speaking the real protocol): known and unknown numbers answered alike,
the code's expiry, wrong tries, rate limits, what is stored, proxies, and the day the
login lasts."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
import zxingcpp
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse
from PIL import Image

from fangkong.lib import clock
from fangkong.passes import phone_login
from fangkong.passes.models import Pass
from fangkong.passes.services import pass_issue
from fangkong.places.models import Household
from fangkong.places.services import building_create, household_create
from fangkong.residents.models import Resident, ResidentStatus
from fangkong.residents.services import ResidentInput, proxy_add, resident_create
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.passes.conftest import NOW, code_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english", "fresh_cache")]

ACCOUNT, SECRET = "fangkong-test", "gateway-secret"
PHONE = "19912345678"
DAUGHTER = "19987654321"
UNKNOWN = "19900001111"
LOGIN, CODE, PASSES = (reverse("passes:phone_login"), reverse("passes:phone_code"),
                       reverse("passes:phone_passes"))


@pytest.fixture(autouse=True)
def pinned():
    clock.set(NOW)
    yield
    clock.reset()


@pytest.fixture
def fresh_cache():
    """Codes and rate limits live in the cache: every test starts and ends with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def gw() -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway(account=ACCOUNT, secret=SECRET) as fake, override_settings(
            SMS_GATEWAY_URL=fake.url, SMS_ACCOUNT=ACCOUNT, SMS_SECRET=SECRET):
        yield fake
        phone_login.deliveries_wait()


@pytest.fixture
def home(grid_worker) -> Household:  # noqa: ANN001
    building = building_create(grid=grid_worker.area, number=88, estate="安康苑", name="8栋")
    return household_create(building=building, unit=1, room="602")


@pytest.fixture
def zhang(community_secretary, home) -> Resident:  # noqa: ANN001
    return resident_create(by=community_secretary, data=ResidentInput(
        household=home, name="张小华", phone=PHONE))


@pytest.fixture
def browser() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def sent_to(gw: FakeSmsGateway, number: str) -> list[str]:
    phone_login.deliveries_wait()
    return [sms.text for sms in gw.sent if sms.to == number]


def code_in(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


def ask(browser: Client, number: str):  # noqa: ANN201
    return browser.post(LOGIN, {"phone": number})


def log_in(browser: Client, gw: FakeSmsGateway, number: str = PHONE):  # noqa: ANN201
    assert ask(browser, number).status_code == 302
    return browser.post(CODE, {"code": code_in(sent_to(gw, number)[-1])})


def test_a_known_number_gets_a_code_that_opens_the_pass(browser, gw, zhang, grid_worker):  # noqa: ANN001
    pass_ = pass_issue(resident=zhang, by=grid_worker)
    form = browser.get(LOGIN)
    assert form.status_code == 200 and "no-store" in form["Cache-Control"]
    asked = ask(browser, "199 1234 5678")
    assert (asked.status_code, asked["Location"]) == (302, CODE)
    assert "199****5678" in browser.get(CODE).content.decode()
    texts = sent_to(gw, PHONE)
    assert len(texts) == 1 and "10 minutes" in texts[0]
    opened = browser.post(CODE, {"code": code_in(texts[0])})
    assert (opened.status_code, opened["Location"]) == (302, PASSES)
    page = browser.get(PASSES)
    assert page.status_code == 200 and page["Referrer-Policy"] == "no-referrer"
    html = page.content.decode()
    assert "张*华" in html and "张小华" not in html and "安康苑8栋1单元602" in html
    assert "May pass." in html and "data:image/png;base64," in html
    png = browser.get(PASSES, {"png": zhang.pk})
    assert png["Content-Type"] == "image/png"
    assert png["Content-Disposition"] == 'attachment; filename="pass.png"'
    assert [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))] == [
        code_of(pass_)]
    # The code is used up.
    assert browser.post(CODE, {"code": code_in(texts[0])}).status_code == 302


def test_an_unknown_number_is_answered_exactly_alike_and_sent_nothing(gw, zhang):  # noqa: ANN001
    known, unknown = Client(HTTP_ACCEPT_LANGUAGE="en"), Client(HTTP_ACCEPT_LANGUAGE="en")
    a, b = ask(known, PHONE), ask(unknown, UNKNOWN)
    assert (a.status_code, a["Location"]) == (b.status_code, b["Location"])
    page_a = known.get(CODE).content.decode().replace("199****5678", "X")
    page_b = unknown.get(CODE).content.decode().replace("199****1111", "X")
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert strip.sub("", page_a) == strip.sub("", page_b)
    assert sent_to(gw, UNKNOWN) == [] and len(sent_to(gw, PHONE)) == 1
    # Wrong codes are answered alike too, down to the tries left.
    wrong_a = known.post(CODE, {"code": "000000"}).content.decode()
    wrong_b = unknown.post(CODE, {"code": "000000"}).content.decode()
    assert "4 tries left" in wrong_a and "4 tries left" in wrong_b


def test_five_wrong_tries_lock_the_code(browser, gw, zhang):  # noqa: ANN001
    ask(browser, PHONE)
    right = code_in(sent_to(gw, PHONE)[0])
    wrong = "123456" if right != "123456" else "654321"
    for left in (4, 3, 2, 1):
        response = browser.post(CODE, {"code": wrong})
        assert f"{left} tries left" in response.content.decode()
    locked = browser.post(CODE, {"code": wrong})
    assert "Too many wrong tries" in locked.content.decode()
    refused = browser.post(CODE, {"code": right})
    assert refused.status_code == 400 and "Too many wrong tries" in refused.content.decode()
    assert browser.get(PASSES)["Location"] == LOGIN
    assert log_in(browser, gw).status_code == 302  # a new code works


def test_a_code_expires_after_ten_minutes(browser, gw, zhang):  # noqa: ANN001
    ask(browser, PHONE)
    code = code_in(sent_to(gw, PHONE)[0])
    clock.advance(minutes=10, seconds=1)
    response = browser.post(CODE, {"code": code})
    assert response.status_code == 400 and "has expired" in response.content.decode()


def test_codes_are_limited_per_number_and_per_address(gw, zhang, settings):  # noqa: ANN001
    one = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="10.0.0.1")
    for _n in range(3):
        assert ask(one, PHONE).status_code == 302
    other = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="10.0.0.2")
    limited = ask(other, PHONE)  # the 4th code for the number, from anywhere
    assert limited.status_code == 429 and "Too many codes" in limited.content.decode()
    assert len(sent_to(gw, PHONE)) == 3
    for _n in range(3):
        ask(other, UNKNOWN)
    assert ask(other, UNKNOWN).status_code == 429  # unknown numbers alike
    settings.PASSES_CODES_PER_IP_HOUR = 5
    crowd = Client(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR="10.0.0.3")
    answers = [ask(crowd, f"1990000{n:04d}").status_code for n in range(6)]
    assert answers == [302] * 5 + [429]


def test_tries_are_limited_per_address(browser, gw, zhang, settings):  # noqa: ANN001
    settings.PASSES_CODE_TRIES_PER_IP_HOUR = 2
    ask(browser, PHONE)
    code = code_in(sent_to(gw, PHONE)[0])
    browser.post(CODE, {"code": "000001"})
    browser.post(CODE, {"code": "000002"})
    limited = browser.post(CODE, {"code": code})
    assert limited.status_code == 429


def test_only_a_hash_of_the_code_and_no_number_is_stored(browser, gw, zhang):  # noqa: ANN001
    ask(browser, PHONE)
    code = code_in(sent_to(gw, PHONE)[0])
    phone = phone_login.mobile_of(PHONE)
    stored = cache.get(phone_login._key(phone.index, "code"))
    assert code not in repr(stored) and PHONE not in repr(stored)
    session = browser.session
    assert PHONE not in repr(dict(session.items()))
    assert code not in repr(dict(session.items()))


def test_a_proxys_number_opens_the_residents_they_look_after(browser, gw, zhang, home,  # noqa: ANN001
                                                             community_secretary):
    wife = resident_create(by=community_secretary, data=ResidentInput(
        household=home, name="王秀英", relation="spouse"))
    proxy_add(by=community_secretary, resident=wife, name="张丽", relation="女儿",
              phone=DAUGHTER)
    proxy_add(by=community_secretary, resident=zhang, name="张丽", relation="女儿",
              phone=DAUGHTER)
    log_in(browser, gw, DAUGHTER)
    html = browser.get(PASSES).content.decode()
    assert "王*英" in html and "张*华" in html


def test_a_resident_without_a_pass_gets_one_from_the_list(browser, gw, zhang, home,  # noqa: ANN001
                                                          community_secretary):
    log_in(browser, gw)
    html = browser.get(PASSES).content.decode()
    assert "You have no pass yet." in html and f'name="resident" value="{zhang.pk}"' in html
    stranger = Resident.objects.exclude(pk=zhang.pk).filter(
        status=ResidentStatus.ACTIVE).first()
    browser.post(PASSES, {"do": "get", "resident": stranger.pk})
    assert not Pass.objects.exists()
    browser.post(PASSES, {"do": "get", "resident": zhang.pk})
    assert Pass.objects.get().resident == zhang
    assert browser.get(PASSES, {"png": stranger.pk}).status_code == 404


def test_the_login_lasts_a_day_and_can_be_closed(browser, gw, zhang):  # noqa: ANN001
    log_in(browser, gw)
    clock.advance(hours=23)
    assert browser.get(PASSES).status_code == 200
    clock.advance(hours=2)
    assert browser.get(PASSES)["Location"] == LOGIN
    log_in(browser, gw)
    closed = browser.post(PASSES, {"do": "logout"})
    assert closed["Location"] == LOGIN
    assert browser.get(PASSES)["Location"] == LOGIN


def test_a_resident_who_moved_out_is_not_sent_a_code(browser, gw, zhang):  # noqa: ANN001
    Resident.objects.filter(pk=zhang.pk).update(status=ResidentStatus.MOVED_OUT)
    assert ask(browser, PHONE).status_code == 302
    assert sent_to(gw, PHONE) == []


@pytest.mark.parametrize("typed", ["", "027-85551234", "12345", "1991234567x"])
def test_a_number_that_is_no_mobile_is_asked_again(browser, gw, typed):  # noqa: ANN001
    response = browser.post(LOGIN, {"phone": typed})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert gw.sent == []
    assert "fangkong.passes.phone" not in browser.session


def test_without_a_gateway_the_page_answers_alike(browser, zhang, settings):  # noqa: ANN001
    settings.SMS_GATEWAY_URL = ""
    assert ask(browser, PHONE)["Location"] == CODE


def test_the_code_page_needs_a_number_first_and_posts_need_csrf(zhang):  # noqa: ANN001
    assert Client().get(CODE)["Location"] == LOGIN
    assert Client().get(PASSES)["Location"] == LOGIN
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(LOGIN, {"phone": PHONE}).status_code == 403
    assert strict.post(CODE, {"code": "123456"}).status_code == 403
