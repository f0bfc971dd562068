"""The standing QR code of a building (楼栋二维码): a resident scans it, types the last 4
digits of their phone (or of their proxy's) and reaches their own check-in form. Through
Django's test client: what the page reveals, guessing, and the staff's QR code and sheet."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import segno
from django.core.cache import cache
from django.core.signing import b62_encode
from django.test import Client, override_settings
from django.urls import reverse

from fangkong.followup.channels.web.checkin import (
    MISS_LIMIT,
    QR_ERROR,
    building_id_from_token,
    building_token,
    checkin_url,
)
from fangkong.followup.channels.web.links import checkin_token, contact_token
from fangkong.followup.models import Contact, ContactState
from fangkong.followup.rounds import round_open
from fangkong.places.models import Area, Building
from fangkong.places.services import building_create, household_create
from fangkong.residents.models import Resident, Tag
from fangkong.residents.services import ResidentInput, proxy_add, resident_create
from tests.followup.conftest import at, make_campaign
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db

FINE = {"fever": "no", "cough": "no"}
NOTHING_DUE = "There is no check-in due right now for this number in this building."
TOO_MANY = "Too many wrong tries."
INSTRUCTIONS = "扫码完成每日健康打卡：输入手机号后4位"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The wrong tries are counted in the cache: every test starts and ends with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def grid(grid_worker, community) -> Area:  # noqa: ANN001
    assert grid_worker.area.path.startswith(community.path + ".")
    return grid_worker.area


@pytest.fixture
def building(grid) -> Building:  # noqa: ANN001
    return building_create(grid=grid, number=9, estate="幸福里", name="9栋")


@pytest.fixture
def people(community_secretary, building) -> dict[str, Resident]:  # noqa: ANN001
    """Li Ming alone in 101 (phone ending 1111); the Wangs in 201: he has a phone ending
    2222 and answers for his wife, who has none; Zhao Si in 301 (5555) is not asked."""

    def person(household, name, relation, phone=""):  # noqa: ANN001, ANN202
        return resident_create(by=community_secretary, data=ResidentInput(
            household=household, name=name, relation=relation, phone=phone))

    h101, h201, h301 = (household_create(building=building, unit=1, room=room)
                        for room in ("101", "201", "301"))
    people = {
        "li": person(h101, "李明", "self", "13912341111"),
        "wang": person(h201, "王建国", "self", "13912342222"),
        "wang_wife": person(h201, "王秀英", "spouse"),
        "zhao": person(h301, "赵四", "self", "13912345555"),
    }
    proxy_add(by=community_secretary, resident=people["wang_wife"], name="王建国",
              relation="丈夫", phone="13912342222")
    return people


@pytest.fixture
def elsewhere(community) -> Resident:  # noqa: ANN001
    """A resident of the same community, in another building, asked in the same round."""
    return (Resident.objects.filter(community=community, phone_index__isnull=False)
            .exclude(phone_last4__in=["1111", "2222", "5555", "0000"])
            .order_by("pk").first())


@pytest.fixture
def round_(community_secretary, community, people, elsewhere, pinned_clock):  # noqa: ANN001
    tag = Tag.objects.create(slug="checkin_test", name="checkin_test")
    tag.residents.add(people["li"], people["wang"], people["wang_wife"], elsewhere)
    campaign = make_campaign(community_secretary, community, target={"tags": ["checkin_test"]})
    opened = round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(9, 0))
    pinned_clock.set(at(9, 20))
    return opened


@pytest.fixture
def browser() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def page_of(building: Building) -> str:
    return reverse("followup:checkin", args=[building_token(building.pk)])


def contact_of(round_, resident: Resident) -> Contact:  # noqa: ANN001
    return Contact.objects.get(round=round_, resident=resident)


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def without_links(html: str) -> str:
    """The page's text: the tokens in links are random letters and may hold any digits."""
    return re.sub(r'href="[^"]*"', "", html)


# The token -------------------------------------------------------------------------------


def test_a_building_token_names_its_building_and_nothing_else(building):
    token = building_token(building.pk)

    assert building_id_from_token(token) == building.pk
    assert building.name not in token and str(building.pk) == str(building_id_from_token(token))
    assert building_id_from_token(contact_token(building.pk)) is None  # another salt


@pytest.mark.parametrize("forge", [
    lambda pk, token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature tampered
    lambda pk, token: b62_encode(pk + 1) + ":" + token.split(":", 1)[1],  # the next building
    lambda pk, token: contact_token(pk),  # a one-time link's token: another salt
    lambda pk, token: "nonsense",
])
def test_a_forged_building_token_is_not_found(browser, building, round_, forge):
    token = forge(building.pk, building_token(building.pk))

    response = browser.get(reverse("followup:checkin", args=[token]))
    posted = browser.post(reverse("followup:checkin", args=[token]), {"last4": "1111"})

    assert response.status_code == posted.status_code == 404
    page = response.content.decode()
    assert "This code is not valid." in page
    assert "幸福里" not in page and "疫情防控" not in page


def test_a_token_of_a_building_that_no_longer_exists_is_not_found(browser, building):
    token = building_token(building.pk + 10_000_000)

    assert browser.get(reverse("followup:checkin", args=[token])).status_code == 404


# The page --------------------------------------------------------------------------------


def test_the_page_names_the_building_explains_the_purpose_and_asks_for_4_digits(
        browser, building, people, round_):
    response = browser.get(page_of(building))

    assert response.status_code == 200
    page = response.content.decode()
    assert "幸福里9栋" in page  # estate and name
    assert "疫情防控每日健康随访" in page  # the campaign's purpose: why they are asked
    assert "only for the last 4 digits of your phone" in page
    assert 'name="last4"' in page and 'inputmode="numeric"' in page
    assert "<script" not in page
    for person in people.values():
        assert person.name not in page
        assert person.phone_masked not in page or not person.phone_masked
    assert response["Cache-Control"].startswith("max-age=0")


def test_without_an_open_web_round_the_page_says_so_and_asks_nothing(
        browser, community_secretary, community, building, people, pinned_clock):
    campaign = make_campaign(community_secretary, community,
                             plan=[{"channel": "voice", "at": 0}, {"channel": "visit", "at": 60}])
    round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(9, 0))
    pinned_clock.set(at(9, 20))

    page = browser.get(page_of(building)).content.decode()
    posted = browser.post(page_of(building), {"last4": "1111"})

    assert "No check-in is open for this building right now." in page
    assert 'name="last4"' not in page
    assert posted.status_code == 200  # a voice campaign's contact is not offered
    assert not Contact.objects.filter(round__campaign=campaign, state="answered").exists()


# One match -------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["1111", "１１１１", " 11 11 "])
def test_the_digits_of_a_resident_lead_to_their_form_and_they_answer_on_the_web(
        browser, building, people, round_, typed):
    contact = contact_of(round_, people["li"])

    response = browser.post(page_of(building), {"last4": typed})

    assert response.status_code == 302
    assert response["Location"] == reverse("followup:answer",
                                           args=[checkin_token(contact.pk, by_proxy=False)])
    form = browser.get(response["Location"])
    assert form.status_code == 200
    assert "李*" in form.content.decode() and "李明" not in form.content.decode()
    done = browser.post(response["Location"], FINE)
    assert done.status_code == 200
    assert "Your answers have been received." in done.content.decode()
    after = Contact.objects.get(pk=contact.pk)
    assert (after.state, after.answered_via, after.answered_at, after.answered_by_proxy) == (
        ContactState.ANSWERED, "web", at(9, 20), False)
    assert after.answers["fever"] == [False, "web"]


def test_the_check_in_works_as_plain_html_posts_without_javascript(building, people, round_):
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    page = browser.get(page_of(building)).content.decode()
    [form] = re.findall(r"<form[^>]*>", page)
    assert 'method="post"' in form and "action=" not in form
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    response = browser.post(page_of(building), {"csrfmiddlewaretoken": token, "last4": "1111"})

    assert response.status_code == 302


@pytest.mark.parametrize("typed", ["", "111", "11111", "abcd", "13912341111"])
def test_anything_but_4_digits_is_sent_back_and_is_not_a_wrong_try(
        browser, building, people, round_, typed):
    response = browser.post(page_of(building), {"last4": typed})

    assert response.status_code == 400
    assert "Please enter exactly 4 digits" in response.content.decode()
    assert cache.get(f"fangkong.checkin.miss.{building.pk}.127.0.0.1") is None


def test_an_answered_check_in_is_not_offered_again(browser, building, people, round_):
    link = browser.post(page_of(building), {"last4": "1111"})["Location"]
    browser.post(link, FINE)

    again = browser.post(page_of(building), {"last4": "1111"})

    assert again.status_code == 200
    assert NOTHING_DUE in again.content.decode()


# Several matches -------------------------------------------------------------------------


def test_a_family_gets_a_choice_of_masked_names_only(browser, building, people, round_):
    husband, wife = contact_of(round_, people["wang"]), contact_of(round_, people["wang_wife"])

    response = browser.post(page_of(building), {"last4": "2222"})

    assert response.status_code == 200
    page = response.content.decode()
    text = without_links(page)
    assert text.count("王**") == 2  # the same masked name twice ...
    assert "Householder" in text and "Spouse" in text  # ... told apart by the relation
    for person in people.values():
        assert person.name not in page
    assert "138" not in text and "139" not in text and "2222" not in text  # no phone
    assert "201" not in text and "单元" not in text  # no room, no address
    links = re.findall(r'<a[^>]* href="([^"]+)"', page)
    own = reverse("followup:answer", args=[checkin_token(husband.pk, by_proxy=False)])
    assert own in links  # his own phone
    for_wife = reverse("followup:answer", args=[checkin_token(wife.pk, by_proxy=True)])
    assert for_wife in links  # his phone, her check-in: answered by a proxy
    assert len(links) == 2

    assert browser.post(for_wife, FINE).status_code == 200
    assert browser.post(own, FINE).status_code == 200
    her, his = Contact.objects.get(pk=wife.pk), Contact.objects.get(pk=husband.pk)
    assert (her.state, her.answered_via, her.answered_by_proxy) == ("answered", "web", True)
    assert (his.state, his.answered_via, his.answered_by_proxy) == ("answered", "web", False)


def test_a_check_in_token_cannot_be_turned_into_a_proxy_one(browser, building, people, round_):
    husband = contact_of(round_, people["wang"])
    own = checkin_token(husband.pk, by_proxy=False)
    forged = own.replace("-s:", "-p:")
    assert forged != own
    assert browser.get(reverse("followup:answer", args=[forged])).status_code == 404
    browser.post(reverse("followup:answer", args=[own]), FINE)
    assert Contact.objects.get(pk=husband.pk).answered_by_proxy is False


def test_a_resident_checking_in_with_their_own_digits_sees_only_themselves(
        browser, building, people, round_, elsewhere):
    """Li Ming has a phone of his own and a daughter who also answers for a neighbour in
    another building. His own digits open his form alone; the daughter's SMS link opens
    both (her session)."""
    li, neighbour = contact_of(round_, people["li"]), contact_of(round_, elsewhere)
    Contact.objects.filter(pk__in=[li.pk, neighbour.pk]).update(proxy_index="daughter")
    response = browser.post(page_of(building), {"last4": "1111"})
    assert response.status_code == 302
    page = browser.get(response["Location"])
    assert len(page.context["forms"]) == 1
    assert elsewhere.name[0] + "*" not in page.content.decode()
    session = browser.get(reverse("followup:answer", args=[contact_token(li.pk)]))
    assert len(session.context["forms"]) == 2


# No match --------------------------------------------------------------------------------


def test_a_number_not_in_the_building_gets_a_polite_refusal_that_tells_nothing(
        browser, building, people, round_, elsewhere):
    """The same page, whatever the reason: a number nobody has, a resident of another
    building who is asked in this very round, and a resident of this building who is not
    asked now."""
    tries = {"nobody": "0000", "another building": elsewhere.phone_last4,
             "not asked": people["zhao"].phone_last4}
    pages = {}
    for n, (why, digits) in enumerate(tries.items()):
        response = browser.post(page_of(building), {"last4": digits},
                                REMOTE_ADDR=f"10.0.0.{n + 1}")
        assert response.status_code == 200, why
        pages[why] = without_csrf(response.content.decode())

    assert len(set(pages.values())) == 1
    page = pages["nobody"]
    assert NOTHING_DUE in page
    assert 'name="last4"' in page  # they may try again
    assert "Tries left" not in page
    assert Contact.objects.get(round=round_, resident=elsewhere).state == ContactState.PENDING


def test_the_sixth_wrong_try_within_10_minutes_is_refused(browser, building, people, round_,
                                                          caplog):
    assert MISS_LIMIT == 5
    caplog.set_level(logging.INFO, logger="fangkong.followup.checkin")
    pages = []
    for digits in ("0001", "0002", "0003", "0004", "0005"):
        pages.append(browser.post(page_of(building), {"last4": digits}))

    assert [p.status_code for p in pages] == [200, 200, 200, 200, 429]
    texts = [p.content.decode() for p in pages]
    assert "Tries left" not in texts[0] and "Tries left" not in texts[1]
    assert "Tries left: 2." in texts[2] and "Tries left: 1." in texts[3]  # after the 3rd miss
    assert TOO_MANY in texts[4]
    # The sixth try is refused even with the right digits, and so is the page itself.
    sixth = browser.post(page_of(building), {"last4": "1111"})
    assert sixth.status_code == 429
    assert TOO_MANY in sixth.content.decode() and "Location" not in sixth
    opened = browser.get(page_of(building))
    assert opened.status_code == 429 and 'name="last4"' not in opened.content.decode()
    # Another address, or another building, is not held up by these misses.
    other = browser.post(page_of(building), {"last4": "1111"}, REMOTE_ADDR="10.9.9.9")
    assert other.status_code == 302
    # Every miss is logged, without the digits.
    misses = [r.getMessage() for r in caplog.records if "no match" in r.getMessage()]
    assert len(misses) == 5
    assert all(str(building.pk) in m and "127.0.0.1" in m for m in misses)
    assert not any(d in r.getMessage() for r in caplog.records
                   for d in ("0001", "0003", "0005", "1111"))


def test_the_right_digits_are_not_counted_as_wrong_tries(browser, building, people, round_):
    for _ in range(MISS_LIMIT + 1):
        assert browser.post(page_of(building), {"last4": "1111"}).status_code == 302


# The QR code and the sheet for staff ---------------------------------------------------------


def dark_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules drawn by segno's SVG path (module units, border included): "M x y"
    and "m dx dy" move, "h n" draws n modules along the row."""
    path = re.search(r'<path[^>]*class="qrline"[^>]* d="([^"]+)"', svg).group(1)
    x = y = 0.0
    dark = set()
    for command, args in re.findall(r"([MmHh])([^MmHh]*)", path):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            length = numbers[0] if command == "h" else numbers[0] - x
            dark |= {(int(x) + i, int(y)) for i in range(int(length))}
            x += length
    return dark


def decode_with_zbar(dark: set[tuple[int, int]], tmp_path: Path) -> str:
    """Draw the modules as a bitmap (4 pixels a module) and read it with zbarimg."""
    size = max(max(c, r) for c, r in dark) + 5
    scale = 4
    rows = [" ".join("1" if (x // scale, y // scale) in dark else "0"
                     for x in range(size * scale)) for y in range(size * scale)]
    image = tmp_path / "qr.pbm"
    image.write_text(f"P1\n{size * scale} {size * scale}\n" + "\n".join(rows) + "\n")
    found = subprocess.run(["zbarimg", "--quiet", "--raw", str(image)],  # noqa: S603, S607
                           capture_output=True, text=True, timeout=60, check=False)
    return found.stdout.strip()


def test_the_svg_holds_the_building_check_in_address(grid_worker, building, tmp_path):
    with override_settings(PUBLIC_URL="https://fk.example.cn/"):
        response = make_client(grid_worker).get(reverse("followup:building_qr",
                                                        args=[building.pk]))
        expected = checkin_url(building.pk)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert expected == "https://fk.example.cn" + page_of(building)
    svg = response.content.decode()
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert "<title>幸福里9栋</title>" in svg
    dark = dark_modules(svg)
    # The same code built from the address, module for module (border of 4) ...
    made = segno.make(expected, error=QR_ERROR, micro=False)
    assert dark == {(x + 4, y + 4) for y, row in enumerate(made.matrix)
                    for x, module in enumerate(row) if module}
    # ... and read back by a real decoder where the machine has one (zbar-tools).
    if shutil.which("zbarimg"):
        assert decode_with_zbar(dark, tmp_path) == expected


def test_the_sheet_shows_the_building_the_big_code_and_the_instructions_in_chinese(
        grid_worker, building):
    client = make_client(grid_worker)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"

    response = client.get(reverse("followup:building_qr_sheet", args=[building.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "幸福里9栋" in page
    assert INSTRUCTIONS in page  # for the residents, whatever the printer's language
    assert "Print" in page  # the printer's own toolbar is in their language
    assert "@page { size: A4" in page
    [svg] = re.findall(r"<svg[^>]*>.*?</svg>", page, flags=re.S)
    assert dark_modules(svg) == dark_modules(
        make_client(grid_worker).get(reverse("followup:building_qr", args=[building.pk]))
        .content.decode())
    assert checkin_url(building.pk) in page


def test_the_building_page_links_to_the_code_and_the_sheet(grid_worker, building):
    page = make_client(grid_worker).get(reverse("places:building", args=[building.pk]))

    body = page.content.decode()
    assert f'href="{reverse("followup:building_qr_sheet", args=[building.pk])}"' in body
    assert f'href="{reverse("followup:building_qr", args=[building.pk])}"' in body


@pytest.mark.parametrize("persona", ["other_grid_worker", "other_street_officer", "gate_guard",
                                     "volunteer"])
def test_the_code_and_the_sheet_are_not_found_outside_the_staff_members_area(
        city, building, persona):
    client = make_client(city.persona(persona))

    for name in ("followup:building_qr", "followup:building_qr_sheet"):
        response = client.get(reverse(name, args=[building.pk]))
        assert response.status_code == 404, (persona, name)
        assert "幸福里" not in response.content.decode()


@pytest.mark.parametrize("persona", ["grid_worker", "community_worker", "community_secretary",
                                     "street_officer", "admin"])
def test_the_code_and_the_sheet_open_inside_the_staff_members_area(city, building, persona):
    client = make_client(city.persona(persona))

    for name in ("followup:building_qr", "followup:building_qr_sheet"):
        assert client.get(reverse(name, args=[building.pk])).status_code == 200, (persona, name)


def test_the_code_and_the_sheet_need_a_login(building):
    for name in ("followup:building_qr", "followup:building_qr_sheet"):
        response = make_client().get(reverse(name, args=[building.pk]))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))
