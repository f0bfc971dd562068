"""The roster pages through the Django test client, the way a community secretary uses
them: upload, the progress while the worker reads, the mapping screen, the preview with
its problems, the error report, commit and undo; the blank template and the exports.

The background steps are run at once with `run_jobs` (tests/rosters/helpers.py), so a
test sees each page both while its step is queued and after it has run."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from django.urls import reverse
from django.utils import translation
from python_calamine import CalamineWorkbook

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.lib import crypto
from fangkong.lib.idcard import make_id_number
from fangkong.places.models import AreaKind
from fangkong.residents.models import Resident
from fangkong.rosters.models import ImportStatus, RosterImport
from tests.rosters.helpers import csv_bytes, run_jobs
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REGION = "650102"  # not used by the synthetic city
HEADER = ["序号", "姓名", "身份证号", "联系电话", "楼栋", "单元", "房号", "特殊情况"]
# The column the automatic mapping does not know, set by hand to "remarks".
EXTRA = HEADER.index("特殊情况")
# A wrong check digit: the row is refused with a reason in Chinese.
_GOOD_ID = make_id_number(REGION, date(1950, 3, 4), 11)
BAD_ID = _GOOD_ID[:17] + ("1" if _GOOD_ID[17] == "0" else "0")
BAD_ID_ROW = 5  # the file's row numbers as Excel shows them (title row is 1)


def _zh(message: str) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(message)


def _roster(names: tuple[str, str, str] = ("甲测试", "乙测试", "丙测试")) -> bytes:
    first, second, bad = names
    return csv_bytes([
        ["XX社区居民信息登记表"],
        HEADER,
        [1, first, make_id_number(REGION, date(1950, 1, 2), 101), "13912345601", "88", "1",
         "101", "独居"],
        [2, second, make_id_number(REGION, date(1952, 2, 3), 102), "13912345602", "88", "1",
         "102", ""],
        [3, bad, BAD_ID, "13912345603", "88", "1", "103", ""],
    ])


def _upload(client, area, data: bytes, filename: str = "居民登记表.csv"):  # noqa: ANN001, ANN202
    upload = io.BytesIO(data)
    upload.name = filename
    return client.post(reverse("rosters:list"), {"file": upload, "area": area.pk,
                                                  "template": "", "encoding": ""})


def _text(response) -> str:  # noqa: ANN001
    return response.content.decode()


def _selected(html: str, name: str) -> str:
    """The value chosen in the <select name=...> of a rendered form ('' if none)."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, name
    chosen = re.search(r'<option value="([^"]*)"[^>]*selected', select.group(1))
    return chosen.group(1) if chosen else ""


def _mapping_post(mapping: list[str]) -> dict:
    return {f"col_{i}": key for i, key in enumerate(mapping)} | {"template_name": ""}


def _calamine_rows(content: bytes) -> list[list]:
    workbook = CalamineWorkbook.from_filelike(io.BytesIO(content))
    return workbook.get_sheet_by_index(0).to_python()


def _body(response) -> bytes:  # noqa: ANN001
    return b"".join(response.streaming_content) if response.streaming else response.content


# The whole journey ------------------------------------------------------------------------


def test_upload_map_preview_report_commit_undo(city, community_secretary):
    community = community_secretary.area
    client = make_client(community_secretary)

    # The upload form.
    page = client.get(reverse("rosters:list"))
    assert page.status_code == 200
    html = _text(page)
    assert 'id="upload"' in html and 'enctype="multipart/form-data"' in html
    assert 'type="file"' in html and f'value="{community.pk}"' in html

    # Upload: the import's page, reading in the background.
    response = _upload(client, community, _roster())
    roster_import = RosterImport.objects.filter(created_by=community_secretary).first()
    assert response.status_code == 302
    assert response.url == reverse("rosters:detail", args=[roster_import.pk])
    detail = reverse("rosters:detail", args=[roster_import.pk])
    busy = client.get(detail)
    assert busy.status_code == 200
    assert 'role="progressbar"' in _text(busy) and 'id="progress"' in _text(busy)
    poll = client.get(detail, {"poll": "1"}, headers={"HX-Request": "true"})
    assert poll.status_code == 200
    assert _text(poll).lstrip().startswith('<section class="card" id="progress"')
    assert "<html" not in _text(poll)

    run_jobs()
    done = client.get(detail, {"poll": "1"}, headers={"HX-Request": "true"})
    assert done.status_code == 204 and done["HX-Refresh"] == "true"

    # The mapping screen: each column's choice already made.
    roster_import.refresh_from_db()
    assert roster_import.status == ImportStatus.MAPPING, roster_import.message
    html = _text(client.get(detail))
    assert 'id="mapping"' in html
    assert roster_import.columns == HEADER
    expected = ["", "name", "id_number", "phone", "building", "unit", "room", ""]
    assert roster_import.mapping == expected
    for i, key in enumerate(expected):
        assert _selected(html, f"col_{i}") == key, HEADER[i]
    assert "13912345601" not in html  # samples of personal columns are masked
    assert "*******5601" in html

    # Correct one column: 特殊情况 holds remarks.
    mapping = [*expected]
    mapping[EXTRA] = "remarks"
    response = client.post(reverse("rosters:mapping", args=[roster_import.pk]),
                           _mapping_post(mapping))
    assert response.status_code == 302 and response.url == detail
    roster_import.refresh_from_db()
    assert roster_import.status == ImportStatus.ANALYSING
    assert 'role="progressbar"' in _text(client.get(detail))
    run_jobs()

    # The preview: the counts, then each problem with its row, column and reason.
    roster_import.refresh_from_db()
    assert roster_import.status == ImportStatus.READY, roster_import.message
    assert roster_import.counts["new"] == 2 and roster_import.counts["invalid"] == 1
    page = client.get(detail)
    html = _text(page)
    figures = {label: n for n, label in re.findall(
        r'<div class="n">([^<]*)</div><div class="l">([^<]*)</div>', html)}
    assert figures[_zh("New residents")] == "2"
    assert figures[_zh("With errors")] == "1"
    assert 'id="commit"' in html
    problems = list(page.context["problems"])
    assert [(p.row, p.column) for p in problems] == [(BAD_ID_ROW, "身份证号")]
    reason = problems[0].message
    assert reason.startswith("身份证号") and "校验" in reason, reason  # in Chinese
    row = re.search(r'<tr class="invalid">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r"<td>(.*?)</td>", row, re.S)[:2] == [str(BAD_ID_ROW), "身份证号"]
    assert "校验" in row

    # The error report: the problem next to the row, as the file had it; audited.
    response = client.get(reverse("rosters:errors", args=[roster_import.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert ".xlsx" in response["Content-Disposition"]
    rows = _calamine_rows(_body(response))
    found = [r for r in rows if "丙测试" in r]
    assert len(found) == 1
    row = found[0]
    assert "校验" in str(row[1]) and str(row[1]).startswith("身份证号")
    assert BAD_ID in row  # the ID number as typed, to be corrected
    assert not any("甲测试" in r for r in rows)  # only the rows with problems
    event = AuditEvent.objects.filter(action=AuditAction.EXPORT,
                                      object_type="roster_errors").latest("id")
    assert event.object_id == str(roster_import.pk)
    assert event.actor_id == community_secretary.pk

    # Commit.
    response = client.post(reverse("rosters:commit", args=[roster_import.pk]))
    assert response.status_code == 302 and response.url == detail
    assert 'role="progressbar"' in _text(client.get(detail))
    run_jobs()
    roster_import.refresh_from_db()
    assert roster_import.status == ImportStatus.DONE, roster_import.message
    html = _text(client.get(detail))
    assert _zh("Imported") in html
    assert reverse("rosters:undo", args=[roster_import.pk]) in html
    assert 'id="commit"' not in html
    first = Resident.objects.get(name="甲测试")
    assert first.remarks == "独居"  # the column mapped by hand
    assert first.community_id == community.pk
    assert Resident.objects.filter(name="乙测试").exists()
    assert not Resident.objects.filter(name="丙测试").exists()

    # Undo.
    response = client.post(reverse("rosters:undo", args=[roster_import.pk]))
    assert response.status_code == 302 and response.url == detail
    run_jobs()
    roster_import.refresh_from_db()
    assert roster_import.status == ImportStatus.UNDONE, roster_import.message
    html = _text(client.get(detail))
    assert roster_import.get_status_display() in html
    assert reverse("rosters:undo", args=[roster_import.pk]) not in html
    assert not Resident.objects.filter(name__in=["甲测试", "乙测试"],
                                       status="active").exists()


def test_mapping_without_a_name_column_is_refused_with_the_reason(community_secretary):
    client = make_client(community_secretary)
    _upload(client, community_secretary.area, _roster())
    run_jobs()
    roster_import = RosterImport.objects.filter(created_by=community_secretary).first()
    mapping = [*roster_import.mapping]
    mapping[HEADER.index("姓名")] = ""
    response = client.post(reverse("rosters:mapping", args=[roster_import.pk]),
                           _mapping_post(mapping))
    assert response.status_code == 400
    html = _text(response)
    message = _zh("No column holds the name (姓名). Choose which column does.")
    assert message in html
    assert 'role="alert"' in html
    # The page keeps the user's choices, and nothing was saved or queued.
    assert _selected(html, f"col_{HEADER.index('姓名')}") == ""
    assert _selected(html, f"col_{HEADER.index('身份证号')}") == "id_number"
    roster_import.refresh_from_db()
    assert roster_import.status == ImportStatus.MAPPING
    assert roster_import.mapping[HEADER.index("姓名")] == "name"


def test_list_page_query_count_does_not_grow_with_imports(community_secretary,
                                                          django_assert_max_num_queries):
    client = make_client(community_secretary)
    url = reverse("rosters:list")
    client.get(url)
    for n in range(4):
        _upload(client, community_secretary.area, _roster(), filename=f"第{n}批.csv")
    run_jobs()
    with django_assert_max_num_queries(12) as captured:
        page = client.get(url)
    assert page.status_code == 200
    assert all(f"第{n}批.csv" in _text(page) for n in range(4))
    few = len(captured.captured_queries)
    for n in range(4, 10):
        _upload(client, community_secretary.area, _roster(), filename=f"第{n}批.csv")
    with django_assert_max_num_queries(few) as captured:
        client.get(url)


# Downloads ---------------------------------------------------------------------------------


def test_blank_template_has_the_recognised_column_names(community_secretary):
    response = make_client(community_secretary).get(reverse("rosters:blank"))
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    rows = _calamine_rows(_body(response))
    header = next(r for r in rows if "姓名" in r)
    for name in ("姓名", "身份证号", "联系电话", "楼栋", "单元", "房号"):
        assert name in header


def test_blank_template_needs_the_right_to_import(city):
    response = make_client(city.persona("street_officer")).get(reverse("rosters:blank"))
    assert response.status_code == 403


def _export(client, area, **data):  # noqa: ANN001, ANN003, ANN202
    return client.post(reverse("rosters:export", args=[area.pk]),
                       {"what": "residents", "format": "xlsx", **data})


def test_export_residents_masked_audited_and_signed(city, community_secretary):
    community = community_secretary.area
    before = AuditEvent.objects.filter(action=AuditAction.EXPORT).count()
    response = _export(make_client(community_secretary), community)
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    rows = _calamine_rows(_body(response))
    resident = city.resident_in(community)
    row = next(r for r in rows if resident.id_number_masked in r)
    assert "********" in resident.id_number_masked
    clear = crypto.unseal(bytes(resident.id_number_sealed), purpose="id_number")
    assert clear not in row
    assert all(clear not in str(cell) for r in rows for cell in r)
    # The last rows name the exporter.
    tail = " ".join(str(c) for r in rows[-2:] for c in r)
    assert community_secretary.display_name in tail
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).count() == before + 1
    event = AuditEvent.objects.filter(action=AuditAction.EXPORT).latest("id")
    assert event.object_type == "residents" and event.actor_id == community_secretary.pk
    assert event.changes["full"] == ["", False]


def test_full_export_for_the_secretary_only(city, community_secretary, grid_worker):
    community = community_secretary.area
    response = _export(make_client(community_secretary), community, full="on")
    assert response.status_code == 200
    rows = _calamine_rows(_body(response))
    resident = city.resident_in(community)
    clear = crypto.unseal(bytes(resident.id_number_sealed), purpose="id_number")
    assert any(clear in r for r in rows)
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).latest("id").changes[
        "full"] == ["", True]

    grid = grid_worker.area
    before = AuditEvent.objects.filter(action=AuditAction.EXPORT).count()
    client = make_client(grid_worker)
    assert _export(client, grid, full="on").status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).count() == before
    assert _export(client, grid).status_code == 200  # masked is fine


def test_export_csv_starts_with_a_bom(community_secretary):
    response = _export(make_client(community_secretary), community_secretary.area,
                       format="csv", what="households")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = _body(response)
    assert body.startswith(b"\xef\xbb\xbf")
    assert community_secretary.display_name in body.decode("utf-8-sig")


def test_export_of_an_area_outside_the_users_is_not_found(city, grid_worker):
    other = city.areas(AreaKind.GRID)[1]
    assert _export(make_client(grid_worker), other).status_code == 404


def test_changing_the_columns_after_the_preview(community_secretary):
    client = make_client(community_secretary)
    _upload(client, community_secretary.area, _roster())
    run_jobs()
    roster_import = RosterImport.objects.filter(created_by=community_secretary).first()
    client.post(reverse("rosters:mapping", args=[roster_import.pk]),
                _mapping_post(roster_import.mapping))
    run_jobs()
    roster_import.refresh_from_db()
    assert roster_import.status == ImportStatus.READY
    detail = reverse("rosters:detail", args=[roster_import.pk])
    html = _text(client.get(detail, {"remap": "1"}))
    assert _selected(html, f"col_{HEADER.index('姓名')}") == "name"

    # A wrong choice shows the columns again, with the reason.
    mapping = [*roster_import.mapping]
    mapping[HEADER.index("姓名")] = ""
    response = client.post(reverse("rosters:mapping", args=[roster_import.pk]),
                           _mapping_post(mapping))
    assert response.status_code == 400
    html = _text(response)
    assert _zh("No column holds the name (姓名). Choose which column does.") in html
    for i in range(len(HEADER)):
        assert f'name="col_{i}"' in html
    assert _selected(html, f"col_{HEADER.index('身份证号')}") == "id_number"

    mapping[HEADER.index("姓名")] = "name"
    mapping[EXTRA] = "remarks"
    response = client.post(reverse("rosters:mapping", args=[roster_import.pk]),
                           _mapping_post(mapping))
    assert response.status_code == 302
    run_jobs()
    roster_import.refresh_from_db()
    assert roster_import.status == ImportStatus.READY
    assert roster_import.mapping[EXTRA] == "remarks"


def test_mapping_sent_twice_queues_one_check(community_secretary):
    client = make_client(community_secretary)
    _upload(client, community_secretary.area, _roster())
    run_jobs()
    roster_import = RosterImport.objects.filter(created_by=community_secretary).first()
    url = reverse("rosters:mapping", args=[roster_import.pk])
    data = _mapping_post(roster_import.mapping)
    assert client.post(url, data).status_code == 302
    job = RosterImport.objects.get(pk=roster_import.pk).job_id
    again = client.post(url, data)  # a second tap while the rows are being checked
    assert again.status_code == 302
    assert again.url == reverse("rosters:detail", args=[roster_import.pk])
    assert RosterImport.objects.get(pk=roster_import.pk).job_id == job
    page = client.get(again.url)
    assert 'role="progressbar"' in _text(page) and 'class="msg error"' not in _text(page)


def test_poll_of_a_failed_import_reloads_the_page(community_secretary):
    client = make_client(community_secretary)
    _upload(client, community_secretary.area, b"\x00\x01 not a roster \xff\xfe", "x.xlsx")
    run_jobs()
    roster_import = RosterImport.objects.filter(created_by=community_secretary).first()
    assert roster_import.status == ImportStatus.FAILED
    detail = reverse("rosters:detail", args=[roster_import.pk])
    poll = client.get(detail, {"poll": "1"}, headers={"HX-Request": "true"})
    assert poll.status_code == 204 and poll["HX-Refresh"] == "true"
    html = _text(client.get(detail))
    assert 'class="msg error"' in html and roster_import.message in html


def test_too_big_a_file_is_refused_next_to_the_file_field(community_secretary, settings):
    settings.IMPORT_MAX_BYTES = 2**20
    client = make_client(community_secretary)
    response = _upload(client, community_secretary.area, b"x" * (2**20 + 1))
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not RosterImport.objects.filter(created_by=community_secretary).exists()


def test_imports_are_seen_within_the_area_only(city, community_secretary):
    client = make_client(community_secretary)
    _upload(client, community_secretary.area, _roster())
    roster_import = RosterImport.objects.filter(created_by=community_secretary).first()
    outsider = make_client(city.persona("other_grid_worker"))
    assert outsider.get(reverse("rosters:detail", args=[roster_import.pk])).status_code == 404
    assert outsider.get(reverse("rosters:errors", args=[roster_import.pk])).status_code == 404
    assert make_client(city.persona("street_officer")).get(
        reverse("rosters:list")).status_code == 403


def test_import_pages_are_in_chinese_by_default(community_secretary):
    """The words the brief of the import pages names, as a secretary sees them."""
    client = make_client(community_secretary)
    assert "导入" in _text(client.get(reverse("rosters:list")))
    _upload(client, community_secretary.area, _roster())
    run_jobs()
    roster_import = RosterImport.objects.filter(created_by=community_secretary).first()
    detail = reverse("rosters:detail", args=[roster_import.pk])
    html = _text(client.get(detail))
    assert ">姓名</option>" in html
    mapping = [*roster_import.mapping]
    mapping[HEADER.index("姓名")] = ""
    refused = _text(client.post(reverse("rosters:mapping", args=[roster_import.pk]),
                                _mapping_post(mapping)))
    reason = re.search(r'<ul class="errorlist" role="alert"><li>(.*?)</li>', refused).group(1)
    assert not re.search("[A-Za-z]", reason), reason
    client.post(reverse("rosters:mapping", args=[roster_import.pk]),
                _mapping_post(roster_import.mapping))
    run_jobs()
    html = _text(client.get(detail))
    labels = re.findall(r'<div class="l">([^<]*)</div>', html)
    assert any("新增" in label for label in labels), labels
    assert not any(re.search("[A-Za-z]", label) for label in labels), labels
    assert re.search(r'id="commit">导入全部有效行<', html)
    client.post(reverse("rosters:commit", args=[roster_import.pk]))
    run_jobs()
    assert "已导入" in _text(client.get(detail))


def test_mapping_screen_masks_numbers_of_columns_it_does_not_recognise(community_secretary):
    """An ID number or phone column with a name fangkong does not know is shown masked
    too, and so is one the user has just set to "do not import"."""
    id_number = make_id_number(REGION, date(1950, 1, 2), 131)
    client = make_client(community_secretary)
    _upload(client, community_secretary.area, csv_bytes([
        ["姓名", "身份信息", "手机号", "房号", "本人联系"],
        ["甲测试", id_number, "13912345699", "101", "139 1234 5688"],
    ]))
    run_jobs()
    roster_import = RosterImport.objects.filter(created_by=community_secretary).first()
    assert roster_import.mapping == ["name", "", "phone", "room", ""]
    html = _text(client.get(reverse("rosters:detail", args=[roster_import.pk])))
    assert "甲测试" in html  # names are what the user checks the columns by
    for clear in (id_number, "13912345699", "1234 5688", "12345688"):
        assert clear not in html, clear
    assert id_number[-4:] in html and "5699" in html

    response = client.post(reverse("rosters:mapping", args=[roster_import.pk]),
                           _mapping_post(["", "", "", "room", ""]))
    assert response.status_code == 400
    assert id_number not in _text(response) and "13912345699" not in _text(response)


def test_choosing_the_encoding_shows_the_readings_masked(community_secretary):
    id_number = make_id_number(REGION, date(1950, 1, 2), 141)
    client = make_client(community_secretary)
    _upload(client, community_secretary.area, f"张伟,{id_number}\n".encode())
    run_jobs()
    roster_import = RosterImport.objects.filter(created_by=community_secretary).first()
    assert roster_import.status == ImportStatus.NEEDS_ENCODING
    detail = reverse("rosters:detail", args=[roster_import.pk])
    html = _text(client.get(detail))
    assert "张伟" in html and "寮犱紵" in html  # the two readings, to choose from
    assert id_number not in html and id_number[-4:] in html
    response = client.post(reverse("rosters:encoding", args=[roster_import.pk]),
                           {"encoding": "utf-8"})
    assert response.status_code == 302 and response.url == detail
    run_jobs()
    roster_import.refresh_from_db()
    assert roster_import.encoding == "utf-8"
    assert roster_import.status in (ImportStatus.MAPPING, ImportStatus.FAILED)


def test_a_stale_preview_offers_to_check_the_file_again(community_secretary):
    from tests.rosters.helpers import commit, preview

    area = community_secretary.area
    data = _roster()
    stale = preview(community_secretary, area, data)
    planned = stale.counts["new"]
    assert planned >= 2
    commit(community_secretary, preview(community_secretary, area, data))  # someone else's
    commit(community_secretary, stale)
    client = make_client(community_secretary)
    page = _text(client.get(reverse("rosters:detail", args=[stale.pk])))
    assert 'id="recheck"' in page and 'id="commit"' not in page
    response = client.post(reverse("rosters:mapping", args=[stale.pk]),
                           _mapping_post(stale.mapping))
    assert response.status_code == 302
    run_jobs()
    stale.refresh_from_db()
    assert stale.status == ImportStatus.READY and not stale.message
    assert stale.counts["unchanged"] == planned and stale.counts["new"] == 0


def test_only_the_uploader_or_a_secretary_downloads_the_rows_with_problems(
        city, community_secretary):
    from tests.rosters.helpers import preview

    worker = city.persona("community_worker")
    mine = preview(worker, worker.area, _roster())
    assert make_client(worker).get(reverse("rosters:errors", args=[mine.pk])).status_code in (
        200, 302)
    theirs = preview(community_secretary, community_secretary.area, _roster())
    refused = make_client(worker).get(reverse("rosters:errors", args=[theirs.pk]))
    assert refused.status_code == 403
    assert _zh("Only the person who uploaded the file, or the community secretary, can "
               "download its rows.") in _text(refused)
    assert make_client(community_secretary).get(
        reverse("rosters:errors", args=[mine.pk])).status_code in (200, 302)
