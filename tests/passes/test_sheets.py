"""A building's printable pass cards: the passes issued for everyone without one, the PDF
(8 cards an A4 page) rendered with pdfium and every QR code read back with zxing, the
download audited and never cached, and the built-in CJK font when no font is installed."""

from __future__ import annotations

from datetime import timedelta

import pypdfium2 as pdfium
import pytest
import zxingcpp
from django.urls import reverse

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.lib import clock
from fangkong.passes import sheets
from fangkong.passes.models import Pass
from fangkong.passes.services import (
    building_passes_issue,
    household_pass_issue,
    pass_issue,
    pass_revoke,
)
from fangkong.places.models import Building
from fangkong.places.services import building_create, household_create
from fangkong.residents.models import Resident, ResidentStatus
from fangkong.residents.services import ResidentInput, resident_create
from tests.passes.conftest import NOW, code_of
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
DPI = 200
NAMES = ["张小华", "王秀英", "李明", "欧阳明华", "赵四", "钱多多", "孙悟空", "周杰", "吴刚",
         "郑和", "冯唐"]


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def building(grid_worker, community_secretary) -> Building:  # noqa: ANN001
    """安康苑9栋: 11 people in 6 rooms of 2 units."""
    building = building_create(grid=grid_worker.area, number=99, estate="安康苑", name="9栋")
    rooms = [household_create(building=building, unit=u, room=r)
             for u, r in [(1, "101"), (1, "102"), (1, "1001"), (2, "201"), (2, "202"),
                          (2, "301")]]
    for n, name in enumerate(NAMES):
        resident_create(by=community_secretary, data=ResidentInput(
            household=rooms[n % len(rooms)], name=name, relation="self" if n < 6 else "child"))
    return building


def decoded(pdf: bytes) -> tuple[int, list[str]]:
    """(pages, every QR code's text) of a PDF, read as a scanner would."""
    document = pdfium.PdfDocument(pdf)
    try:
        texts: list[str] = []
        for page in document:
            image = page.render(scale=DPI / 72).to_pil()
            texts += [barcode.text for barcode in zxingcpp.read_barcodes(image)]
            page.close()
        return len(document), texts
    finally:
        document.close()


def test_the_sheet_prints_every_standing_pass_and_every_code_reads_back(
        building, grid_worker):  # noqa: ANN001
    people = list(Resident.objects.filter(household__building=building).order_by("pk"))
    assert building_passes_issue(building=building, by=grid_worker) == len(NAMES)
    assert building_passes_issue(building=building, by=grid_worker) == 0  # idempotent
    household = people[0].household
    household_pass = household_pass_issue(household=household, by=grid_worker)
    again = pass_issue(resident=people[1], by=grid_worker)  # version 2: only it printed
    pass_revoke(pass_=Pass.objects.get(resident=people[2]), reason="卡丢了", by=grid_worker)
    Resident.objects.filter(pk=people[3].pk).update(status=ResidentStatus.MOVED_OUT)
    expired = Pass.objects.get(resident=people[4])
    expired.expires_on = NOW.date() - timedelta(days=1)
    expired.save(update_fields=["expires_on"])
    standing = [Pass.objects.get(resident=p) for p in people if p not in people[2:5]]
    expected = sorted([code_of(p) for p in standing] + [code_of(household_pass)])
    assert code_of(again) in expected and len(expected) == 9

    response = make_client(grid_worker, language="en").get(
        reverse("passes:building_sheet", args=[building.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].startswith("attachment;")
    pages, codes = decoded(response.content)
    assert pages == 2  # 9 cards, 8 a page
    assert sorted(codes) == expected
    event = AuditEvent.objects.get(action=AuditAction.EXPORT, object_type="pass_sheet")
    assert (event.actor_id, event.object_id, event.changes["cards"]) == (
        grid_worker.pk, str(building.pk), ["", 9])


def test_cards_are_in_room_order_with_masked_names(building, grid_worker):  # noqa: ANN001
    building_passes_issue(building=building, by=grid_worker)
    cards = sheets.building_cards(building)
    rooms = [card.room for card in cards]
    assert rooms == sorted(rooms, key=lambda r: ("2单元" in r, len(r), r))
    assert rooms[0] == "安康苑9栋1单元101"
    assert {card.name for card in cards} >= {"张*华", "李*", "欧**华"}
    assert all(card.community == building.community.name for card in cards)
    assert not any(name in card.name for card in cards for name in NAMES)


def test_issuing_the_missing_passes_from_the_building_page(building, grid_worker):  # noqa: ANN001
    first = Resident.objects.filter(household__building=building).order_by("pk").first()
    pass_revoke(pass_=pass_issue(resident=first, by=grid_worker), reason="停用",
                by=grid_worker)
    client = make_client(grid_worker, language="en")
    url = reverse("passes:building_sheet", args=[building.pk])
    response = client.post(url, {"do": "issue"}, follow=True)
    assert f"Issued {len(NAMES) - 1} passes." in response.content.decode()
    assert Pass.objects.filter(resident__household__building=building).count() == len(NAMES)
    assert Pass.objects.get(resident=first).revoked_at is not None  # stays revoked
    again = client.post(url, {"do": "issue"}, follow=True)
    assert "Everyone registered in this building has a pass." in again.content.decode()


def test_the_sheet_needs_the_building_in_the_area_then_the_role(
        building, other_grid_worker, street_officer):  # noqa: ANN001
    url = reverse("passes:building_sheet", args=[building.pk])
    assert make_client(other_grid_worker).get(url).status_code == 404
    assert make_client(other_grid_worker).post(url, {"do": "issue"}).status_code == 404
    assert make_client(street_officer).get(url).status_code == 403
    assert make_client(street_officer).post(url, {"do": "issue"}).status_code == 403
    assert make_client().get(url).status_code == 302
    assert not Pass.objects.exists()
    assert not AuditEvent.objects.filter(object_type="pass_sheet").exists()


def test_a_building_without_passes_prints_one_page_saying_so(building, grid_worker):  # noqa: ANN001
    response = make_client(grid_worker).get(
        reverse("passes:building_sheet", args=[building.pk]))
    assert decoded(response.content) == (1, [])


def test_without_a_cjk_font_installed_the_built_in_font_is_used(monkeypatch, settings):  # noqa: ANN001
    settings.PASSES_SHEET_FONT = ""
    monkeypatch.setattr(sheets, "FONT_CANDIDATES", (("/nonexistent/font.ttc", 0),))
    sheets.font_name.cache_clear()
    try:
        assert sheets.font_name() == sheets.CID_FALLBACK
        card = sheets.Card(token="FK1.1.1.AAAAAAAAAAAAAAAAAAAAAA", community="幸福里社区",
                           name="张*华", room="3栋2单元501", issued_on=NOW.date(), version=1)
        pdf = sheets.sheet_pdf([card], title="3栋 出入证", printed_by="t", printed_at=NOW)
    finally:
        sheets.font_name.cache_clear()
    assert b"STSong-Light" in pdf
    assert decoded(pdf) == (1, [card.token])


def test_an_installed_truetype_font_is_embedded():
    sheets.font_name.cache_clear()
    name = sheets.font_name()
    card = sheets.Card(token="FK1.1.1.AAAAAAAAAAAAAAAAAAAAAA", community="幸福里社区",
                       name="张*华", room="3栋2单元501", issued_on=NOW.date(), version=3)
    pdf = sheets.sheet_pdf([card] * 17, title="3栋 出入证", printed_by="t", printed_at=NOW)
    pages, codes = decoded(pdf)
    assert (pages, len(codes)) == (3, 17)
    if name == sheets.EMBEDDED:  # a CJK TrueType font is on this machine: in the file
        assert b"/FontFile2" in pdf
