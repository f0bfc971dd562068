"""The round table export (随访日报表) and the resident lists behind it: layout, figures,
scope, masking, audit and the formula guard, read back from the files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied
from python_calamine import CalamineWorkbook

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.followup.alerts import alert_resolve
from fangkong.followup.answers import contacts_answer
from fangkong.followup.exports import export_round_residents, export_round_table
from fangkong.followup.models import (
    Alert,
    AlertOutcome,
    Contact,
    ContactState,
    Round,
)
from fangkong.followup.rounds import round_close, round_open
from fangkong.followup.tables import round_table
from fangkong.lib import crypto
from fangkong.places.models import Area, AreaKind, Building, Household
from fangkong.residents.models import Resident
from tests.followup.conftest import at, make_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

FINE = {"fever": False, "cough": False, "symptoms": []}
FEVER = {"fever": True, "temperature": Decimal("38.5"), "cough": False, "symptoms": []}
COUGH = {"fever": False, "cough": True, "symptoms": []}

# Round table columns (1-based, as in the sheet).
AREA, TARGETED, WEB, SMS, CALL, VISIT, REACHED, RATE = 2, 3, 4, 5, 6, 7, 8, 9
UNREACHED, WAITING, REFUSED, ABNORMAL, HIGH, OPEN, RESOLVED = 10, 11, 12, 13, 14, 15, 16
COUNTS = [c for c in range(TARGETED, RESOLVED + 1) if c != RATE]
FIRST_DATA_ROW = 5  # title, subtitle, two header rows


@dataclass
class Story:
    """A closed round of the secretary's community, split into two grids: in the grid
    worker's grid one answer per channel, one fever (resolved alert), one refusal; in the
    other grid one normal answer and one cough from a resident named "=cmd"; everyone else
    not reached."""

    round: Round
    grid: Area
    other_grid: Area
    fever: Contact
    cough: Contact


def _second_grid(community: Area, grid: Area) -> Area:
    """Split the community (one grid in the test city): its first building moves, with its
    households and residents, into a new grid."""
    second = Area.objects.create(kind=AreaKind.GRID, name="第2网格", parent=community,
                                 path=f"{community.path}.98", depth=grid.depth)
    building = Building.objects.filter(grid=grid).order_by("pk").first()
    Building.objects.filter(pk=building.pk).update(grid=second)
    Household.objects.filter(building=building).update(grid=second)
    Resident.objects.filter(household__building=building).update(grid=second)
    return second


def _answer(contact: Contact, given: dict, channel: str) -> None:
    contacts_answer([(contact, given, channel)], now=at(9, 30))


@pytest.fixture
def story(community_secretary, community, grid_worker, pinned_clock,  # noqa: ANN001, ANN201
          transports):
    assert grid_worker.area.parent_id == community.pk
    _second_grid(community, grid_worker.area)
    campaign = make_campaign(community_secretary, community)
    round_ = round_open(campaign=campaign, scheduled_for=at(9, 0), now=at(8, 0))
    contacts = (Contact.objects.filter(round=round_, resident__phone_index__isnull=False)
                .select_related("round", "round__campaign").order_by("pk"))
    mine = list(contacts.filter(grid=grid_worker.area)[:5])
    others = list(contacts.exclude(grid=grid_worker.area)[:2])
    for contact, channel in zip(mine[:4], ("web", "sms", "voice", "visit"), strict=True):
        _answer(contact, FEVER if channel == "voice" else FINE, channel)
    Contact.objects.filter(pk=mine[4].pk).update(state=ContactState.OPTED_OUT)
    _answer(others[0], FINE, "web")
    _answer(others[1], COUGH, "sms")
    Resident.objects.filter(pk=others[1].resident_id).update(name="=cmd")
    fever_alert = Alert.objects.get(contact=mine[2], rule_key="fever")
    alert_resolve(alert=fever_alert, by=community_secretary, outcome=AlertOutcome.FEVER_CLINIC,
                  note="已送发热门诊")
    round_close(round_=round_, now=at(15, 1))
    return Story(round=round_, grid=grid_worker.area, other_grid=others[1].grid,
                 fever=mine[2], cough=others[1])


def _sheet(export):  # noqa: ANN001, ANN202
    return openpyxl.load_workbook(io.BytesIO(export.file.read())).active


def _values(sheet) -> list[list[object]]:  # noqa: ANN001
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _csv(export) -> list[list[str]]:  # noqa: ANN001
    body = export.file.read()
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _calamine(export) -> list[list[object]]:  # noqa: ANN001
    return CalamineWorkbook.from_filelike(io.BytesIO(export.file.read())).get_sheet_by_index(
        0).to_python()


def _table(by, story: Story, area: Area, fmt: str = "xlsx"):  # noqa: ANN001, ANN202
    return export_round_table(by=by, rounds=[story.round], area=area, title_when="2026-11-30",
                              fmt=fmt)


def _residents(by, story: Story, area: Area, which: str = "all",  # noqa: ANN001, ANN202
               **kwargs):  # noqa: ANN003
    return export_round_residents(by=by, round_=story.round, area=area, which=which,
                                  fmt=kwargs.pop("fmt", "xlsx"), **kwargs)


# --- the round table ----------------------------------------------------------------------

def test_round_table_layout_has_the_title_and_merged_header_groups(
        community_secretary, community, story):  # noqa: ANN001
    export = _table(community_secretary, story, community)
    assert export.filename.endswith("_20261130.xlsx") and export.filename.startswith(
        community.name)
    sheet = _sheet(export)
    assert sheet["A1"].value == (f"{community.name} {story.round.campaign.name} follow-up "
                                 "daily report 2026-11-30")
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {"D3:I3", "O3:P3", "A3:A4", "B3:B4", "C3:C4", "J3:J4", "N3:N4"} <= merged
    assert sheet["D3"].value == "Followed up" and sheet["O3"].value == "Alerts"
    assert [sheet.cell(4, c).value for c in range(WEB, RATE + 1)] == [
        "Web", "SMS", "Call", "Visit", "Total", "Follow-up rate (%)"]
    assert [sheet.cell(4, c).value for c in (OPEN, RESOLVED)] == ["Not handled", "Handled"]
    ungrouped = (1, AREA, TARGETED, UNREACHED, WAITING, REFUSED, ABNORMAL, HIGH)
    assert [sheet.cell(3, c).value for c in ungrouped] == [
        "No.", "Area", "Residents to follow up", "Not reached", "To be contacted", "Refused",
        "Abnormal residents", "Of which high risk"]


def test_round_table_rows_and_total_match_the_live_table(community_secretary, community,
                                                         story):  # noqa: ANN001
    rows, total = round_table([story.round], community)
    values = _values(_sheet(_table(community_secretary, story, community)))
    data = values[FIRST_DATA_ROW - 1:FIRST_DATA_ROW - 1 + len(rows)]
    total_row = values[FIRST_DATA_ROW - 1 + len(rows)]
    assert [r[0] for r in data] == list(range(1, len(rows) + 1))
    assert [r[AREA - 1] for r in data] == [r.name for r in rows]
    assert total_row[0] is None and total_row[AREA - 1] == "Total"
    for column in COUNTS:
        assert total_row[column - 1] == sum(r[column - 1] for r in data), column
    expected_total = [total.targeted, total.by_channel["web"], total.by_channel["sms"],
                      total.by_channel["voice"], total.by_channel["visit"], total.answered,
                      total.reached_pct, total.unreached, total.pending, total.opted_out,
                      total.abnormal, total.high, total.alerts_open, total.alerts_resolved]
    assert total_row[TARGETED - 1:RESOLVED] == expected_total
    assert total_row[TARGETED - 1] == Contact.objects.filter(round=story.round).count()
    assert total_row[RATE - 1] == round(100 * 6 / total.targeted)


def test_round_table_figures_per_area(community_secretary, community, story):  # noqa: ANN001
    values = _values(_sheet(_table(community_secretary, story, community)))
    by_name = {r[AREA - 1]: r for r in values[FIRST_DATA_ROW - 1:] if r[0] is not None}
    mine = by_name[story.grid.name]
    asked = Contact.objects.filter(round=story.round, grid=story.grid).count()
    assert mine[TARGETED - 1] == asked
    assert mine[WEB - 1:RATE - 1] == [1, 1, 1, 1, 4]
    assert mine[RATE - 1] == round(100 * 4 / asked)
    unreached = asked - 5
    assert mine[UNREACHED - 1:HIGH] == [unreached, 0, 1, 1, 1]
    # Each resident not reached raised an alert, the fever one two ("发热" resolved,
    # "自述发热" open).
    assert mine[OPEN - 1:RESOLVED] == [unreached + 1, 1]
    other = by_name[story.other_grid.name]
    assert other[WEB - 1:RATE - 1] == [1, 1, 0, 0, 2]
    assert other[ABNORMAL - 1:HIGH] == [1, 0]


def test_round_table_csv_has_the_same_figures_and_names_the_exporter(
        community_secretary, community, story):  # noqa: ANN001
    rows, total = round_table([story.round], community)
    lines = _csv(_table(community_secretary, story, community, fmt="csv"))
    assert lines[0][0].startswith(community.name)
    assert lines[2][WEB - 1:RATE] == ["Followed up/Web", "Followed up/SMS", "Followed up/Call",
                                      "Followed up/Visit", "Followed up/Total",
                                      "Followed up/Follow-up rate (%)"]
    total_line = lines[3 + len(rows)]
    assert total_line[:3] == ["", "Total", str(total.targeted)]
    assert total_line[OPEN - 1:RESOLVED] == [str(total.alerts_open), str(total.alerts_resolved)]
    footer, watermark = lines[-2][0], lines[-1][0]
    assert community_secretary.display_name in footer
    assert community_secretary.display_name in watermark


def test_round_table_export_is_audited_and_signed(
        community_secretary, community, story):  # noqa: ANN001
    before = AuditEvent.objects.filter(action=AuditAction.EXPORT).count()
    values = _values(_sheet(_table(community_secretary, story, community)))
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).count() == before + 1
    event = AuditEvent.objects.filter(action=AuditAction.EXPORT).latest("id")
    assert event.object_type == "round_table" and event.actor_id == community_secretary.pk
    assert event.area_path == community.path and event.object_id == str(story.round.pk)
    assert event.changes["rounds"] == ["", [story.round.pk]]
    tail = " ".join(str(c) for r in values[-2:] for c in r if c)
    assert community_secretary.display_name in tail


def test_grid_worker_exports_the_table_of_their_grid_not_of_the_community(
        grid_worker, community, story):  # noqa: ANN001
    values = _values(_sheet(_table(grid_worker, story, story.grid)))
    assert values[FIRST_DATA_ROW - 1][AREA - 1] == story.grid.name
    assert values[FIRST_DATA_ROW][AREA - 1] == "Total"
    with pytest.raises(PermissionDenied):
        _table(grid_worker, story, community)


def test_round_table_needs_the_right_to_export(city, community, story):  # noqa: ANN001
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        _table(city.persona("volunteer"), story, community)
    assert AuditEvent.objects.count() == before


# --- the residents of a round -------------------------------------------------------------

def test_abnormal_residents_list_masked_with_answers_alerts_and_outcomes(
        community_secretary, community, story):  # noqa: ANN001
    export = _residents(community_secretary, story, community, which="abnormal")
    sheet = _sheet(export)
    assert "D3:F3" in {str(r) for r in sheet.merged_cells.ranges}
    assert sheet["D3"].value == "Home address"
    assert [sheet.cell(4, c).value for c in (4, 5, 6)] == ["Building", "Unit", "Room"]
    labels = [sheet.cell(3, c).value for c in range(1, 4)] + [
        sheet.cell(3, c).value for c in range(7, 14)]
    assert labels == ["No.", "Name", "Grid", "Phone", "Status", "Answered via", "Answered at",
                      "Temperature (°C)", "Alerts", "Outcome"]
    export.file.seek(0)
    rows = [r for r in _calamine(export)[FIRST_DATA_ROW - 1:] if isinstance(r[0], float | int)]
    assert len(rows) == 2 == export.rows
    by_grid = {r[2]: r for r in rows}
    fever = by_grid[story.grid.name]
    resident = Resident.objects.get(pk=story.fever.resident_id)
    assert fever[1] == resident.name
    assert fever[6] == resident.phone_masked and "*" in resident.phone_masked
    assert fever[7:9] == ["Answered", "Voice call"]
    assert f"{fever[9]:%Y-%m-%d %H:%M}" == "2026-11-30 09:30"
    assert fever[10] == 38.5
    assert fever[11] == "发热、自述发热"
    assert fever[12] == "Sent to a fever clinic：已送发热门诊；Not handled"
    cough = by_grid[story.other_grid.name]
    # A name that Excel would take for a formula stays text.
    assert cough[1] == "'=cmd"
    assert cough[8] == "SMS" and cough[10] == "" and cough[11] == "有呼吸道等症状"


def test_unreached_residents_as_csv(community_secretary, community, story):  # noqa: ANN001
    export = _residents(community_secretary, story, community, which="unreached", fmt="csv")
    lines = _csv(export)
    assert lines[2][3:6] == ["Home address/Building", "Home address/Unit", "Home address/Room"]
    rows = lines[3:-2]
    unreached = Contact.objects.filter(round=story.round, state=ContactState.UNREACHED)
    assert len(rows) == unreached.count() == export.rows
    assert {r[7] for r in rows} == {"Not reached"}
    assert {r[11] for r in rows} == {"未联系上"}
    assert community_secretary.display_name in lines[-1][0]
    assert export.filename.endswith("_20261130_0900.csv")


def test_full_phones_only_with_the_right_to_export_unmasked(
        community_secretary, grid_worker, community, story):  # noqa: ANN001
    export = _residents(community_secretary, story, community, which="abnormal", full=True)
    rows = _values(_sheet(export))
    resident = Resident.objects.get(pk=story.fever.resident_id)
    clear = crypto.unseal(bytes(resident.phone_sealed), purpose="phone")
    assert any(r[6] == clear for r in rows)
    event = AuditEvent.objects.filter(action=AuditAction.EXPORT).latest("id")
    assert event.object_type == "round_residents" and event.object_id == str(story.round.pk)
    assert event.changes["full"] == ["", True] and event.changes["rows"] == ["", 2]
    assert event.area_path == community.path

    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        _residents(grid_worker, story, story.grid, full=True)
    assert AuditEvent.objects.count() == before
    masked = _values(_sheet(_residents(grid_worker, story, story.grid, which="abnormal")))
    assert not any(clear in str(c) for r in masked for c in r)
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).latest("id").changes[
        "full"] == ["", False]


def test_grid_worker_exporting_the_community_gets_only_their_grid(
        grid_worker, community, story):  # noqa: ANN001
    export = _residents(grid_worker, story, community)
    rows = [r for r in _values(_sheet(export))[FIRST_DATA_ROW - 1:] if isinstance(r[0], int)]
    assert len(rows) == export.rows == Contact.objects.filter(round=story.round,
                                                              grid=story.grid).count()
    assert {r[2] for r in rows} == {story.grid.name}
    assert not any("=cmd" in str(c) for r in rows for c in r)


def test_resident_list_reads_in_a_fixed_number_of_queries(
        community_secretary, community, story, django_assert_max_num_queries):  # noqa: ANN001
    assert Contact.objects.filter(round=story.round).count() > 100
    with django_assert_max_num_queries(8):
        everyone = _residents(community_secretary, story, community)
    with django_assert_max_num_queries(8):
        _residents(community_secretary, story, community, which="abnormal")
    assert everyone.rows == Contact.objects.filter(round=story.round).count()


def test_resident_list_refuses_an_unknown_list(
        community_secretary, community, story):  # noqa: ANN001
    with pytest.raises(ValueError):
        _residents(community_secretary, story, community, which="everyone")
