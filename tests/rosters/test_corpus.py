"""The corpus: realistic nasty files, each with its exact expected outcome, through the
whole import (read, header, mapping, every row checked, placed in the registry)."""

from __future__ import annotations

from datetime import date

import pytest

from fangkong.lib import crypto
from fangkong.residents.models import Resident
from fangkong.residents.personal import ID_NUMBER
from fangkong.rosters.models import ImportStatus
from tests.rosters.corpus import id_number, xls, xlsx
from tests.rosters.helpers import commit, csv_bytes, preview

pytestmark = pytest.mark.usefixtures("english")
HEADER = ["序号", "姓名", "身份证号", "联系电话", "楼栋", "单元", "房号", "网格"]


@pytest.fixture
def grid(grid_name):
    return grid_name


def row(n: int, grid: str, **changes) -> list:  # noqa: ANN003
    values = {"no": n, "name": f"居民{n}", "id": id_number(n), "phone": f"1390000{n:04d}",
              "building": "88", "unit": "1", "room": f"{100 + n}", "grid": grid, **changes}
    return [values[k] for k in ("no", "name", "id", "phone", "building", "unit", "room",
                                "grid")]


def outcome(ri) -> tuple[dict, list[tuple[int, str]]]:  # noqa: ANN001
    assert ri.status == ImportStatus.READY, ri.message
    return ({k: v for k, v in ri.counts.items() if v},
            list(ri.problems.values_list("row", "column")))


def messages(ri) -> list[str]:  # noqa: ANN001
    return list(ri.problems.values_list("message", flat=True))


def test_gb18030_csv_with_a_title_row_and_a_totals_row(community_secretary, community, grid):
    data = csv_bytes([["新华社区居民信息登记表（2026年11月）"], ["填报单位：新华社区居委会"],
                      HEADER, row(1, grid), row(2, grid), [], ["合计", "2人"]],
                     encoding="gb18030")
    ri = preview(community_secretary, community, data)
    assert ri.encoding == "gb18030"
    assert outcome(ri) == ({"new": 2, "skipped": 2}, [])
    commit(community_secretary, ri)
    assert set(Resident.objects.filter(name__in=["居民1", "居民2"]).values_list(
        "household__label", flat=True)) == {"88栋1单元101", "88栋1单元102"}


def test_utf8_bom_csv_with_tabs_and_full_width_digits(community_secretary, community, grid):
    full = row(3, grid)
    full[2] = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in full[2])
    full[3] = "１３９ ００００ ０００３"
    data = csv_bytes([HEADER, full], encoding="utf-8-sig", delimiter="\t")
    ri = preview(community_secretary, community, data, filename="名单.txt")
    assert ri.encoding == "utf-8-sig"
    assert outcome(ri) == ({"new": 1}, [])
    commit(community_secretary, ri)
    resident = Resident.objects.get(name="居民3")
    assert crypto.unseal(resident.id_number_sealed, purpose=ID_NUMBER) == id_number(3)
    assert resident.phone_last4 == "0003"


def test_xlsx_with_merged_title_and_two_row_header(community_secretary, community, grid):
    top = ["序号", "姓名", "身份证号", "联系电话", "住址", None, None, "网格"]
    bottom = [None, None, None, None, "楼栋", "单元", "房号", None]
    data = xlsx([row(4, grid), row(5, grid)], title="新华社区居民信息登记表",
                merged_header=(top, bottom))
    ri = preview(community_secretary, community, data, filename="名单.xlsx")
    assert (ri.header_first, ri.header_last) == (1, 2)
    assert ri.columns[4:7] == ["住址/楼栋", "住址/单元", "住址/房号"]
    assert ri.mapping == ["", "name", "id_number", "phone", "building", "unit", "room", "grid"]
    assert outcome(ri) == ({"new": 2}, [])


def test_xlsx_with_id_numbers_excel_turned_into_numbers(community_secretary, community, grid):
    mangled = row(6, grid, id=float(id_number(6)))
    scientific = row(7, grid, id="4.20102E+17")
    old = row(8, grid, id=float("420102" + "580412" + "123"))  # 15 digits survive
    data = xlsx([HEADER, mangled, scientific, old, row(9, grid)], title="名单")
    ri = preview(community_secretary, community, data, filename="名单.xlsx")
    assert outcome(ri) == ({"new": 2, "invalid": 2}, [(3, "身份证号"), (4, "身份证号")])
    found = messages(ri)
    assert "stored this ID number as a number" in found[0]
    assert "scientific notation" in found[1]


def test_xlsx_formula_cells_are_refused(community_secretary, community, grid):
    rows = [HEADER, row(10, grid), row(11, grid)]
    data = xlsx(rows, formulas={(2, 1): '="居民"&"11"'})  # header row 0, data rows 1-2
    ri = preview(community_secretary, community, data, filename="名单.xlsx")
    assert outcome(ri) == ({"new": 1, "invalid": 1}, [(3, "姓名")])
    assert "formula" in messages(ri)[0]


def test_old_xls_with_a_date_column_and_a_formula(community_secretary, community, grid):
    header = [*HEADER, "出生日期"]
    rows = [header, [*row(12, grid), date(1958, 4, 12)], [*row(13, grid), date(1958, 4, 12)]]
    data = xls(rows, title="新华社区登记表", formulas={(3, 3): "13900000000+13"})
    ri = preview(community_secretary, community, data, filename="老名单.xls")
    assert ri.format == "xls"
    assert outcome(ri) == ({"new": 1, "invalid": 1}, [(4, "联系电话")])


def test_xls_birth_date_that_disagrees_with_the_id_number(community_secretary, community,
                                                            grid):
    rows = [[*HEADER, "出生日期"], [*row(14, grid), date(1960, 1, 1)]]
    ri = preview(community_secretary, community, xls(rows), filename="名单.xls")
    assert outcome(ri) == ({"invalid": 1}, [(2, "出生日期")])
    assert "1958-04-12" in messages(ri)[0]


def test_mojibake_names_are_refused_each_with_its_reason(community_secretary, community, grid):
    utf8_as_gbk = "王芳".encode().decode("gbk", errors="replace")
    lost_bytes = "??谑"
    replacement = "李\ufffd"
    rows = [HEADER, row(15, grid, name=utf8_as_gbk), row(16, grid, name=lost_bytes),
            row(17, grid, name=replacement), row(18, grid, name="欧阳娜娜")]
    ri = preview(community_secretary, community, csv_bytes(rows))
    assert outcome(ri) == ({"new": 1, "invalid": 3},
                           [(2, "姓名"), (3, "姓名"), (4, "姓名")])
    assert all("looks broken" in m or "cannot have" in m for m in messages(ri))


def test_duplicates_inside_the_file_and_a_fifteen_digit_id(community_secretary, community,
                                                            grid):
    fifteen = "420102" + "580412" + "125"
    rows = [HEADER, row(19, grid, id=fifteen), row(20, grid), row(20, grid),
            row(21, grid, id=id_number(19)[:6] + "19" + fifteen[6:12] + "125"
                + id_number(19)[-1])]
    ri = preview(community_secretary, community, csv_bytes(rows))
    counts, problems = outcome(ri)
    assert counts["new"] == 2 and counts["duplicate"] == 1
    assert (4, "身份证号") in problems  # the repeated row 3
    commit(community_secretary, ri)
    resident = Resident.objects.get(name="居民19")
    assert crypto.unseal(resident.id_number_sealed, purpose=ID_NUMBER).startswith(
        "42010219580412125")


def test_blank_rows_stray_spaces_and_lowercase_x(community_secretary, community, grid):
    with_x = next(id_number(s) for s in range(1, 999) if id_number(s).endswith("X"))
    rows = [HEADER, [], ["", "", "", ""], row(22, grid, id=with_x.lower(), name=" 居民 廿二 ",
                                                phone=" 139-0000-0022 ")]
    ri = preview(community_secretary, community, csv_bytes(rows))
    assert outcome(ri) == ({"new": 1, "skipped": 2}, [])
    commit(community_secretary, ri)
    assert Resident.objects.filter(name="居民廿二", id_number_masked__endswith="X").exists()


def test_a_csv_cell_with_a_formula_is_refused(community_secretary, community, grid):
    rows = [HEADER, row(23, grid, name='=HYPERLINK("http://x","居民")'),
            row(24, grid, phone="=1+1")]
    ri = preview(community_secretary, community, csv_bytes(rows))
    counts, problems = outcome(ri)
    assert counts == {"invalid": 2}
    assert problems == [(2, "姓名"), (3, "联系电话")]


def test_xlsx_building_merged_down_a_block_of_rows(community_secretary, community, grid):
    import io

    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    for c, label in enumerate(["姓名", "楼栋", "单元", "房号", "网格"]):
        sheet.write(0, c, label)
    sheet.merge_range(1, 1, 3, 1, "86")  # one building for three rooms
    for r, name in enumerate(["甲一", "甲二", "甲三"], start=1):
        sheet.write(r, 0, name)
        sheet.write(r, 2, "1")
        sheet.write(r, 3, f"20{r}")
        sheet.write(r, 4, grid)
    book.close()
    ri = preview(community_secretary, community, out.getvalue(), filename="merged.xlsx")
    assert outcome(ri) == ({"new": 3}, [])
    commit(community_secretary, ri)
    assert sorted(Resident.objects.filter(name__startswith="甲").values_list(
        "household__label", flat=True)) == ["86栋1单元201", "86栋1单元202", "86栋1单元203"]


def test_without_a_unit_the_room_decides_or_the_file_must_say(community_secretary, community,
                                                              grid):
    first = [["姓名", "楼栋", "单元", "房号", "网格", "与户主关系"],
             ["乙一", "85", "1", "301", grid, "户主"], ["乙二", "85", "2", "301", grid, "户主"],
             ["乙三", "85", "2", "302", grid, "户主"]]
    commit(community_secretary, preview(community_secretary, community, csv_bytes(first)))
    second = [["姓名", "楼栋", "房号", "网格"], ["乙四", "85", "302", grid],
              ["乙五", "85", "301", grid], ["乙六", "85", "303", grid]]
    ri = preview(community_secretary, community, csv_bytes(second))
    assert outcome(ri) == ({"new": 2, "invalid": 1}, [(3, "房号")])
    assert "units 1、2" in messages(ri)[0]
    commit(community_secretary, ri)
    four, six = Resident.objects.get(name="乙四"), Resident.objects.get(name="乙六")
    assert four.household.label == "85栋2单元302" and four.relation == "other"
    assert six.household.label == "85栋1单元303" and six.relation == "self"


def test_an_estate_column_that_names_another_estate_is_refused(community_secretary,
                                                                community, grid):
    first = [["姓名", "小区", "楼栋", "单元", "房号", "网格"], ["丙一", "东湖花园", "84", "1", "101", grid]]
    commit(community_secretary, preview(community_secretary, community, csv_bytes(first)))
    second = [["姓名", "小区", "楼栋", "单元", "房号", "网格"], ["丙二", "西湖小区", "84", "1", "102", grid],
              ["丙三", "东湖花园", "84", "1", "102", grid]]
    ri = preview(community_secretary, community, csv_bytes(second))
    assert outcome(ri) == ({"new": 1, "invalid": 1}, [(2, "小区")])
    assert "东湖花园" in messages(ri)[0]
