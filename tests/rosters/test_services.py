"""The import workflow: preview counts, atomic and idempotent commit, undo, conflicts,
cancellation, rights and templates."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.jobs.dispatch import job_run, jobs_claim
from fangkong.jobs.models import Job
from fangkong.lib.idcard import make_id_number
from fangkong.places.models import AreaKind, Building, Household
from fangkong.places.services import area_create
from fangkong.residents.models import Resident
from fangkong.residents.services import ResidentInput, resident_update
from fangkong.rosters import services
from fangkong.rosters.models import BlobKind, ImportChange, ImportStatus, ImportTemplate
from fangkong.rosters.staging import value_get
from tests.rosters.helpers import commit, csv_bytes, preview, run_jobs, start

pytestmark = pytest.mark.usefixtures("english")
HEADER = ["姓名", "身份证号", "联系电话", "楼栋", "单元", "房号", "网格", "备注"]


def person(seq: int, *, name: str = "", building: int = 90, room: str = "101",
           grid: str = "", phone: str = "", remarks: str = "") -> list:
    return [name or f"测试{seq}", make_id_number("420102", date(1960, 1, 1 + seq % 27), seq),
            phone or f"1380000{seq:04d}", str(building), "1", room, grid, remarks]


def roster(*rows: list) -> bytes:
    return csv_bytes([["幸福社区居民信息登记表"], HEADER, *rows, ["合计", "", "", "", "", "", "", ""]])


def test_preview_counts_new_rows_and_writes_nothing(community_secretary, community, grid_name):
    before = Resident.objects.count()
    ri = preview(community_secretary, community,
                 roster(person(1, grid=grid_name), person(2, grid=grid_name)))
    assert ri.status == ImportStatus.READY
    assert ri.counts == {"new": 2, "updated": 0, "unchanged": 0, "invalid": 0,
                         "duplicate": 0, "skipped": 1}
    assert Resident.objects.count() == before
    assert ri.columns[:3] == ["姓名", "身份证号", "联系电话"]
    assert ri.header_first == ri.header_last == 1  # the title row was skipped


def test_commit_is_recorded_and_the_same_file_again_changes_nothing(
        community_secretary, community, grid_name):
    data = roster(person(1, grid=grid_name), person(2, grid=grid_name, room="102"))
    ri = commit(community_secretary, preview(community_secretary, community, data))
    assert ri.status == ImportStatus.DONE, ri.message
    created = Resident.objects.filter(name__in=["测试1", "测试2"])
    assert created.count() == 2
    assert {r.household.label for r in created} == {"90栋1单元101", "90栋1单元102"}
    assert Building.objects.filter(number=90, community=community).count() == 1
    event = AuditEvent.objects.get(action=AuditAction.ROSTER_IMPORT, object_id=str(ri.pk))
    assert event.changes["sha256"][1] == ri.sha256
    assert event.changes["counts"][1]["new"] == 2
    versions = dict(created.values_list("pk", "version"))
    again = preview(community_secretary, community, data)
    assert again.counts["unchanged"] == 2 and again.counts["new"] == 0
    commit(community_secretary, again)
    assert dict(created.values_list("pk", "version")) == versions
    assert Resident.objects.filter(name__in=["测试1", "测试2"]).count() == 2


def test_a_changed_phone_updates_the_resident(community_secretary, community, grid_name):
    commit(community_secretary, preview(community_secretary, community,
                                        roster(person(3, grid=grid_name))))
    changed = person(3, grid=grid_name, phone="13911112222", remarks="新号码")
    ri = preview(community_secretary, community, roster(changed))
    assert ri.counts["updated"] == 1
    commit(community_secretary, ri)
    resident = Resident.objects.get(name="测试3")
    assert resident.phone_last4 == "2222" and resident.remarks == "新号码"
    assert resident.version == 2


def test_duplicates_in_the_file_are_left_out_with_the_first_row(community_secretary,
                                                                community, grid_name):
    ri = preview(community_secretary, community,
                 roster(person(4, grid=grid_name), person(4, grid=grid_name)))
    assert ri.counts["new"] == 1 and ri.counts["duplicate"] == 1
    problem = ri.problems.get()
    assert problem.row == 4 and "row 3" in problem.message and problem.column == "身份证号"


def test_an_id_number_registered_in_another_area_is_a_conflict(
        city, community_secretary, community, grid_name):
    stranger = city.resident_outside(community)
    from fangkong.lib import crypto
    from fangkong.residents.personal import ID_NUMBER

    number = crypto.unseal(stranger.id_number_sealed, purpose=ID_NUMBER)
    row = [stranger.name, number, "13800001111", "90", "1", "101", grid_name, ""]
    ri = preview(community_secretary, community, roster(row))
    assert ri.counts["duplicate"] == 1
    assert "another area" in ri.problems.get().message
    assert stranger.name not in ri.problems.get().message  # says no more than that
    clash = AuditEvent.objects.get(action=AuditAction.ID_NUMBER_CLASH, object_id=str(ri.pk))
    assert clash.changes["rows"][1] == 1 and clash.actor_name == community_secretary.username


def test_an_id_number_of_someone_else_in_the_area_is_a_conflict(
        city, community_secretary, community, grid_name):
    resident = city.resident_in(community)
    from fangkong.lib import crypto
    from fangkong.residents.personal import ID_NUMBER

    number = crypto.unseal(resident.id_number_sealed, purpose=ID_NUMBER)
    ri = preview(community_secretary, community,
                 roster(["某某某", number, "13800001111", "90", "1", "101", grid_name, ""]))
    assert ri.counts["duplicate"] == 1
    message = ri.problems.get().message
    # Everyone who may import here reads the problems: the registered name is not in it.
    assert "another name" in message and "某某某" in message
    assert resident.name not in message and resident.household.label not in message


def test_an_existing_resident_moves_to_the_room_of_the_file(
        city, community_secretary, community, grid_name):
    resident = city.resident_in(community)
    from fangkong.lib import crypto
    from fangkong.residents.personal import ID_NUMBER

    number = crypto.unseal(resident.id_number_sealed, purpose=ID_NUMBER)
    ri = preview(community_secretary, community,
                 roster([resident.name, number, "", "91", "2", "301", grid_name, ""]))
    assert ri.counts["updated"] == 1
    commit(community_secretary, ri)
    resident.refresh_from_db()
    assert resident.household.label == "91栋2单元301"
    # Undo puts them back where they were.
    services.roster_import_undo(by=community_secretary, roster_import=ri)
    run_jobs()
    ri.refresh_from_db()
    assert ri.status == ImportStatus.UNDONE, ri.message
    resident.refresh_from_db()
    assert resident.household.label != "91栋2单元301"
    assert not Household.objects.filter(label="91栋2单元301", community=community).exists()


def test_undo_removes_what_the_import_added(community_secretary, community, grid_name):
    before = (Resident.objects.count(), Household.objects.count(), Building.objects.count())
    ri = commit(community_secretary, preview(community_secretary, community,
                                             roster(person(5, grid=grid_name))))
    resident = Resident.objects.get(name="测试5")
    assert ri.created == {"resident": [[resident.pk, resident.pk]],
                          "household": [[resident.household_id, resident.household_id]]}
    assert ImportChange.objects.filter(roster_import=ri, object_type="building").count() == 1
    services.roster_import_undo(by=community_secretary, roster_import=ri)
    run_jobs()
    ri.refresh_from_db()
    assert ri.status == ImportStatus.UNDONE
    assert (Resident.objects.count(), Household.objects.count(),
            Building.objects.count()) == before
    assert AuditEvent.objects.filter(action=AuditAction.ROSTER_UNDO).exists()


def test_undo_is_refused_once_someone_changed_a_resident(community_secretary, community,
                                                          grid_name):
    ri = commit(community_secretary, preview(community_secretary, community,
                                             roster(person(6, grid=grid_name))))
    resident = Resident.objects.get(name="测试6")
    resident_update(by=community_secretary, resident=resident,
                    data=ResidentInput(remarks="上门核实"))
    with pytest.raises(ValidationError) as excinfo:
        services.roster_import_undo(by=community_secretary, roster_import=ri)
    assert "测试6" in " ".join(excinfo.value.messages)
    assert Resident.objects.filter(name="测试6").exists()


def test_commit_writes_nothing_when_the_registry_changed_since_the_preview(
        community_secretary, community, grid_name):
    ri = preview(community_secretary, community,
                 roster(person(7, grid=grid_name), person(8, grid=grid_name)))
    # Someone registers one of the file's people meanwhile.
    other = preview(community_secretary, community, roster(person(8, grid=grid_name)))
    commit(community_secretary, other)
    ri = commit(community_secretary, ri)
    assert ri.status == ImportStatus.READY and ri.stale
    assert "changed since the preview" in ri.message
    assert not Resident.objects.filter(name="测试7").exists()
    with pytest.raises(ValidationError, match="Check the file again"):
        services.roster_import_commit(by=community_secretary, roster_import=ri)


def test_invalid_rows_are_reported_and_left_out(community_secretary, community, grid_name):
    bad = person(9, grid=grid_name)
    bad[1] = bad[1][:17] + ("0" if bad[1][17] != "0" else "1")
    ri = preview(community_secretary, community, roster(person(10, grid=grid_name), bad))
    assert ri.counts["new"] == 1 and ri.counts["invalid"] == 1
    problem = ri.problems.get()
    assert (problem.row, problem.column) == (4, "身份证号")
    commit(community_secretary, ri)
    assert Resident.objects.filter(name="测试10").exists()
    assert not Resident.objects.filter(name="测试9").exists()


def test_an_unknown_building_goes_to_the_only_grid_or_is_explained(community_secretary,
                                                                    community):
    data = csv_bytes([["姓名", "身份证号", "房号"], ["张三", "", "777-1-101"]])
    assert preview(community_secretary, community, data).counts["new"] == 1
    area_create(kind=AreaKind.GRID, name="第2网格", parent=community)
    ri = preview(community_secretary, community, data)
    assert ri.counts["invalid"] == 1
    assert "cannot tell which grid" in ri.problems.get().message


def test_a_grid_worker_imports_only_into_their_grid(city, grid_worker, community):
    with pytest.raises(Http404):
        services.roster_import_start(by=grid_worker, area=community, filename="a.csv",
                                     data=roster(person(11)))
    ri = preview(grid_worker, grid_worker.area, roster(person(11)))
    assert ri.counts["new"] == 1  # the grid needs no grid column


def test_roles_without_the_right_cannot_import(city, community):
    with pytest.raises(PermissionDenied):
        services.roster_import_start(by=city.persona("volunteer"), area=community,
                                     filename="a.csv", data=b"x")
    with pytest.raises(PermissionDenied):
        services.roster_import_start(by=city.persona("street_officer"), area=community,
                                     filename="a.csv", data=b"x")


def test_an_empty_file_and_a_picture_are_refused(community_secretary, community):
    with pytest.raises(ValidationError):
        services.roster_import_start(by=community_secretary, area=community,
                                     filename="a.csv", data=b"")
    ri = start(community_secretary, community, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "a.xlsx")
    assert ri.status == ImportStatus.FAILED and ri.message


def test_a_mapping_without_names_is_refused(community_secretary, community, grid_name):
    ri = start(community_secretary, community, roster(person(12, grid=grid_name)))
    with pytest.raises(ValidationError) as excinfo:
        services.roster_import_set_mapping(by=community_secretary, roster_import=ri,
                                           mapping=["", *ri.mapping[1:]])
    assert "name" in " ".join(excinfo.value.messages)


def test_a_saved_template_maps_unusual_headers(community_secretary, community, grid_name):
    data = csv_bytes([["住户", "证件", "栋", "单元", "房间", "网格"],
                      ["测试13", make_id_number("420102", date(1960, 1, 2), 13), "90", "1",
                       "101", grid_name]])
    ri = start(community_secretary, community, data)
    assert ri.mapping[0] == "" and ri.mapping[1] == ""  # unknown names
    mapping = ["name", "id_number", *ri.mapping[2:]]
    services.roster_import_set_mapping(by=community_secretary, roster_import=ri,
                                       mapping=mapping, template_name="派出所导出")
    template = ImportTemplate.objects.get(name="派出所导出")
    again = start(community_secretary, community, data, template=template)
    assert again.mapping == mapping


def test_cancel_stops_the_check_and_nothing_is_kept(community_secretary, community,
                                                      grid_name):
    ri = start(community_secretary, community, roster(person(14, grid=grid_name)))
    services.roster_import_set_mapping(by=community_secretary, roster_import=ri,
                                       mapping=ri.mapping)
    ri.refresh_from_db()
    assert ri.busy
    services.roster_import_cancel(by=community_secretary, roster_import=ri)
    job = jobs_claim(owner="test")[0]
    job_run(job)
    ri.refresh_from_db()
    assert ri.status == ImportStatus.MAPPING  # back to the columns, to check again later
    assert not ri.problems.exists()
    assert Job.objects.get(pk=job.pk).state == "done"


def test_a_short_utf8_file_is_read_in_the_encoding_whose_header_makes_sense(
        community_secretary, community):
    # Valid in UTF-8 and in GB18030 (as 濮撳悕,鎴垮彿): only one reading has column names.
    data = "姓名,房号\n张伟,3-2-501\n".encode()
    ri = start(community_secretary, community, data)
    assert ri.status == ImportStatus.MAPPING, ri.message
    assert ri.encoding == "utf-8" and ri.columns == ["姓名", "房号"]


def test_the_user_is_asked_when_both_readings_make_sense(community_secretary, community):
    data = "name,room\n张伟,3-2-501\n".encode()
    ri = start(community_secretary, community, data)
    assert ri.status == ImportStatus.NEEDS_ENCODING
    assert "choose the encoding" in ri.message
    readings = value_get(ri, BlobKind.READINGS)
    assert readings and any("张伟" in text for text in readings.values())
    services.roster_import_set_encoding(by=community_secretary, roster_import=ri,
                                        encoding="utf-8")
    run_jobs()
    ri.refresh_from_db()
    assert ri.status == ImportStatus.MAPPING and ri.encoding == "utf-8"


def test_the_purge_deletes_ended_files_and_expires_waiting_imports(community_secretary,
                                                                   community, grid_name):
    from datetime import timedelta

    from django.utils import timezone

    from fangkong.rosters.jobs import purge
    from fangkong.rosters.models import ImportBlob, RosterImport

    waiting = preview(community_secretary, community, roster(person(30, grid=grid_name)))
    done = commit(community_secretary, preview(community_secretary, community,
                                               roster(person(31, grid=grid_name))))
    fresh = preview(community_secretary, community, roster(person(32, grid=grid_name)))
    RosterImport.objects.filter(pk__in=[waiting.pk, done.pk]).update(
        created_at=timezone.now() - timedelta(days=30))
    purge(Job(payload={}))
    waiting.refresh_from_db()
    assert waiting.status == ImportStatus.DISCARDED
    assert not ImportBlob.objects.filter(roster_import__in=[waiting, done]).exists()
    assert ImportBlob.objects.filter(roster_import=fresh).exists()
    assert RosterImport.objects.get(pk=done.pk).status == ImportStatus.DONE


def test_an_import_whose_worker_died_goes_back_to_where_the_user_can_act(
        community_secretary, community, grid_name):
    ri = start(community_secretary, community, roster(person(40, grid=grid_name)))
    services.roster_import_set_mapping(by=community_secretary, roster_import=ri,
                                       mapping=ri.mapping)
    ri.refresh_from_db()
    assert ri.status == ImportStatus.ANALYSING
    services.roster_import_reconcile(ri)  # the job is still queued: nothing to do
    assert ri.status == ImportStatus.ANALYSING
    Job.objects.filter(pk=ri.job_id).update(state="failed")  # given up after a lost lease
    ri.refresh_from_db()
    services.roster_import_reconcile(ri)
    assert ri.status == ImportStatus.MAPPING and "stopped unexpectedly" in ri.message


def test_the_big_commit_path_checks_indexes_and_foreign_keys_once(
        monkeypatch, community_secretary, community, grid_name):
    from fangkong.lib import bulk
    from fangkong.rosters import commit as committing

    monkeypatch.setattr(committing, "big_commit", lambda new: True)
    tables = ("residents_resident", "places_household")
    before = {t: sorted(n for n, _ in bulk.secondary_indexes(t)) for t in tables}
    ri = commit(community_secretary, preview(community_secretary, community,
                                             roster(person(50, grid=grid_name),
                                                    person(51, grid=grid_name, room="102"))))
    assert ri.status == ImportStatus.DONE, ri.message
    assert {t: sorted(n for n, _ in bulk.secondary_indexes(t)) for t in tables} == before
    assert Resident.objects.filter(name__in=["测试50", "测试51"]).count() == 2
    # A clash found only when the unique index is rebuilt still rolls everything back.
    again = preview(community_secretary, community, roster(person(52, grid=grid_name)))
    commit(community_secretary, preview(community_secretary, community,
                                        roster(person(52, grid=grid_name))))
    again = commit(community_secretary, again)
    assert again.status == ImportStatus.READY and again.stale
    assert {t: sorted(n for n, _ in bulk.secondary_indexes(t)) for t in tables} == before


def test_a_second_click_cannot_queue_a_step_twice(community_secretary, community, grid_name):
    ri = preview(community_secretary, community, roster(person(60, grid=grid_name)))
    stale_copy = type(ri).objects.get(pk=ri.pk)  # what a second browser tab still shows
    services.roster_import_commit(by=community_secretary, roster_import=ri)
    with pytest.raises(ValidationError):
        services.roster_import_commit(by=community_secretary, roster_import=stale_copy)
    assert Job.objects.filter(kind="rosters.commit", payload__import=ri.pk).count() == 1
    run_jobs()
    ri.refresh_from_db()
    assert ri.status == ImportStatus.DONE and Resident.objects.filter(name="测试60").count() == 1


def test_a_step_queued_before_the_import_moved_on_does_nothing(community_secretary, community,
                                                                 grid_name):
    ri = start(community_secretary, community, roster(person(61, grid=grid_name)))
    services.roster_import_set_mapping(by=community_secretary, roster_import=ri,
                                       mapping=ri.mapping)
    first_job = ri.job_id
    services.roster_import_cancel(by=community_secretary, roster_import=ri)
    run_jobs()  # the check stops: back to the mapping
    ri.refresh_from_db()
    services.roster_import_set_mapping(by=community_secretary, roster_import=ri,
                                       mapping=ri.mapping)
    Job.objects.filter(pk=first_job).update(state="queued", cancel_requested=False)
    run_jobs()
    ri.refresh_from_db()
    assert ri.status == ImportStatus.READY and ri.counts["new"] == 1
    assert Job.objects.get(pk=first_job).result.get("skipped") is True


def test_numbers_quoted_in_problems_are_masked(community_secretary, community, grid_name):
    bad = person(70, grid=grid_name, phone="138000000021")
    ri = preview(community_secretary, community, roster(bad))
    message = ri.problems.get().message
    assert "138000000021" not in message and "0021" in message


def test_undo_is_refused_when_a_resident_of_the_import_became_someones_proxy(
        city, community_secretary, community, grid_name):
    from fangkong.residents.services import proxy_add

    ri = commit(community_secretary, preview(community_secretary, community,
                                             roster(person(71, grid=grid_name))))
    helper = Resident.objects.get(name="测试71")
    proxy_add(by=community_secretary, resident=city.resident_in(community), name=helper.name,
              relation="邻居", phone="13800000071", proxy_resident=helper)
    with pytest.raises(ValidationError):
        services.roster_import_undo(by=community_secretary, roster_import=ri)


def test_the_rows_with_problems_download_with_short_csv_rows(community_secretary, community):
    from python_calamine import CalamineWorkbook

    from fangkong.rosters.exports import error_report

    data = csv_bytes([HEADER, ["短行", "4201021960"], person(72)])
    ri = preview(community_secretary, community, data)
    export = error_report(by=community_secretary, roster_import=ri)
    rows = CalamineWorkbook.from_filelike(export.file).get_sheet_by_index(0).to_python()
    assert any("短行" in [str(c) for c in row] for row in rows)
    assert AuditEvent.objects.filter(object_type="roster_errors", object_id=str(ri.pk)).exists()
