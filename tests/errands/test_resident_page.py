"""The resident's errands page behind a signed link, through Django's test client: who
it opens for, what it shows, asking, cancelling, the POST limit, and the link on the
follow-up thank-you page."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.signing import TimestampSigner, b62_encode
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from fangkong.errands import services
from fangkong.errands.models import Errand, ErrandStatus, Source
from fangkong.errands.resident_links import (
    SALT,
    resident_from_token,
    resident_key,
    resident_link,
    resident_token,
    token_expired,
)
from fangkong.followup.channels.web.links import contact_token
from fangkong.followup.models import Contact
from fangkong.followup.rounds import round_open
from fangkong.lib import clock
from fangkong.residents.models import Resident, ResidentStatus, Tag
from tests.errands import resident_fixtures as fixtures
from tests.errands.resident_fixtures import NOW, ZHANG_PHONE, person
from tests.followup.conftest import make_campaign

browser, fresh_cache, home, pinned, zhang = (fixtures.browser, fixtures.fresh_cache,
                                             fixtures.home, fixtures.pinned, fixtures.zhang)
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english", "pinned",
                                                             "fresh_cache")]

GROCERIES = {"kind": "groceries", "details": "大米一袋、鸡蛋10个", "urgency": "today",
             "preferred_time": "下午3点后", "payment": "resident"}


def page_of(resident: Resident, *, by_proxy: bool = False) -> str:
    return reverse("errands:resident", args=[resident_token(resident.pk, by_proxy=by_proxy)])


def text_of(response) -> str:  # noqa: ANN001
    """The page's text without its links and form tokens (they carry signatures)."""
    page = response.content.decode()
    page = re.sub(r'(href|value|action)="[^"]*"', "", page)
    return re.sub(r"https?://\S+", "", page)


# The link ---------------------------------------------------------------------------------


def test_the_token_carries_only_the_resident_id_and_the_proxy_flag():
    token = resident_token(4242, by_proxy=True)

    assert resident_from_token(token) == (4242, True)
    assert resident_from_token(resident_token(4242)) == (4242, False)
    value = token.split(":")[0]
    assert value == b62_encode(4242) + "-p"


@override_settings(PUBLIC_URL="https://fk.example.cn/")
def test_the_link_is_absolute_on_the_public_address():
    link = resident_link(7)

    assert link.startswith("https://fk.example.cn/errands/r/") and link.endswith("/")
    assert resident_from_token(link.rstrip("/").rsplit("/", 1)[1]) == (7, False)


def test_a_link_is_valid_for_30_days_then_expires():
    token = resident_token(5)
    clock.set(NOW + timedelta(days=29, hours=23))
    assert resident_from_token(token) == (5, False) and not token_expired(token)
    clock.set(NOW + timedelta(days=30, seconds=1))
    assert resident_from_token(token) is None and token_expired(token)


@override_settings(ERRANDS_LINK_DAYS=2)
def test_the_validity_follows_the_setting():
    token = resident_token(5)
    clock.set(NOW + timedelta(days=2, seconds=1))
    assert token_expired(token)


@pytest.mark.parametrize("forge", ["garbage", "other salt", "follow-up token", "tampered id",
                                   "proxy flag added", "empty signature"])
def test_a_forged_link_is_not_found(browser, zhang, forge):
    token = resident_token(zhang.pk)
    value, stamp, signature = token.split(":")
    forged = {
        "garbage": "not-a-token",
        "other salt": TimestampSigner(salt=SALT + "x").sign(b62_encode(zhang.pk)),
        "follow-up token": contact_token(zhang.pk),
        "tampered id": f"{b62_encode(zhang.pk + 1)}:{stamp}:{signature}",
        "proxy flag added": f"{value}-p:{stamp}:{signature}",
        "empty signature": f"{value}:{stamp}:",
    }[forge]

    response = browser.get(reverse("errands:resident", args=[forged]))

    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()
    assert zhang.name not in response.content.decode()


def test_an_expired_link_is_gone_and_says_to_ask_for_a_new_one(browser, zhang):
    url = page_of(zhang)
    clock.set(NOW + timedelta(days=31))

    response = browser.get(url)

    assert response.status_code == 410
    assert "ask your grid worker for a new link" in response.content.decode()
    assert browser.post(url, GROCERIES).status_code == 410
    assert not Errand.objects.filter(resident=zhang).exists()


def test_a_resident_no_longer_living_here_is_refused(browser, zhang):
    Resident.objects.filter(pk=zhang.pk).update(status=ResidentStatus.MOVED_OUT)

    response = browser.get(page_of(zhang))

    assert response.status_code == 410
    assert "no longer registered" in response.content.decode()
    assert browser.post(page_of(zhang), GROCERIES).status_code == 410
    assert not Errand.objects.filter(resident=zhang).exists()


def test_a_link_to_a_resident_that_does_not_exist_is_not_found(browser):
    assert browser.get(reverse("errands:resident",
                               args=[resident_token(10**9)])).status_code == 404


MUTATIONS = st.tuples(st.sampled_from(["replace", "insert", "delete", "swap"]),
                      st.integers(min_value=0, max_value=200),
                      st.characters(codec="ascii", exclude_characters="/"))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=10**7), st.booleans(), MUTATIONS)
def test_a_mutated_token_is_never_accepted(resident_id, by_proxy, mutation):
    token = resident_token(resident_id, by_proxy=by_proxy)
    how, at, char = mutation
    at %= len(token)
    if how == "replace":
        mutated = token[:at] + char + token[at + 1:]
    elif how == "insert":
        mutated = token[:at] + char + token[at:]
    elif how == "delete":
        mutated = token[:at] + token[at + 1:]
    else:
        mutated = token[:at] + token[at + 1:at + 2] + token[at:at + 1] + token[at + 2:]
    if mutated == token:
        return
    assert resident_from_token(mutated) is None
    assert resident_key(mutated) is None


# What the page shows ----------------------------------------------------------------------


def test_the_page_shows_the_masked_name_and_the_room_and_nothing_personal(browser, zhang):
    response = browser.get(page_of(zhang))

    assert response.status_code == 200
    text = text_of(response)
    assert "张*华" in text and "7栋2单元501" in text
    assert "张小华" not in text
    assert ZHANG_PHONE not in text and ZHANG_PHONE[-4:] not in text
    assert zhang.phone_masked not in text
    assert zhang.id_number_masked not in text and zhang.id_number_masked[-4:] not in text
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_form_works_as_a_plain_html_post_without_javascript(zhang):
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    url = page_of(zhang)
    page = browser.get(url).content.decode()

    assert "<script" not in page
    form = re.findall(r"<form[^>]*>", page)[0]
    assert 'method="post"' in form and "action=" not in form
    for n in range(1, 6):  # five rows of medicine lines, no "add a line" button
        assert f'name="line{n}_name"' in page and f'name="line{n}_prescription"' in page
    assert browser.post(url, GROCERIES).status_code == 403  # no CSRF token: refused
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    response = browser.post(url, {**GROCERIES, "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert Errand.objects.filter(resident=zhang).count() == 1


def test_the_page_shows_its_own_link_to_bookmark(browser, zhang):
    url = page_of(zhang)

    page = browser.get(url).content.decode()

    assert f'href="http://127.0.0.1:8000{url}"' in page
    assert "Bookmark this page" in page


# Asking -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,details", [("groceries", "大米一袋、鸡蛋10个"),
                                          ("garbage", ""),
                                          ("repair", "厨房水管漏水\r\n请带工具"),
                                          ("other", "帮忙取快递")])
def test_asking_creates_the_errand_as_asked_by_the_resident(browser, zhang, kind, details):
    response = browser.post(page_of(zhang), {**GROCERIES, "kind": kind, "details": details})

    assert response.status_code == 302
    errand = Errand.objects.get(resident=zhang)
    assert (errand.kind, errand.source, errand.created_by) == (kind, Source.RESIDENT, None)
    assert errand.details == details.replace("\r\n", "\n")
    assert (errand.urgency, errand.preferred_time, errand.payment) == (
        "today", "下午3点后", "resident")
    assert errand.status == ErrandStatus.NEW
    assert errand.events.get().by_resident
    after = browser.get(response["Location"])
    assert f"Your request has been sent (number {errand.pk})" in after.content.decode()


def test_medicine_is_asked_in_lines_with_strength_quantity_and_prescription(browser, zhang):
    response = browser.post(page_of(zhang), {
        "kind": "medicine", "details": "", "urgency": "urgent", "payment": "account",
        "line1_name": "阿莫西林胶囊", "line1_strength": "0.25g", "line1_quantity": "2",
        "line1_prescription": "on",
        "line3_name": "布洛芬缓释胶囊", "line3_quantity": ""})

    assert response.status_code == 302
    errand = Errand.objects.get(resident=zhang)
    assert errand.kind == "medicine" and errand.payment == "account"
    items = [(i.name, i.strength, i.quantity, i.prescription) for i in errand.items.all()]
    assert items == [("阿莫西林胶囊", "0.25g", 2, True), ("布洛芬缓释胶囊", "", 1, False)]
    page = browser.get(page_of(zhang)).content.decode()
    assert "阿莫西林胶囊 0.25g × 2" in page and "needs a prescription" in page


def test_a_proxy_s_link_records_the_proxy_as_the_one_who_asked(browser, zhang):
    page = browser.get(page_of(zhang, by_proxy=True)).content.decode()
    assert "You are asking for the person you look after" in page

    browser.post(page_of(zhang, by_proxy=True), GROCERIES)

    assert Errand.objects.get(resident=zhang).source == Source.PROXY


@pytest.mark.parametrize("typed,field,message", [
    ({"kind": ""}, "kind", "Choose what you need."),
    ({"details": ""}, "details", "Write what is needed."),
    ({"kind": "medicine"}, "lines", "Write at least one medicine"),
    ({"kind": "medicine", "line2_name": "布洛芬", "line2_quantity": "两盒"}, "line2_quantity",
     "Write a whole number"),
    ({"kind": "medicine", "line4_strength": "0.3g"}, "line4_name",
     "Write the name of the medicine, or clear this line."),
    ({"line1_name": "降压药"}, "lines", "The lines are for medicine."),
    ({"urgency": "yesterday"}, "urgency", "Select a valid choice."),
    ({"preferred_time": "很久" * 40}, "preferred_time", "at most 60 characters"),
])
def test_a_mistake_is_shown_next_to_its_field_and_nothing_typed_is_lost(
        browser, zhang, typed, field, message):
    sent = {**GROCERIES, "details": "大米一袋 <b>不要</b>", "preferred_time": "晚上",
            **typed}

    response = browser.post(page_of(zhang), sent)

    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    # The message is in the block of its field (the medicine lines share one block).
    block = "q-lines" if field.startswith("line") or field == "lines" else f"q-{field}"
    start = page.index(f'id="{block}"')
    assert message in page[start:page.index("</fieldset>", start)]
    for name, value in sent.items():
        if value and name != "urgency":
            escaped = value.replace("<", "&lt;").replace(">", "&gt;")
            assert escaped in page, name
    assert not Errand.objects.filter(resident=zhang).exists()


# The list ---------------------------------------------------------------------------------


def test_the_list_shows_newest_first_with_progress_helper_and_code(
        browser, zhang, grid_worker, make_errand):
    first = make_errand(resident=zhang)  # medicine, asked by phone
    clock.set(NOW + timedelta(minutes=5))
    second = make_errand(resident=zhang, data=services.ErrandInput(kind="repair",
                                                                   details="修门锁"),
                         assign_to=grid_worker)
    services.errand_advance(errand=second, to=ErrandStatus.DELIVERING, by=grid_worker)

    page = browser.get(page_of(zhang)).content.decode()

    assert page.index(f'id="errand-{second.pk}"') < page.index(f'id="errand-{first.pk}"')
    repair = page[page.index(f'id="errand-{second.pk}"'):page.index(f'id="errand-{first.pk}"')]
    assert "Grid is on the way to you." in repair  # the first name only
    assert "Grid Worker" not in page
    assert second.handover_code in repair and "Tell this code to the person at your door" in repair
    # A repair has nothing to buy: its strip skips "Buying".
    strip = re.search(r'<ol class="strip".*?</ol>', repair, re.S).group(0)
    assert re.findall(r"<li[^>]*>([^<]+)</li>", strip) == [
        "New", "Assigned", "On the way", "Delivered"]
    assert 'class="now" aria-current="step">On the way' in strip
    assert "Cancel this request" not in repair  # on the way: too late
    new = page[page.index(f'id="errand-{first.pk}"'):]
    assert "Received. We are finding a helper." in new and first.handover_code in new
    assert "Cancel this request" in new
    strip = re.search(r'<ol class="strip".*?</ol>', new, re.S).group(0)
    assert re.findall(r"<li[^>]*>([^<]+)</li>", strip) == [
        "New", "Assigned", "Buying", "On the way", "Delivered"]
    # The one on its way is also told at the top, with its code.
    assert page.index("is on the way.") < page.index("Ask for help")


def test_a_closed_errand_shows_no_code_and_a_failed_one_says_why(
        browser, zhang, grid_worker, make_errand):
    done = make_errand(resident=zhang, assign_to=grid_worker)
    services.errand_advance(errand=done, to=ErrandStatus.DELIVERING, by=grid_worker)
    services.errand_deliver(errand=done, by=grid_worker, code=done.handover_code)
    failed = make_errand(resident=zhang)
    services.errand_fail(errand=failed, by=grid_worker, reason="药店没有这种药")

    page = browser.get(page_of(zhang)).content.decode()

    assert "Delivered." in page and "It could not be done." in page
    assert "Why: 药店没有这种药" in page
    assert "Tell this code" not in page
    assert "Cancel this request" not in page


def test_a_chinese_helper_name_is_masked(browser, zhang, grid_worker, make_errand):
    grid_worker.full_name = "王小明"
    grid_worker.save(update_fields=["full_name"])
    make_errand(resident=zhang, assign_to=grid_worker)

    page = browser.get(page_of(zhang)).content.decode()

    assert "王*明 will do it." in page and "王小明" not in page


def test_the_page_costs_the_same_queries_with_many_errands(browser, zhang, make_errand):
    make_errand(resident=zhang)
    url = page_of(zhang)
    browser.get(url)
    with CaptureQueriesContext(connection) as one:
        assert browser.get(url).status_code == 200
    for _ in range(6):
        make_errand(resident=zhang)
    with CaptureQueriesContext(connection) as seven:
        browser.get(url)

    assert len(seven) == len(one) <= 6


# Cancelling -------------------------------------------------------------------------------


def test_the_resident_cancels_an_errand_not_yet_on_its_way(
        browser, zhang, grid_worker, make_errand):
    errand = make_errand(resident=zhang, assign_to=grid_worker)
    services.errand_advance(errand=errand, to=ErrandStatus.BUYING, by=grid_worker)

    response = browser.post(page_of(zhang), {"cancel": str(errand.pk)})

    assert response.status_code == 302
    errand.refresh_from_db()
    assert errand.status == ErrandStatus.CANCELLED
    event = errand.events.get(what="cancelled")
    assert event.by_resident and event.by is None
    assert f"Request {errand.pk} is cancelled." in browser.get(
        response["Location"]).content.decode()


def test_an_errand_on_its_way_cannot_be_cancelled(browser, zhang, grid_worker, make_errand):
    errand = make_errand(resident=zhang, assign_to=grid_worker)
    services.errand_advance(errand=errand, to=ErrandStatus.DELIVERING, by=grid_worker)

    response = browser.post(page_of(zhang), {"cancel": str(errand.pk)}, follow=True)

    errand.refresh_from_db()
    assert errand.status == ErrandStatus.DELIVERING
    assert "can no longer be cancelled here" in response.content.decode()


def test_another_resident_s_errand_cannot_be_cancelled(
        browser, zhang, home, community_secretary, make_errand):
    neighbour = person(community_secretary, home, "李明", relation="spouse")
    theirs = make_errand(resident=neighbour)

    for value in (str(theirs.pk), "abc", "", "²", "9" * 30):
        response = browser.post(page_of(zhang), {"cancel": value}, follow=True)
        assert "This request was not found." in response.content.decode()

    theirs.refresh_from_db()
    assert theirs.status == ErrandStatus.NEW


# The limit --------------------------------------------------------------------------------


@override_settings(ERRANDS_RESIDENT_POSTS_PER_HOUR=3)
def test_posts_are_limited_per_resident_and_the_form_keeps_what_was_typed(
        browser, zhang, home, community_secretary):
    for n in range(3):
        assert browser.post(page_of(zhang), {**GROCERIES, "details": f"第{n}次"}).status_code \
            == 302
    # Another link of the same resident counts too.
    response = browser.post(page_of(zhang, by_proxy=True), {**GROCERIES, "details": "第4次"})

    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many requests from this page in the last hour" in page
    assert "第4次" in page
    assert Errand.objects.filter(resident=zhang).count() == 3
    assert browser.post(page_of(zhang), {"cancel": "1"}).status_code == 429
    # Someone else is not held up.
    neighbour = person(community_secretary, home, "李明", relation="spouse")
    assert browser.post(page_of(neighbour), GROCERIES).status_code == 302


# The link on the follow-up thank-you page -------------------------------------------------


@pytest.fixture
def round_for(community_secretary):  # noqa: ANN001, ANN201
    def open_for(*residents: Resident):  # noqa: ANN202
        Tag.objects.create(slug="errands_link", name="errands_link").residents.add(*residents)
        campaign = make_campaign(community_secretary, community_secretary.area,
                                 target={"tags": ["errands_link"]}, starts_on=NOW.date())
        round_ = round_open(campaign=campaign, scheduled_for=NOW, now=NOW)
        clock.set(NOW + timedelta(minutes=20))
        return {c.resident_id: c for c in Contact.objects.filter(round=round_)}
    return open_for


def errand_links(response) -> list[str]:  # noqa: ANN001
    return re.findall(r'<a class="btn big errands-link" href="([^"]+)"',
                      response.content.decode())


@pytest.mark.parametrize("proxy_index", ["", "daughter"])
def test_the_thank_you_page_links_to_the_resident_s_errands_page(
        browser, zhang, round_for, proxy_index):
    """The link sent by SMS went to the resident's own phone, or to their proxy's."""
    contact = round_for(zhang)[zhang.pk]
    Contact.objects.filter(pk=contact.pk).update(proxy_index=proxy_index)

    done = browser.post(reverse("followup:answer", args=[contact_token(contact.pk)]),
                        {"fever": "no", "cough": "no"})

    assert done.status_code == 200
    assert "Need groceries, medicine, garbage taken out or a repair?" in done.content.decode()
    [link] = errand_links(done)
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert resident_from_token(token) == (zhang.pk, bool(proxy_index))
    assert browser.get(urlsplit(link).path).status_code == 200


def test_a_proxy_s_thank_you_page_links_to_each_page_as_the_proxy(
        browser, zhang, home, community_secretary, round_for):
    wife = person(community_secretary, home, "王秀英", relation="spouse")
    contacts = round_for(zhang, wife)
    Contact.objects.filter(pk__in=[c.pk for c in contacts.values()]).update(
        proxy_index="daughter")
    lead = min(contacts.values(), key=lambda c: c.pk)

    done = browser.post(reverse("followup:answer", args=[contact_token(lead.pk)]), {
        f"c{c.pk}-{q}": "no" for c in contacts.values() for q in ("fever", "cough")})

    assert done.status_code == 200
    links = errand_links(done)
    assert sorted(resident_from_token(link.rstrip("/").rsplit("/", 1)[1]) for link in links) \
        == sorted([(zhang.pk, True), (wife.pk, True)])
    page = done.content.decode()
    assert "Ask for help for 张**" in page and "Ask for help for 王**" in page
