"""The errand figures of an area: who opens them (404 outside one's area), the numbers on a
small constructed set, a fixed number of queries, and the export (readable, the right
rows, names masked, no phone or ID number, audited)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.errands import services
from fangkong.errands.figures import area_errand_figures, quantile
from fangkong.errands.models import Errand, ErrandStatus
from fangkong.errands.services import ErrandInput, ItemInput
from fangkong.lib import clock, crypto
from fangkong.places.models import Area, AreaKind
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
MEDICINE = ErrandInput(kind="medicine", items=[ItemInput(name="布洛芬", quantity=1)])
GROCERIES = ErrandInput(kind="groceries", details="大米一袋")


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


def url(area: Area) -> str:
    return reverse("errands:figures", args=[area.pk])


def ask(resident, by, data: ErrandInput = MEDICINE, *, at: datetime = NOW,  # noqa: ANN001
        urgency: str = "normal") -> Errand:
    data = ErrandInput(kind=data.kind, details=data.details, items=data.items, urgency=urgency)
    with clock.pinned(at):
        return services.errand_create(resident=resident, data=data, source="phone", by=by)


def deliver(errand: Errand, *, by, helper, at: datetime,  # noqa: ANN001
            hours: float | None = None) -> Errand:
    """Given to `helper`, who buys, goes and hands over with the code at `at`."""
    with clock.pinned(at):
        errand = services.errand_assign(errand=errand, to=helper, by=by)
        errand = services.errand_advance(errand=errand, to=ErrandStatus.BUYING, by=helper)
        errand = services.errand_advance(errand=errand, to=ErrandStatus.DELIVERING, by=helper)
        return services.errand_deliver(errand=errand, by=helper, code=errand.handover_code,
                                       hours=hours)


@pytest.fixture
def resident(city, grid_worker):  # noqa: ANN001, ANN201
    return city.resident_in(grid_worker.area)


@pytest.fixture
def constructed(city, resident, grid_worker, other_grid_worker, make_volunteer):  # noqa: ANN001, ANN201
    """In the grid worker's grid: three open errands (one urgent and overdue, one flagged,
    one given to a volunteer), three delivered in the last 30 days (after 2 h and 4 h by
    the volunteer with 1.5 h and 2 h spent, after 10 h by the grid worker), one delivered
    40 days ago, one failed, one cancelled. In another community: one open errand."""
    volunteer = make_volunteer(name="志愿者小周").user
    late = ask(resident, grid_worker, urgency="urgent", at=NOW - timedelta(hours=3))
    flagged = ask(resident, grid_worker, ErrandInput(
        kind="medicine", items=[ItemInput(name="退烧药", quantity=10)]))
    given = ask(resident, grid_worker, GROCERIES)
    given = services.errand_assign(errand=given, to=volunteer, by=grid_worker)
    delivered = []
    for days_ago, after, helper, hours in ((5, 2, volunteer, 1.5), (3, 4, volunteer, 2.0),
                                           (2, 10, grid_worker, None), (40, 1, volunteer, 3.0)):
        asked_at = NOW - timedelta(days=days_ago)
        errand = ask(resident, grid_worker, GROCERIES, at=asked_at)
        delivered.append(deliver(errand, by=grid_worker, helper=helper, hours=hours,
                                 at=asked_at + timedelta(hours=after)))
    failed = ask(resident, grid_worker, at=NOW - timedelta(days=4))
    with clock.pinned(NOW - timedelta(days=3)):
        services.errand_fail(errand=failed, by=grid_worker, reason="药店缺货")
    cancelled = ask(resident, grid_worker, GROCERIES, at=NOW - timedelta(days=1))
    with clock.pinned(NOW - timedelta(hours=20)):
        services.errand_cancel(errand=cancelled, by=grid_worker, reason="家属已买")
    elsewhere = ask(city.resident_in(other_grid_worker.area), other_grid_worker, GROCERIES,
                    urgency="urgent", at=NOW - timedelta(hours=5))
    return {"late": late, "flagged": flagged, "given": given, "delivered": delivered,
            "failed": failed, "cancelled": cancelled, "elsewhere": elsewhere,
            "volunteer": volunteer}


# Access -----------------------------------------------------------------------------------


def test_each_role_opens_the_figures_of_its_own_area_only(city, grid_worker,
                                                          community_secretary, street_officer,
                                                          admin_user):
    grid, community = grid_worker.area, community_secretary.area
    street, district = street_officer.area, admin_user.area
    opens = {
        "grid_worker": [grid],
        "community_secretary": [community, grid],
        "community_worker": [community, grid],
        "street_officer": [street, community, grid],
        "admin": [district, street, community],  # reads care figures, handles no errand
    }
    closed = {
        "grid_worker": [community, street],
        "community_secretary": [street, district],
        "community_worker": [street],
        "street_officer": [district, city.root],
        "admin": [city.root],
        "other_grid_worker": [grid, community],
        "other_street_officer": [street, community],
        "volunteer": [community, grid],
        "gate_guard": [community, grid],
    }
    for persona, areas in opens.items():
        client = make_client(city.persona(persona))
        for area in areas:
            assert client.get(url(area)).status_code == 200, (persona, area.kind)
    for persona, areas in closed.items():
        client = make_client(city.persona(persona))
        for area in areas:
            assert client.get(url(area)).status_code == 404, (persona, area.kind)
            response = client.post(url(area), {"first": "2026-11-01", "last": "2026-12-01",
                                               "format": "csv"})
            assert response.status_code == 404, (persona, area.kind)
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()
    anonymous = make_client().get(url(community))
    assert anonymous.status_code == 302 and reverse("accounts:login") in anonymous["Location"]


def test_an_unknown_area_is_not_found(community_secretary):
    client = make_client(community_secretary)
    assert client.get(reverse("errands:figures", args=[999_999])).status_code == 404


# The numbers ------------------------------------------------------------------------------


def test_the_figures_of_a_community_count_the_constructed_set(community_secretary,
                                                              constructed):
    response = make_client(community_secretary, language="en").get(
        url(community_secretary.area))
    assert response.status_code == 200
    f = response.context["figures"]
    assert (f.open, f.overdue, f.flagged) == (3, 1, 1)
    assert dict((s, n) for s, _label, n in f.by_status) == {
        "new": 2, "assigned": 1, "buying": 0, "delivering": 0}
    assert {k: (n, late) for k, _label, n, late in f.by_kind} == {
        "groceries": (1, 0), "medicine": (2, 1), "garbage": (0, 0), "repair": (0, 0),
        "other": (0, 0)}
    # The 30 days: the delivery of 40 days ago is left out, its asking too.
    assert (f.asked, f.delivered, f.failed, f.cancelled) == (8, 3, 1, 1)
    assert f.median_hours == pytest.approx(4.0)
    assert f.p90_hours == pytest.approx(8.8)  # 4 + (10 - 4) * 0.8
    assert (f.volunteer_hours, f.volunteer_tasks) == (Decimal("3.5"), 2)
    helpers = [(h.name, h.tasks, h.hours, h.is_volunteer) for h in f.helpers]
    assert helpers == [("志愿者小周", 2, Decimal("3.5"), True),
                       ("Grid Worker", 1, Decimal("0"), False)]
    # A community's rows below are its grids, every one, with their open and overdue.
    assert f.below_kind == AreaKind.GRID
    rows = {row.area.pk: (row.open, row.overdue) for row in f.below}
    grid_id = constructed["late"].grid_id
    assert rows[grid_id] == (3, 1)
    assert set(rows) == set(Area.objects.filter(parent=community_secretary.area)
                            .values_list("pk", flat=True))
    body = response.content.decode()
    assert "Errand figures" in body and "8.8 h" in body and 'href="/errands/"' in body


def test_a_street_lists_every_community_and_a_district_only_those_with_open_errands(
        street_officer, admin_user, constructed):
    late, elsewhere = constructed["late"], constructed["elsewhere"]
    street = make_client(street_officer).get(url(street_officer.area)).context["figures"]
    assert street.below_kind == AreaKind.COMMUNITY
    communities = list(Area.objects.filter(parent=street_officer.area)
                       .order_by("sort_order", "path"))
    assert [row.area for row in street.below] == communities
    counts = {row.area.pk: (row.open, row.overdue) for row in street.below}
    assert counts[late.community_id] == (3, 1)
    district = make_client(admin_user).get(url(admin_user.area)).context["figures"]
    # Worst first: the other community's one overdue errand is as late, but fewer open.
    assert [(r.area.pk, r.open, r.overdue) for r in district.below] == [
        (late.community_id, 3, 1), (elsewhere.community_id, 1, 1)]
    assert district.open == 4 and district.overdue == 2 and district.below_hidden == 0


def test_a_grid_has_no_rows_below_and_an_empty_area_counts_zero(grid_worker,
                                                                 other_grid_worker):
    f = area_errand_figures(other_grid_worker.area)
    assert (f.open, f.overdue, f.delivered, f.median_hours, f.p90_hours) == (0, 0, 0, None,
                                                                             None)
    assert f.below_kind is None and f.below == [] and f.helpers == []
    assert make_client(grid_worker).get(url(grid_worker.area)).status_code == 200


def test_quantile_interpolates_between_ranks():
    assert quantile([], 0.5) is None
    assert quantile([3.0], 0.9) == 3.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([2.0, 4.0, 10.0], 0.9) == pytest.approx(8.8)


def test_the_page_takes_a_fixed_number_of_queries(street_officer, community_secretary,
                                                  resident, grid_worker, make_volunteer):
    volunteer = make_volunteer(name="志愿者小陈").user
    pages = [(street_officer, url(street_officer.area)),
             (community_secretary, url(community_secretary.area))]
    clients = [(make_client(user), page) for user, page in pages]

    def counts() -> list[int]:
        seen = []
        for client, page in clients:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(page).status_code == 200
            seen.append(len(queries))
        return seen

    counts()  # the first request of a client settles its session
    before = counts()
    for n in range(12):
        errand = ask(resident, grid_worker, GROCERIES, at=NOW - timedelta(days=n % 6),
                     urgency="urgent" if n % 3 == 0 else "normal")
        if n % 2:
            deliver(errand, by=grid_worker, helper=volunteer if n % 4 == 1 else grid_worker,
                    at=errand.created_at + timedelta(hours=n), hours=n / 2)
    assert counts() == before
    assert max(before) <= 12


# The export -------------------------------------------------------------------------------


def _sheet(response) -> list[list]:  # noqa: ANN001
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return [list(r) for r in book.active.iter_rows(values_only=True)]


def test_the_export_lists_the_errands_of_the_days_masked_and_is_audited(
        community_secretary, resident, constructed):
    response = make_client(community_secretary, language="en").post(
        url(community_secretary.area), {"first": "2026-11-10", "last": "2026-12-01",
                                        "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert "20261110-20261201.xlsx" in response["Content-Disposition"]
    rows = _sheet(response)
    assert "2026-11-10" in rows[0][0]
    assert rows[2] == ["No.", "Asked", "Kind", "Urgency", "Status", "Community", "Grid",
                       "Address", "Resident", "Helper", "Closed", "Hours spent",
                       "Why it could not be done"]
    data = [r for r in rows[3:] if isinstance(r[0], int)]
    # Asked in those days and in the community: not the one of 40 days ago, not elsewhere.
    expected = {e.pk for e in Errand.objects.filter(community=community_secretary.area,
                                                    created_at__gte=NOW - timedelta(days=21))}
    assert {r[0] for r in data} == expected and len(data) == 8
    by_id = {r[0]: r for r in data}
    failed = by_id[constructed["failed"].pk]
    assert failed[2:5] == ["Medicine", "Within a day", "Could not be done"]
    assert failed[12] == "药店缺货"
    done = by_id[constructed["delivered"][0].pk]
    assert (done[4], done[9], done[11]) == ("Delivered", "志愿者小周", 1.5)
    assert isinstance(done[1], datetime) and isinstance(done[10], datetime)
    household = resident.household
    assert done[7] == household.label
    masked = done[8]
    assert masked != resident.name and masked[0] == resident.name[0] and "*" in masked
    text = " ".join(str(c) for r in rows for c in r if c is not None)
    assert resident.name not in text
    phone = crypto.unseal(resident.phone_sealed, purpose="phone")
    id_number = crypto.unseal(resident.id_number_sealed, purpose="id_number")
    assert phone not in text and phone[-4:] not in text and id_number not in text
    assert "Community Secretary" in text  # the stamp names the exporter
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert (event.object_type, event.object_id, event.area_path) == (
        "errands", str(community_secretary.area.pk), community_secretary.area.path)
    assert event.changes == {"from": ["", "2026-11-10"], "to": ["", "2026-12-01"],
                             "rows": ["", 8], "format": ["", "xlsx"]}


def test_the_export_downloads_as_csv_for_a_street(street_officer, constructed):
    response = make_client(street_officer).post(
        url(street_officer.area), {"first": "2026-10-01", "last": "2026-12-01",
                                   "format": "csv"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    ids = {int(r[0]) for r in rows if r and r[0].isdigit()}
    street_errands = Errand.objects.filter(street=street_officer.area)
    assert ids == set(street_errands.values_list("pk", flat=True))
    assert AuditEvent.objects.get(action=AuditAction.EXPORT).changes["rows"] == ["", len(ids)]


def test_a_bad_export_form_downloads_nothing(community_secretary, constructed):
    client = make_client(community_secretary)
    target = url(community_secretary.area)
    for form in ({}, {"first": "2026-11-01", "last": "2026-12-01", "format": "pdf"},
                 {"first": "2026-12-01", "last": "2026-11-01", "format": "csv"},
                 {"first": "2025-01-01", "last": "2026-12-01", "format": "csv"},
                 {"first": "x", "last": "2026-12-01", "format": "csv"}):
        response = client.post(target, form)
        assert response.status_code == 302 and response.url == target, form
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_the_page_offers_the_last_30_days_for_download(community_secretary):
    response = make_client(community_secretary).get(url(community_secretary.area))
    form = response.context["export_form"]
    assert (form.initial["first"], form.initial["last"]) == (date(2026, 11, 2),
                                                             date(2026, 12, 1))
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()
