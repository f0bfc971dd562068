"""`fangkong import FILE --area A --by USER [--commit] [--errors F]`."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from python_calamine import CalamineWorkbook

from fangkong.lib.idcard import make_id_number
from fangkong.residents.models import Resident
from fangkong.rosters.models import ImportStatus, RosterImport
from tests.rosters.helpers import csv_bytes

pytestmark = pytest.mark.usefixtures("english")


def _file(tmp_path, grid: str):  # noqa: ANN001, ANN202
    path = tmp_path / "名单.csv"
    path.write_bytes(csv_bytes([
        ["姓名", "身份证号", "楼栋", "单元", "房号", "网格"],
        ["命令行甲", make_id_number("420102", date(1970, 5, 6), 41), "83", "1", "101", grid],
        ["命令行乙", "4201021970", "83", "1", "102", grid]]))
    return path


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("import", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_preview_only_changes_nothing(tmp_path, community_secretary):
    area = community_secretary.area
    grid = area.children.first().name
    out = _run(str(_file(tmp_path, grid)), "--area", area.path, "--by",
               community_secretary.username)
    assert "new: 1" in out and "with errors: 1" in out
    assert "row 3 [身份证号]" in out
    assert "preview only" in out
    assert not Resident.objects.filter(name="命令行甲").exists()
    assert RosterImport.objects.get().status == ImportStatus.DISCARDED


def test_commit_imports_and_writes_the_rows_with_problems(tmp_path, community_secretary):
    area = community_secretary.area
    errors = tmp_path / "问题.xlsx"
    out = _run(str(_file(tmp_path, area.children.first().name)), "--area", area.path,
               "--by", community_secretary.username, "--commit", "--errors", str(errors))
    assert "imported" in out
    assert Resident.objects.filter(name="命令行甲").exists()
    sheet = CalamineWorkbook.from_path(str(errors)).get_sheet_by_index(0).to_python()
    assert any("命令行乙" in [str(c) for c in row] for row in sheet)
    assert RosterImport.objects.get().status == ImportStatus.DONE


def test_refusals_name_what_is_wrong(tmp_path, community_secretary, grid_worker):
    path = _file(tmp_path, "x")
    with pytest.raises(CommandError, match="no active user"):
        _run(str(path), "--area", community_secretary.area.path, "--by", "nobody")
    with pytest.raises(CommandError, match="no area"):
        _run(str(path), "--area", "999999", "--by", community_secretary.username)
    with pytest.raises(CommandError, match="cannot read"):
        _run(str(tmp_path / "missing.csv"), "--area", community_secretary.area.path,
             "--by", community_secretary.username)
    with pytest.raises(CommandError, match="may not import"):
        _run(str(path), "--area", community_secretary.area.path, "--by",
             grid_worker.username)
