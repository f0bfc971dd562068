"""The resident's own pass behind their errands link (no login): what it shows and hides,
the picture to save, a first pass asked for on the page, the household's pass, and the
links refused (forged, expired, reset, moved out)."""

from __future__ import annotations

import base64
import io
import re

import pytest
import zxingcpp
from django.test import Client
from django.urls import reverse
from PIL import Image

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.errands.resident_links import resident_token
from fangkong.errands.services import resident_links_reset
from fangkong.followup.channels.base import masked_name
from fangkong.isolation.services import isolation_start
from fangkong.lib import clock
from fangkong.passes.models import Pass
from fangkong.passes.services import household_pass_issue, pass_revoke
from fangkong.residents.models import Resident, ResidentStatus
from tests.passes.conftest import NOW, code_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture(autouse=True)
def pinned():
    clock.set(NOW)
    yield
    clock.reset()


@pytest.fixture
def browser() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def page_of(resident: Resident, *, by_proxy: bool = False) -> str:
    return reverse("passes:mine", args=[resident_token(resident.pk, by_proxy=by_proxy)])


def png_of(resident: Resident) -> str:
    return reverse("passes:mine_png", args=[resident_token(resident.pk)])


def read_png(content: bytes) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(content)))]


def assert_private(response) -> None:  # noqa: ANN001
    assert "no-store" in response["Cache-Control"]
    assert "noindex" in response["X-Robots-Tag"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_link_shows_the_pass_like_a_health_code(browser, resident, resident_pass):  # noqa: ANN001
    response = browser.get(page_of(resident))
    assert response.status_code == 200
    assert_private(response)
    html = response.content.decode()
    assert masked_name(resident.name) in html and resident.name not in html
    assert resident.household.label in html and resident.community.name in html
    assert 'class="pass-status green"' in html and "May pass." in html
    assert "data:image/png;base64," in html
    assert png_of(resident) in html and "Save as image" in html
    assert "<script" not in html  # works without JavaScript
    # The QR code on the page is the pass's.
    data = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert read_png(base64.b64decode(data)) == [code_of(resident_pass)]


def test_the_colour_follows_the_residents_status(browser, resident, resident_pass,
                                                 grid_worker):  # noqa: ANN001
    isolation_start(resident=resident, kind="isolation", starts_on=NOW.date(),
                    reason="密接", by=grid_worker)
    html = browser.get(page_of(resident)).content.decode()
    assert 'class="pass-status red"' in html and "may not leave" in html


def test_save_as_image_downloads_the_code_with_a_white_border(browser, resident,
                                                              resident_pass):  # noqa: ANN001
    response = browser.get(png_of(resident))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="pass.png"'
    assert_private(response)
    assert read_png(response.content) == [code_of(resident_pass)]
    image = Image.open(io.BytesIO(response.content)).convert("L")
    width, height = image.size
    border = [image.getpixel((x, y)) for x in range(width) for y in (0, height - 1)]
    border += [image.getpixel((x, y)) for y in range(height) for x in (0, width - 1)]
    assert set(border) == {255}


def test_a_resident_without_a_pass_asks_for_one_on_the_page(browser, resident):  # noqa: ANN001
    html = browser.get(page_of(resident)).content.decode()
    assert "You have no pass yet." in html and 'value="get"' in html
    assert not Pass.objects.exists()  # a GET (a chat app's preview) issues nothing
    assert browser.get(png_of(resident)).status_code == 404
    assert browser.post(page_of(resident), {"do": "get"}).status_code == 302
    assert browser.post(page_of(resident), {"do": "get"}).status_code == 302
    pass_ = Pass.objects.get(resident=resident)
    assert (pass_.version, pass_.issued_by) == (1, None)
    event = AuditEvent.objects.get(action=AuditAction.PASS_ISSUE)
    assert (event.actor_name, event.changes["via"]) == ("system", ["", "resident"])
    assert read_png(browser.get(png_of(resident)).content) == [code_of(pass_)]


def test_a_revoked_pass_is_not_issued_again_from_the_page(browser, resident, resident_pass,
                                                          grid_worker):  # noqa: ANN001
    pass_revoke(pass_=resident_pass, reason="内部原因", by=grid_worker)
    html = browser.get(page_of(resident)).content.decode()
    assert "ask your grid worker" in html and "内部原因" not in html
    assert "data:image/png" not in html and "Save as image" not in html
    browser.post(page_of(resident), {"do": "get"})
    assert Pass.objects.get(pk=resident_pass.pk).revoked_at is not None
    assert browser.get(png_of(resident)).status_code == 404


def test_the_household_pass_is_shown_too(browser, resident, resident_pass, grid_worker):  # noqa: ANN001
    household = household_pass_issue(household=resident.household, by=grid_worker)
    html = browser.get(page_of(resident)).content.decode()
    assert "Household pass" in html and html.count("data:image/png;base64,") == 2
    response = browser.get(png_of(resident) + "?of=household")
    assert response["Content-Disposition"] == 'attachment; filename="household-pass.png"'
    assert read_png(response.content) == [code_of(household)]


def test_the_proxys_link_says_whose_pass_it_is(browser, resident, resident_pass):  # noqa: ANN001
    html = browser.get(page_of(resident, by_proxy=True)).content.decode()
    assert "the person you look after" in html


def test_a_forged_link_is_refused(browser, resident, resident_pass):  # noqa: ANN001
    token = resident_token(resident.pk)
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for url in (reverse("passes:mine", args=[forged]),
                reverse("passes:mine_png", args=[forged]),
                reverse("passes:mine", args=["hello"])):
        response = browser.get(url)
        assert response.status_code == 404, url
        assert_private(response)
        assert resident.household.label not in response.content.decode()
    assert browser.post(reverse("passes:mine", args=[forged]), {"do": "get"}).status_code == 404


def test_an_expired_link_asks_for_a_new_one(browser, resident, resident_pass):  # noqa: ANN001
    url, png = page_of(resident), png_of(resident)
    clock.advance(days=31)
    response = browser.get(url)
    assert response.status_code == 410
    assert "ask your grid worker for a new link" in response.content.decode()
    assert browser.get(png).status_code == 410


def test_links_reset_by_the_worker_are_refused(browser, resident, resident_pass,
                                               grid_worker):  # noqa: ANN001
    url = page_of(resident)
    clock.advance(seconds=5)
    resident_links_reset(resident=resident, by=grid_worker)
    assert browser.get(url).status_code == 410
    clock.advance(seconds=1)
    assert browser.get(page_of(resident)).status_code == 200  # the new link works


def test_a_resident_no_longer_registered_is_refused(browser, resident, resident_pass):  # noqa: ANN001
    url = page_of(resident)
    Resident.objects.filter(pk=resident.pk).update(status=ResidentStatus.MOVED_OUT)
    response = browser.get(url)
    assert response.status_code == 410
    assert "no longer registered" in response.content.decode()
    assert browser.get(png_of(resident)).status_code == 410


def test_posts_need_the_csrf_token(resident):  # noqa: ANN001
    strict = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    assert strict.post(page_of(resident), {"do": "get"}).status_code == 403
    assert not Pass.objects.exists()


def test_the_errands_page_links_to_the_pass(browser, resident, resident_pass):  # noqa: ANN001
    token = resident_token(resident.pk)
    html = browser.get(reverse("errands:resident", args=[token])).content.decode()
    assert reverse("passes:mine", args=[token]) in html
    later = browser.get(reverse("passes:mine", args=[token])).content.decode()
    assert reverse("errands:resident", args=[token]) in later

