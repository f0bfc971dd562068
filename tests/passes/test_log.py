"""The passage log: who reads which passages (a grid worker their grid's residents, a
community its gates, a street its communities), the filters, the page's query count, and
the export (masked, stamped, audited)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.lib import clock
from fangkong.passes.log import LogFilter, passage_search, passages_for_user
from fangkong.passes.models import Gate, Pass, Passage, Refusal, Result
from fangkong.passes.scan import passage_record
from fangkong.passes.status import Colour, status_of_residents
from fangkong.residents.models import Resident
from tests.passes.conftest import NOW, code_of
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
URL = reverse("passes:log")


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


def record(gate, pass_, direction: str, *, minutes: int = 0, temperature: str = "36.5",  # noqa: ANN001
           guard=None) -> Passage:  # noqa: ANN001
    with clock.pinned(NOW + timedelta(minutes=minutes)):
        return passage_record(gate=gate, direction=direction, code=code_of(pass_),
                              temperature=temperature, guard=guard).passage


def green(area_field: str, area_id: int, *, not_household: int | None = None) -> Resident:
    """An active resident of the area whose pass would be green (not isolated, no fever
    alert open), in another household than `not_household`."""
    rows = (Resident.objects.filter(**{area_field: area_id}, status="active")
            .exclude(household_id=not_household).order_by("pk"))
    return next(r for r in rows[:50] if status_of_residents([r]).colour == Colour.GREEN)


@pytest.fixture
def world(city, gate, gate_guard, resident, resident_pass):  # noqa: ANN001
    """At the gate of the first community (东门): the grid worker's resident goes out and
    comes back, then a neighbour is refused with a fever; a resident of the second
    community (same street) is refused as not living here. At a gate of the second
    community its own resident goes out. Yesterday, one more passage at 东门. In the
    other street, one passage at its own gate."""
    other_grid = city.persona("other_grid_worker").area
    neighbour = green("grid_id", resident.grid_id, not_household=resident.household_id)
    outsider = green("grid_id", other_grid.pk)
    far = green("street_id", city.persona("other_street_officer").area_id)
    passes = {r.pk: Pass.objects.create(resident=r, issued_at=NOW - timedelta(days=1))
              for r in (neighbour, outsider, far)}
    second_gate = Gate.objects.create(community_id=other_grid.parent_id, name="南门",
                                      created_at=NOW)
    far_gate = Gate.objects.create(community_id=far.community_id, name="西门", created_at=NOW)
    rows = {
        "yesterday": record(gate, resident_pass, "out", minutes=-24 * 60 + 30, guard=gate_guard),
        "out": record(gate, resident_pass, "out", minutes=1, guard=gate_guard),
        "in": record(gate, resident_pass, "in", minutes=30, guard=gate_guard),
        "fever": record(gate, passes[neighbour.pk], "out", minutes=40, temperature="38.6",
                        guard=gate_guard),
        "outsider": record(gate, passes[outsider.pk], "in", minutes=50, guard=gate_guard),
        "second": record(second_gate, passes[outsider.pk], "out", minutes=60),
        "far": record(far_gate, passes[far.pk], "out", minutes=70),
    }
    return {"rows": rows, "resident": resident, "neighbour": neighbour,
            "outsider": outsider, "gate": gate, "second_gate": second_gate}


def today() -> LogFilter:
    day = timezone.localdate(NOW)
    return LogFilter(first=day, last=day)


def seen(user, filters: LogFilter | None = None) -> set[int]:  # noqa: ANN001
    return set(passage_search(user, filters or today()).values_list("pk", flat=True))


def ids(world, *names: str) -> set[int]:  # noqa: ANN001
    return {world["rows"][n].pk for n in names}


def test_the_world_is_as_described(world):  # noqa: ANN001
    rows = world["rows"]
    assert rows["fever"].refusal == Refusal.FEVER
    assert rows["outsider"].refusal == Refusal.OTHER_COMMUNITY
    assert all(rows[n].result == Result.PASSED for n in ("out", "in", "second", "far"))


def test_a_grid_worker_reads_only_the_passages_of_their_grids_residents(city, world,  # noqa: ANN001
                                                                        grid_worker):
    assert seen(grid_worker) == ids(world, "out", "in", "fever")
    assert seen(city.persona("other_grid_worker")) == ids(world, "outsider", "second")


def test_a_community_reads_the_passages_at_its_gates(world, community_worker,  # noqa: ANN001
                                                    community_secretary):
    expected = ids(world, "out", "in", "fever", "outsider")
    assert seen(community_worker) == expected
    assert seen(community_secretary) == expected


def test_a_street_and_the_district_read_their_subtree(city, world, street_officer):  # noqa: ANN001
    assert seen(street_officer) == ids(world, "out", "in", "fever", "outsider", "second")
    assert seen(city.persona("admin")) == ids(world, "out", "in", "fever", "outsider",
                                              "second", "far")
    assert seen(city.persona("other_street_officer")) == ids(world, "far")


@pytest.mark.parametrize("persona", ["gate_guard", "volunteer"])
def test_guards_and_volunteers_read_no_log(city, world, persona):  # noqa: ANN001
    user = city.persona(persona)
    assert not passages_for_user(user).exists()
    client = make_client(user, language="en")
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"format": "csv"}).status_code == 403


def test_the_filters(world, community_secretary):  # noqa: ANN001
    day = timezone.localdate(NOW)
    yesterday = day - timedelta(days=1)
    base = {"first": day, "last": day}
    user = community_secretary
    assert seen(user, LogFilter(first=yesterday, last=yesterday)) == ids(world, "yesterday")
    assert seen(user, LogFilter(first=yesterday, last=day)) == ids(
        world, "yesterday", "out", "in", "fever", "outsider")
    assert seen(user, LogFilter(**base, direction="in")) == ids(world, "in", "outsider")
    assert seen(user, LogFilter(**base, result="refused")) == ids(world, "fever", "outsider")
    assert seen(user, LogFilter(**base, refusal="fever")) == ids(world, "fever")
    assert seen(user, LogFilter(**base, gate_id=world["second_gate"].pk)) == set()
    assert seen(user, LogFilter(**base, q=world["resident"].name)) >= ids(world, "out", "in")
    household = world["neighbour"].household
    assert world["rows"]["fever"].pk in seen(user, LogFilter(**base, q=household.label))
    room = f"{household.building.number}-{household.unit}-{household.room}"
    assert seen(user, LogFilter(**base, q=room)) == ids(world, "fever")


def test_a_grid_worker_searches_only_within_their_residents(city, world):  # noqa: ANN001
    outsider = world["outsider"]
    grid_worker = city.persona("grid_worker")
    assert seen(grid_worker, LogFilter(**vars(today()) | {"q": outsider.name})) == set()


def test_the_page_lists_today_masked_with_the_reason(world, community_secretary):  # noqa: ANN001
    response = make_client(community_secretary, language="en").get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    resident = world["resident"]
    assert resident.name not in text and resident.name[0] + "*" in text
    assert resident.phone_masked not in text and resident.id_number_masked not in text
    assert "Fever at the gate" in text and "38.6 °C" in text
    assert "Lives in another community" in text
    assert "4 passages from" in text


def test_the_page_filters_by_the_query_string(world, community_secretary):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    text = client.get(URL, {"refusal": "fever"}).content.decode()
    assert "1 passage from" in text
    text = client.get(URL, {"first": "2026-12-02", "last": "2026-11-01"}).content.decode()
    assert "The last day comes before the first." in text
    text = client.get(URL, {"first": "2026-01-01", "last": "2026-12-01"}).content.decode()
    assert "Choose at most 31 days at a time." in text


def _bulk(gate, resident, n: int) -> None:  # noqa: ANN001
    Passage.objects.bulk_create([
        Passage(gate=gate, community_id=gate.community_id, at=NOW - timedelta(minutes=i),
                direction="in", resident=resident, grid_id=resident.grid_id,
                household_id=resident.household_id, temperature="36.6", result="passed",
                received_at=NOW)
        for i in range(n)])


def test_the_page_reads_a_fixed_number_of_queries(gate, resident, gate_guard,  # noqa: ANN001
                                                  community_secretary):
    client = make_client(community_secretary, language="en")
    _bulk(gate, resident, 3)
    client.get(URL)
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).status_code == 200
    _bulk(gate, resident, 60)
    with CaptureQueriesContext(connection) as many:
        response = client.get(URL)
    assert len(many) == len(few) <= 8, [q["sql"] for q in many.captured_queries]
    assert "Page 1 of 2" in response.content.decode()
    assert "Page 2 of 2" in client.get(URL, {"page": 2}).content.decode()


def test_the_export_is_masked_stamped_and_audited(world, community_secretary):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    response = client.post(URL, {"first": "2026-12-01", "last": "2026-12-01",
                                 "result": "refused", "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    cells = [str(c) for row in book.active.iter_rows(values_only=True) for c in row if c]
    text = " ".join(cells)
    neighbour, outsider = world["neighbour"], world["outsider"]
    assert neighbour.name not in text and neighbour.name[0] + "*" in text
    assert outsider.name not in text
    for r in (neighbour, outsider):
        assert r.phone_masked not in text and r.id_number_masked not in text
    assert "Fever at the gate" in text and "Lives in another community" in text
    assert "community_secretary" in text or "Community Secretary" in text
    event = AuditEvent.objects.get(action=AuditAction.EXPORT, object_type="passages")
    assert event.changes["rows"] == ["", 2] and event.changes["result"] == ["", "refused"]
    assert event.area_path == community_secretary.area.path


def test_the_csv_export_of_a_grid_worker_holds_their_residents_only(world, grid_worker):  # noqa: ANN001
    client = make_client(grid_worker, language="en")
    response = client.post(URL, {"first": "2026-12-01", "last": "2026-12-01",
                                 "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content)
                                       .decode("utf-8-sig"))))
    text = " ".join(" ".join(r) for r in rows)
    assert "Lives in another community" not in text and "南门" not in text
    assert world["resident"].name not in text
    assert AuditEvent.objects.get(action=AuditAction.EXPORT).changes["rows"] == ["", 3]


def test_a_bad_export_request_says_why_and_writes_nothing(world, community_secretary):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    response = client.post(URL, {"first": "2026-12-01", "last": "2026-12-01",
                                 "format": "pdf"})
    assert response.status_code == 200
    assert "Choose the format." in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()
