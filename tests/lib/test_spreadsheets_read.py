from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import struct
import zipfile
from collections.abc import Callable

import openpyxl
import pytest
import xlsxwriter
import xlwt
from hypothesis import assume, given
from hypothesis import strategies as st
from xlrd.compdoc import CompDoc

from fangkong.lib.encoding import ENCODINGS
from fangkong.lib.spreadsheets import read as read_module
from fangkong.lib.spreadsheets.read import (
    CODES,
    FORMATS,
    Sheet,
    SheetError,
    detect_format,
    header_names,
    header_rows,
    read_sheet,
)

pytestmark = pytest.mark.usefixtures("english")

HEADERS = {"姓名", "性别", "住址", "楼栋", "单元", "房号", "身份证号", "身份证号码", "联系电话",
           "出生日期", "手机", "固话", "联系方式"}  # fmt: skip


def is_header_cell(text: str) -> bool:
    return text in HEADERS


def error(data: bytes, filename: str = "名单.csv", **kwargs: object) -> SheetError:
    with pytest.raises(SheetError) as excinfo:
        read_sheet(data, filename=filename, **kwargs)  # type: ignore[arg-type]
    assert str(excinfo.value) == excinfo.value.message
    assert excinfo.value.code in CODES
    return excinfo.value


def xlsx(build: Callable[[xlsxwriter.Workbook], None]) -> bytes:
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    build(workbook)
    workbook.close()
    return out.getvalue()


def xls(build: Callable[[xlwt.Workbook], None]) -> bytes:
    workbook = xlwt.Workbook(encoding="utf-8")
    build(workbook)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8", **fmt: str) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, **fmt).writerows(rows)
    return out.getvalue().encode(encoding)


# --- .xlsx ------------------------------------------------------------------------------


def roster_xlsx(workbook: xlsxwriter.Workbook) -> None:
    """An empty first sheet, then a roster whose block starts at C4: a merged title row, a
    two-row header (姓名 and 身份证号码 span both rows, 住址 spans 楼栋/单元/房号), data with
    an ID typed as a number, a formula and dates."""
    workbook.add_worksheet("说明")
    ws = workbook.add_worksheet("名单")
    date = workbook.add_format({"num_format": "yyyy-mm-dd"})
    stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    ws.merge_range("C4:I4", "XX社区居民信息登记表")
    ws.merge_range("C5:C6", "姓名")
    ws.merge_range("D5:F5", "住 址")
    ws.write_row("D6", ["楼栋", "单元", "房号"])
    ws.merge_range("G5:G6", "身份证\n号码")
    ws.merge_range("H5:H6", "出生日期")
    ws.merge_range("I5:I6", "年龄")
    ws.write_row("C7", ["张伟", 3, "2", "301"])
    ws.write_number("G7", 110105199001011000)  # Excel keeps 15 digits of an ID typed as a number
    ws.write_datetime("H7", dt.datetime(1990, 1, 1), date)
    ws.write_formula("I7", "=2024-YEAR(H7)", None, 34)
    ws.write_row("C8", ["李娜", 3, "2", "302", "110105199203040021"])
    ws.write_datetime("H8", dt.datetime(2024, 5, 6, 7, 8), stamp)
    ws.write_boolean("I8", True)


def test_xlsx_roster_with_title_two_row_header_and_offset() -> None:
    sheet = read_sheet(xlsx(roster_xlsx), filename="名单.xlsx")
    assert (sheet.format, sheet.encoding, sheet.sheet_name) == ("xlsx", None, "名单")
    assert sheet.sheet_names == ("说明", "名单")
    assert len(sheet.rows) == 8
    assert sheet.rows[:3] == [[None] * 9] * 3
    assert sheet.rows[3] == [None, None, "XX社区居民信息登记表", *[None] * 6]
    assert sheet.rows[4] == [
        None,
        None,
        "姓名",
        "住 址",
        None,
        None,
        "身份证\n号码",
        "出生日期",
        "年龄",
    ]
    assert sheet.rows[5] == [None, None, None, "楼栋", "单元", "房号", None, None, None]
    assert sheet.rows[6] == [
        None, None, "张伟", 3.0, "2", "301", 1.10105199001011e17, dt.date(1990, 1, 1), 34.0,
    ]  # fmt: skip
    assert sheet.rows[7] == [
        None, None, "李娜", 3.0, "2", "302", "110105199203040021",
        dt.datetime(2024, 5, 6, 7, 8), True,
    ]  # fmt: skip
    id_cell = sheet.rows[6][6]
    assert type(id_cell) is float and id_cell == 110105199001011000.0
    assert type(sheet.rows[6][7]) is dt.date
    assert type(sheet.rows[7][8]) is bool
    assert sheet.formulas == frozenset({(6, 8)})
    assert sorted(sheet.merged) == [
        (3, 2, 3, 8), (4, 2, 5, 2), (4, 3, 4, 5), (4, 6, 5, 6), (4, 7, 5, 7), (4, 8, 5, 8),
    ]  # fmt: skip
    assert header_rows(sheet, is_header_cell=is_header_cell) == (4, 5)
    assert header_names(sheet, 4, 5) == [
        "", "", "姓名", "住址/楼栋", "住址/单元", "住址/房号", "身份证号码", "出生日期", "年龄",
    ]  # fmt: skip


def test_xlsx_sheet_choice() -> None:
    def build(workbook: xlsxwriter.Workbook) -> None:
        workbook.add_worksheet("空")
        hidden = workbook.add_worksheet("下拉选项")
        hidden.write_column("A1", ["男", "女"])
        hidden.hide()
        workbook.add_worksheet("名单").write_row("B2", ["姓名", "性别"])
        workbook.add_worksheet("备用").write("A1", "x")

    data = xlsx(build)
    first = read_sheet(data, filename="a.xlsx")
    assert first.sheet_name == "名单"
    assert first.rows == [[None, None, None], [None, "姓名", "性别"]]
    assert first.sheet_names == ("空", "下拉选项", "名单", "备用")
    assert read_sheet(data, filename="a.xlsx", sheet=1).rows == [["男"], ["女"]]
    assert read_sheet(data, filename="a.xlsx", sheet="备用").rows == [["x"]]
    assert error(data, "a.xlsx", sheet=0).code == "empty"
    assert str(error(data, "a.xlsx", sheet=0)) == "The sheet “空” is empty."
    missing = error(data, "a.xlsx", sheet="Sheet1")
    assert (missing.code, str(missing)) == (
        "no_sheet",
        "The file has no sheet named “Sheet1”. Its sheets are: 空、下拉选项、名单、备用.",
    )
    assert error(data, "a.xlsx", sheet=4).code == "no_sheet"
    assert error(data, "a.xlsx", sheet=-1).code == "no_sheet"


def test_xlsx_without_data_is_empty() -> None:
    def build(workbook: xlsxwriter.Workbook) -> None:
        workbook.add_worksheet("Sheet1")
        workbook.add_worksheet("Sheet2")

    problem = error(xlsx(build), "a.xlsx")
    assert problem.code == "empty"
    assert str(problem).startswith("The file has no data: all its sheets are empty.")


def test_xlsx_formulas_are_those_of_the_chosen_sheet() -> None:
    def build(workbook: xlsxwriter.Workbook) -> None:
        other = workbook.add_worksheet("其他")
        other.write_formula("A1", "=1+1", None, 2)
        other.write_formula("B7", "=1+2", None, 3)
        roster = workbook.add_worksheet("名单")
        roster.write_row("A1", ["姓名", "年龄"])
        roster.write("A2", "=1+1")  # text that looks like a formula is written as a formula
        roster.write_string("A3", "=1+1")  # ... unless written as text
        roster.write_formula("B3", '="0"&"1"', None, "01")

    data = xlsx(build)
    roster = read_sheet(data, filename="a.xlsx", sheet="名单")
    assert roster.formulas == frozenset({(1, 0), (2, 1)})
    assert roster.rows == [["姓名", "年龄"], [0.0, None], ["=1+1", "01"]]
    assert read_sheet(data, filename="a.xlsx").formulas == frozenset({(0, 0), (6, 1)})


def test_xlsx_error_time_and_duration_cells() -> None:
    def build(workbook: xlsxwriter.Workbook) -> None:
        ws = workbook.add_worksheet()
        ws.write_formula("A1", "=1/0", None, "#DIV/0!")
        ws.write_datetime("B1", dt.time(8, 30), workbook.add_format({"num_format": "hh:mm"}))
        ws.write_number("C1", 1.5, workbook.add_format({"num_format": "[h]:mm"}))
        ws.write_number("D1", 2.5)

    sheet = read_sheet(xlsx(build), filename="a.xlsx")
    assert sheet.rows == [[None, dt.time(8, 30), dt.timedelta(hours=36), 2.5]]
    assert sheet.formulas == frozenset({(0, 0)})


def test_xlsx_written_by_openpyxl_starting_at_b3() -> None:
    workbook = openpyxl.Workbook()
    ws = workbook.active
    ws.title = "居民"
    ws["B3"], ws["C3"] = "姓名", "身份证号"
    ws["B4"], ws["C4"] = "王芳", "11010519850505002X"
    ws["D4"] = "=LEN(C4)"  # openpyxl stores no cached value
    ws.merge_cells("B2:C2")
    ws["B2"] = "花园社区"
    out = io.BytesIO()
    workbook.save(out)
    sheet = read_sheet(out.getvalue(), filename="居民.xlsx")
    # The formula has no cached value, so it is outside calamine's used area (B2:C4): its
    # row is widened to hold it.
    assert sheet.rows == [
        [None, None, None],
        [None, "花园社区", None],
        [None, "姓名", "身份证号"],
        [None, "王芳", "11010519850505002X", None],
    ]
    assert sheet.formulas == frozenset({(3, 3)})
    assert sheet.merged == [(1, 1, 1, 2)]
    assert header_rows(sheet, is_header_cell=is_header_cell) == (2, 2)


NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


def handmade_xlsx(sheet_xml: str, *, prolog: str = "") -> bytes:
    """A minimal .xlsx as other writers make them: a namespace prefix on every element, an
    absolute relationship target, cells and rows without their optional "r"."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats'
            '-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            "</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<?xml version="1.0"?><Relationships xmlns="{PKG_NS}"><Relationship Id="rId1" '
            f'Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0"?><x:workbook xmlns:x="{NS}" xmlns:rel="{REL_NS}"><x:sheets>'
            '<x:sheet name="数据" sheetId="1" rel:id="rIdData"/></x:sheets></x:workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0"?><Relationships xmlns="{PKG_NS}"><Relationship Id="rIdData" '
            f'Type="{REL_NS}/worksheet" Target="/xl/worksheets/data.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/worksheets/data.xml",
            f'<?xml version="1.0"?>{prolog}<x:worksheet xmlns:x="{NS}"><x:sheetData>'
            f"{sheet_xml}</x:sheetData></x:worksheet>",
        )
    return out.getvalue()


def inline(text: str) -> str:
    return f'<x:c t="inlineStr"><x:is><x:t>{text}</x:t></x:is></x:c>'


HANDMADE_ROWS = (
    f'<x:row r="2"><x:c r="B2" t="inlineStr"><x:is><x:t>姓名</x:t></x:is></x:c>{inline("年龄")}'
    "</x:row>"
    f'<x:row>{inline("")}<x:c r="B3" t="inlineStr"><x:is><x:t>张三</x:t></x:is></x:c>'
    '<x:c><x:f t="shared" ref="C3:C4" si="0">1+1</x:f><x:v>2</x:v></x:c></x:row>'
    '<x:row r="4"><x:c r="B4" t="inlineStr"><x:is><x:t>李四</x:t></x:is></x:c>'
    '<x:c r="C4"><x:f t="shared" si="0"/><x:v>2</x:v></x:c></x:row>'
)


def test_handmade_xlsx_with_prefixes_and_cells_without_reference() -> None:
    sheet = read_sheet(handmade_xlsx(HANDMADE_ROWS), filename="a.xlsx")
    assert sheet.sheet_name == "数据"
    assert sheet.rows == [[None, None, None], [None, "姓名", "年龄"], [None, "张三", 2.0],
                          [None, "李四", 2.0]]  # fmt: skip
    assert sheet.formulas == frozenset({(2, 2), (3, 2)})  # the shared formula's two cells


def test_formula_without_value_below_the_data_is_inside_rows() -> None:
    rows = HANDMADE_ROWS + '<x:row r="7"><x:c r="D7"><x:f>SUM(C3:C4)</x:f></x:c></x:row>'
    sheet = read_sheet(handmade_xlsx(rows), filename="a.xlsx")
    assert sheet.formulas == frozenset({(2, 2), (3, 2), (6, 3)})
    assert sheet.rows[4:] == [[], [], [None, None, None, None]]
    with pytest.raises(SheetError) as excinfo:
        read_sheet(handmade_xlsx(rows), filename="a.xlsx", max_rows=6)
    assert excinfo.value.code == "too_big"


def test_xml_entity_declarations_are_refused() -> None:
    prolog = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    problem = error(handmade_xlsx(HANDMADE_ROWS, prolog=prolog), "a.xlsx")
    assert problem.code == "broken"
    assert "parts that Excel and WPS never write" in str(problem)


def test_zip_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = xlsx(lambda workbook: workbook.add_worksheet().write("A1", "姓名" * 5000))
    monkeypatch.setattr(read_module, "_MAX_PART_BYTES", 10_000)
    assert error(data, "a.xlsx").code == "broken"


def test_truncated_xlsx_is_broken() -> None:
    data = xlsx(roster_xlsx)
    for cut in (len(data) // 2, len(data) - 10):
        problem = error(data[:cut], "名单.xlsx")
        assert problem.code == "broken"
        assert str(problem).startswith("The file is damaged or incomplete")


def test_xlsx_with_damaged_member_is_broken() -> None:
    data = bytearray(xlsx(roster_xlsx))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet2.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 40, start + 60):
        data[i] ^= 0x55
    assert error(bytes(data), "a.xlsx").code == "broken"


def test_too_many_rows_in_a_workbook(monkeypatch: pytest.MonkeyPatch) -> None:
    data = xlsx(roster_xlsx)
    problem = error(data, "a.xlsx", max_rows=7)
    assert problem.code == "too_big"
    assert "uses 8 rows (down to cell I8)" in str(problem)
    assert len(read_sheet(data, filename="a.xlsx", max_rows=8).rows) == 8
    stray = xlsx(lambda workbook: workbook.add_worksheet().write("XFD3", "x"))
    monkeypatch.setattr(read_module, "_MAX_CELLS", 10_000)
    problem = error(stray, "a.xlsx")
    assert problem.code == "too_big"
    assert "up to cell XFD3" in str(problem)


# --- .xls -----------------------------------------------------------------------------------


def roster_xls(workbook: xlwt.Workbook) -> None:
    workbook.add_sheet("说明").write(0, 0, "请从第二张表填写")
    ws = workbook.add_sheet("名单")
    ws.write_merge(2, 2, 2, 6, "XX社区居民信息登记表")
    ws.write(3, 2, "姓名")
    ws.write(3, 3, "年龄")
    ws.write(3, 4, "身份证号")
    ws.write(3, 5, "出生日期")
    ws.write(3, 6, "备注")
    ws.write(4, 2, "张三")
    ws.write(4, 3, 33)
    ws.write(4, 4, 110105199001011000)
    ws.write(4, 5, dt.date(1990, 1, 2), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    ws.write(4, 6, xlwt.Formula('"a"&"b"'))
    ws.write(5, 2, "李四")
    ws.write(5, 3, 2.5)
    ws.write(5, 4, "110105199203040021")
    ws.write(5, 5, dt.datetime(2024, 1, 2, 3, 4), xlwt.easyxf(num_format_str="YYYY-MM-DD hh:mm"))
    ws.write(5, 6, xlwt.Formula("D6*2"))
    calc = workbook.add_sheet("计算")
    calc.write(0, 0, "合计")
    calc.write(1, 1, xlwt.Formula("1+2"))


def test_xls_roster() -> None:
    data = xls(roster_xls)
    assert detect_format(data, "名单.xls") == "xls"
    sheet = read_sheet(data, filename="名单.xls", sheet="名单")
    assert (sheet.format, sheet.encoding, sheet.sheet_name) == ("xls", None, "名单")
    assert sheet.sheet_names == ("说明", "名单", "计算")
    assert sheet.rows[2] == [None, None, "XX社区居民信息登记表", None, None, None, None]
    # xlwt stores no cached result for a formula: calamine reads the cell as empty.
    assert sheet.rows[4] == [None, None, "张三", 33, 1.10105199001011e17, dt.date(1990, 1, 2), None]
    assert sheet.rows[5] == [None, None, "李四", 2.5, "110105199203040021",
                             dt.datetime(2024, 1, 2, 3, 4), None]  # fmt: skip
    assert [type(v) for v in sheet.rows[4][3:6]] == [int, float, dt.date]
    assert sheet.formulas == frozenset({(4, 6), (5, 6)})
    assert sheet.merged == [(2, 2, 2, 6)]
    assert header_rows(sheet, is_header_cell=is_header_cell) == (3, 3)
    assert header_names(sheet, 3, 3) == ["", "", "姓名", "年龄", "身份证号", "出生日期", "备注"]


def test_xls_sheet_choice_and_formulas_per_sheet() -> None:
    data = xls(roster_xls)
    first = read_sheet(data, filename="名单.xls")
    assert (first.sheet_name, first.rows, first.formulas) == ("说明", [["请从第二张表填写"]],
                                                               frozenset())  # fmt: skip
    third = read_sheet(data, filename="名单.xls", sheet=2)
    assert third.formulas == frozenset({(1, 1)})


def test_xls_renamed_to_xlsx_is_read_as_xls() -> None:
    data = xls(roster_xls)
    assert detect_format(data, "名单.xlsx") == "xls"
    assert read_sheet(data, filename="名单.xlsx", sheet=1).format == "xls"


def workbook_stream_records(data: bytes) -> tuple[int, list[tuple[int, int, int]]]:
    """(offset of the Workbook stream in the file, [(type, length, offset)] of its globals)."""
    mem, base, size = CompDoc(data, logfile=io.StringIO()).locate_named_stream("Workbook")
    assert mem is not None and len(mem) == len(data)  # contiguous: patchable in place
    records, pos = [], base
    while pos < base + size:
        kind, length = struct.unpack_from("<HH", data, pos)
        records.append((kind, length, pos))
        if kind == 0x000A:
            break
        pos += 4 + length
    return base, records


def test_password_protected_xls_is_broken() -> None:
    data = bytearray(xls(roster_xls))
    _base, records = workbook_stream_records(bytes(data))
    # Turn the WRITEACCESS record into a FILEPASS one (same length: offsets stay valid).
    write_access = next(pos for kind, _length, pos in records if kind == 0x005C)
    struct.pack_into("<H", data, write_access, 0x002F)
    problem = error(bytes(data), "名单.xls")
    assert problem.code == "broken"
    assert "protected with a password" in str(problem)


def test_password_protected_xlsx_is_broken() -> None:
    # An .xlsx with an opening password is an OLE file holding an "EncryptedPackage".
    data = bytearray(xls(roster_xls))
    entry = data.find("Workbook".encode("utf-16-le"))
    name = "EncryptedPackage\0".encode("utf-16-le")
    data[entry : entry + 64] = name.ljust(64, b"\0")
    struct.pack_into("<H", data, entry + 64, len(name))
    with pytest.raises(SheetError) as excinfo:
        detect_format(bytes(data), "名单.xlsx")
    assert excinfo.value.code == "broken"
    assert "protected with a password" in str(excinfo.value)


def test_word_ole_document_is_refused() -> None:
    data = bytearray(xls(roster_xls))
    entry = data.find("Workbook".encode("utf-16-le"))
    name = "WordDocument\0".encode("utf-16-le")
    data[entry : entry + 64] = name.ljust(64, b"\0")
    struct.pack_into("<H", data, entry + 64, len(name))
    problem = error(bytes(data), "通知.doc")
    assert (problem.code, str(problem)) == (
        "format",
        "This file is a Word document, not a spreadsheet. Save the roster as .xlsx, .xls or "
        ".csv and upload that file.",
    )


# --- CSV and text -----------------------------------------------------------------------------

ROSTER_ROWS = [
    ["花园社区居民信息登记表", "", "", ""],
    ["填报单位：花园社区", "", "填报日期：2024-05-06", ""],
    ["姓名", "身份证\n号码", "住址", "联系电话"],
    ["张伟", "110105194912310021", "北京市朝阳区花园路1号, 2单元", "13812345678"],
    ['李"小"娜', "01234", "=1+1", ""],
]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_csv_in_each_encoding(encoding: str) -> None:
    data = csv_bytes(ROSTER_ROWS, encoding)
    assert detect_format(data, "名单.csv") == "csv"
    sheet = read_sheet(data, filename="名单.csv")
    assert sheet == Sheet("csv", encoding, "", ROSTER_ROWS)
    assert (sheet.formulas, sheet.merged, sheet.sheet_names) == (frozenset(), [], ())
    assert all(type(cell) is str for row in sheet.rows for cell in row)
    assert header_rows(sheet, is_header_cell=is_header_cell) == (2, 2)
    assert header_names(sheet, 2, 2) == ["姓名", "身份证号码", "住址", "联系电话"]


def test_csv_bom_is_not_part_of_the_first_cell() -> None:
    sheet = read_sheet("姓名,性别\r\n张三,男\r\n".encode("utf-8-sig"), filename="a.csv")
    assert sheet.rows == [["姓名", "性别"], ["张三", "男"]]
    assert sheet.encoding == "utf-8-sig"


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        (  # tab-separated text named .xls, as systems export it; commas inside cells
            "姓名\t住址\t电话\n张三\t北京市,朝阳区\t138\n李四\t海口市,龙华区\t139\n",
            [
                ["姓名", "住址", "电话"],
                ["张三", "北京市,朝阳区", "138"],
                ["李四", "海口市,龙华区", "139"],
            ],
        ),
        (  # semicolons, decimal commas
            "姓名;身高;体重\n张三;1,75;70,5\n李四;1,62;55\n",
            [["姓名", "身高", "体重"], ["张三", "1,75", "70,5"], ["李四", "1,62", "55"]],
        ),
        (
            "姓名|性别\n张三|男\n",
            [["姓名", "性别"], ["张三", "男"]],
        ),
        (  # a quoted cell holding the delimiter, a quote and a line break
            '姓名,备注\n张三,"独居,需\n每日""探访"""\n',
            [["姓名", "备注"], ["张三", '独居,需\n每日"探访"']],
        ),
        (  # one column; blank lines keep their place; CR and CRLF line ends
            "姓名\r\n张三\r\n\r\n李四\r王五",
            [["姓名"], ["张三"], [], ["李四"], ["王五"]],
        ),
    ],
)
def test_csv_delimiters_and_quoting(text: str, rows: list[list[str]]) -> None:
    assert read_sheet(text.encode(), filename="名单.xls").rows == rows


def test_csv_two_row_header_without_merges() -> None:
    rows = [
        ["姓名", "住址", "", "", "身份证号"],
        ["", "楼栋", "单元", "房号", ""],
        ["张三", "1", "2", "301", "110105194912310021"],
    ]
    sheet = read_sheet(csv_bytes(rows), filename="a.csv")
    assert header_rows(sheet, is_header_cell=is_header_cell) == (0, 1)
    assert header_names(sheet, 0, 1) == ["姓名", "住址/楼栋", "住址/单元", "住址/房号", "身份证号"]


@pytest.mark.parametrize(
    ("text", "row", "line"),
    [
        ('姓名,备注\n"张三"x,1\n', 2, 2),  # text after a closing quote
        ('姓名,备注\n张三,"多行\n备注\n李四,2\n', 2, 2),  # never closed
        ('姓名,备注\n张三,"第一\n行"\n李四,"x"y\n', 3, 4),
    ],
)
def test_csv_quote_errors_name_row_and_line(text: str, row: int, line: int) -> None:
    problem = error(text.encode(), encoding="utf-8")
    assert problem.code == "broken"
    assert str(problem).startswith(f"Row {row} of the file (from line {line}) has a quotation mark")


def test_csv_too_many_rows() -> None:
    data = "姓名\n张三\n李四\n".encode()
    assert len(read_sheet(data, filename="a.csv", encoding="utf-8", max_rows=3).rows) == 3
    problem = error(data, encoding="utf-8", max_rows=2)
    assert (problem.code, str(problem)) == (
        "too_big",
        "The file has more than 2 rows, more than can be imported at once. Split it into "
        "smaller files.",
    )


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n", b"\xef\xbb\xbf", b",,\n,,\n"])
def test_empty_file(data: bytes) -> None:
    problem = error(data)
    assert (problem.code, str(problem)) == (
        "empty",
        "The file is empty. Check that you chose the right file.",
    )


def test_ambiguous_encoding_passes_the_readings_on() -> None:
    data = "张伟\n".encode()
    problem = error(data)
    assert problem.code == "ambiguous"
    assert problem.readings == {"utf-8": "张伟\n", "gb18030": "寮犱紵\n"}
    assert "choose the encoding" in str(problem)
    # The user chose: read again with that encoding.
    assert read_sheet(data, filename="a.csv", encoding="utf-8").rows == [["张伟"]]
    assert read_sheet(data, filename="a.csv", encoding="gb18030").rows == [["寮犱紵"]]


def test_readings_are_cut_to_200_characters() -> None:
    problem = error(("a" * 300 + ",张伟\n").encode())
    assert problem.code == "ambiguous"
    assert problem.readings == {"utf-8": "a" * 200, "gb18030": "a" * 200}


def test_wrong_forced_encoding() -> None:
    data = "姓名,性别\n张三,男\n".encode("gb18030")
    problem = error(data, encoding="utf-8")
    assert (problem.code, problem.readings) == ("encoding", None)
    assert str(problem).startswith("The file is not valid utf-8: byte 0xD0 at position 0")


def test_undecodable_text() -> None:
    problem = error(b"\xff\xfe\xfd,abc\n" * 3 + "张".encode())
    assert problem.code == "encoding"


def test_utf16_unicode_text_is_refused() -> None:
    data = "姓名\t性别\r\n张三\t男\r\n".encode("utf-16")
    assert detect_format(data, "名单.txt") == "csv"
    problem = error(data, "名单.txt")
    assert problem.code == "encoding"
    assert "UTF-16" in str(problem)


@given(
    st.lists(
        st.lists(
            st.lists(
                st.one_of(
                    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
                    st.sampled_from(list("abcXYZ019 ,\"'\n\r.-()/，。、《》“”·")),
                ),
                max_size=8,
            ).map("".join),
            min_size=1,
            max_size=5,
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(ENCODINGS),
)
def test_csv_round_trip(grid: list[list[str]], encoding: str) -> None:
    """Any grid of text cells (Chinese, commas, quotes, line breaks) written as CSV reads
    back identical, in each encoding; a tie between UTF-8 and GB18030 is reported (possible
    without a BOM) and reading with the encoding the user then picks gives the grid."""
    assume(any(cell for row in grid for cell in row))
    data = csv_bytes(grid, encoding)
    try:
        sheet = read_sheet(data, filename="a.csv")
    except SheetError as problem:
        assert problem.code == "ambiguous"
        assert encoding != "utf-8-sig"
        assert problem.readings is not None and encoding in problem.readings
        sheet = read_sheet(data, filename="a.csv", encoding=encoding)
    assert sheet.rows == grid


# --- formats refused --------------------------------------------------------------------------


def zip_with(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40), "名单.png", "an image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "扫描.jpg", "an image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "名单.pdf", "a PDF document"),
        (zip_with("[Content_Types].xml", "word/document.xml"), "名单.docx", "a Word document"),
        (zip_with("xl/workbook.bin"), "名单.xlsb", "an Excel binary workbook (.xlsb)"),
        (zip_with("mimetype", "content.xml"), "名单.ods", "an OpenDocument file (.ods/.odt)"),
        (b"{\\rtf1\\ansi \\'d0\\'d5}", "名单.rtf", "an RTF document"),
        (b"\x00\x01\x02\x03binary", "名单.et", "a file of an unknown kind"),
    ],
)
def test_other_files_are_refused(data: bytes, filename: str, kind: str) -> None:
    with pytest.raises(SheetError) as excinfo:
        detect_format(data, filename)
    assert (excinfo.value.code, str(excinfo.value)) == (
        "format",
        f"This file is {kind}, not a spreadsheet. Save the roster as .xlsx, .xls or .csv and "
        "upload that file.",
    )
    assert error(data, filename).code == "format"


@pytest.mark.parametrize("data", [zip_with("名单/名单.xlsx"), b"\x1f\x8b\x08\x00" + bytes(10)])
def test_archives_are_refused(data: bytes) -> None:
    problem = error(data, "名单.zip")
    assert problem.code == "format"
    assert "Unpack it" in str(problem)


@pytest.mark.parametrize(
    "text",
    [
        "<html><body><table><tr><td>姓名</td></tr></table></body></html>",
        '\ufeff  <table border="1"><tr><td>姓名</td></tr></table>',
        "MIME-Version: 1.0\r\nContent-Type: multipart/related\r\n",
    ],
)
def test_web_pages_named_xls_are_refused(text: str) -> None:
    problem = error(text.encode(), "导出.xls")
    assert problem.code == "format"
    assert str(problem).startswith("This file is a web page (HTML) with a spreadsheet name")


def test_excel_2003_xml_is_refused() -> None:
    text = (
        '<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">'
        "</Workbook>"
    )
    problem = error(text.encode(), "导出.xls")
    assert problem.code == "format"
    assert "an Excel 2003 XML spreadsheet" in str(problem)


def test_formats() -> None:
    assert FORMATS == ("xlsx", "xls", "csv")
    assert detect_format(xlsx(roster_xlsx), "名单.xls") == "xlsx"
    assert detect_format(b"", "a.csv") == "csv"
    assert detect_format("姓名,性别\n".encode("gb18030"), "名单.txt") == "csv"


def test_garbage_after_the_ole_signature_is_broken() -> None:
    problem = error(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "a.xls")
    assert problem.code == "broken"


def test_garbage_collector_is_back_on_after_reading() -> None:
    assert gc.isenabled()
    read_sheet(csv_bytes(ROSTER_ROWS), filename="a.csv")
    assert gc.isenabled()
    error(b'a,"b\n')
    assert gc.isenabled()


# --- the header -----------------------------------------------------------------------------


def grid(*rows: list[object], merged: list[tuple[int, int, int, int]] | None = None) -> Sheet:
    return Sheet("xlsx", None, "名单", [list(row) for row in rows], frozenset(), merged or [])


def test_header_row_is_the_one_with_most_header_cells() -> None:
    sheet = grid(
        ["花园社区居民信息登记表"],
        ["填报单位：花园社区", None, "填报日期：2024-05-06"],
        [],
        ["序号", "姓名", "性别", "身份证号"],
        [1, "张三", "男", "110105194912310021"],
        ["姓名", "性别"],  # a repeated header further down has fewer names
    )
    assert header_rows(sheet, is_header_cell=is_header_cell) == (3, 3)
    assert header_names(sheet, 3, 3) == ["序号", "姓名", "性别", "身份证号"]


def test_header_tie_takes_the_earlier_row() -> None:
    sheet = grid(["x"], ["姓名", "性别"], ["住址", "手机"], ["张三", "男"])
    assert header_rows(sheet, is_header_cell=is_header_cell) == (1, 1)


def test_header_cells_are_normalised_before_the_check() -> None:
    sheet = grid([" 姓 名 ", "身份证\n号码", "ＱＱ号"], ["张三", "1", "2"])
    seen: list[str] = []

    def check(text: str) -> bool:
        seen.append(text)
        return text in HEADERS

    assert header_rows(sheet, is_header_cell=check) == (0, 0)
    assert seen[:3] == ["姓名", "身份证号码", "QQ号"]
    assert header_names(sheet, 0, 0) == ["姓名", "身份证号码", "QQ号"]


def test_no_header() -> None:
    sheet = grid(["花园社区"], ["姓名", "张三"], ["李四", "男"])
    with pytest.raises(SheetError) as excinfo:
        header_rows(sheet, is_header_cell=is_header_cell)
    assert (excinfo.value.code, str(excinfo.value)) == (
        "no_header",
        "No header row found in the first 30 rows: put the column names, such as 姓名 and "
        "身份证号, in one row above the data.",
    )


def test_header_beyond_scan_is_not_found() -> None:
    sheet = grid(*[["说明"]] * 5, ["姓名", "性别"])
    assert header_rows(sheet, is_header_cell=is_header_cell, scan=6) == (5, 5)
    with pytest.raises(SheetError):
        header_rows(sheet, is_header_cell=is_header_cell, scan=5)


def test_two_row_header_found_from_its_lower_row() -> None:
    # The grouped columns outnumber the others: the lower row has more names.
    sheet = grid(
        ["登记表"],
        ["姓名", "住址", None, None, "联系方式", None],
        [None, "楼栋", "单元", "房号", "手机", "固话"],
        ["张三", "1", "2", "301", "138", "010"],
        merged=[(0, 0, 0, 5), (1, 0, 2, 0), (1, 1, 1, 3), (1, 4, 1, 5)],
    )
    assert header_rows(sheet, is_header_cell=is_header_cell) == (1, 2)
    assert header_names(sheet, 1, 2) == [
        "姓名", "住址/楼栋", "住址/单元", "住址/房号", "联系方式/手机", "联系方式/固话",
    ]  # fmt: skip


def test_merged_header_over_data_is_one_row() -> None:
    # 身份证号 merged across two columns for the layout; the row below is data.
    sheet = grid(
        ["姓名", "身份证号", None, "性别"],
        ["张三", "110105194912310021", None, "男"],
        merged=[(0, 1, 0, 2)],
    )
    assert header_rows(sheet, is_header_cell=is_header_cell) == (0, 0)
    assert header_names(sheet, 0, 0) == ["姓名", "身份证号", "", "性别"]


def test_header_names_carry_only_over_groups() -> None:
    sheet = grid(
        ["姓名", None, "住址", None, "备注", None],
        [None, "楼栋", "单元", "房号", None, None],
    )
    # 姓名 has nothing below it: it starts no group, 楼栋 stays alone; 住址 carries over 房号;
    # 备注 has nothing below, the blank after it stays blank.
    assert header_names(sheet, 0, 1) == ["姓名", "楼栋", "住址/单元", "住址/房号", "备注", ""]


def test_header_names_of_non_text_cells() -> None:
    sheet = grid(["姓名", 2023.0, 2.5, dt.date(2024, 1, 2), None, True])
    assert header_names(sheet, 0, 0) == ["姓名", "2023", "2.5", "2024-01-02", "", "True"]


def test_header_names_rows_outside_the_sheet() -> None:
    with pytest.raises(ValueError, match="outside"):
        header_names(grid(["姓名"]), 0, 1)


def test_a_tiny_xlsx_with_one_far_cell_is_refused_before_calamine_builds_it():
    import io

    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    sheet.write(0, 0, "姓名")
    sheet.write(0, 1, "房号")
    sheet.write(59_999, 16_383, "x")  # XFD60000: a dense grid of a billion cells
    book.close()
    with pytest.raises(SheetError) as excinfo:
        read_sheet(out.getvalue(), filename="bomb.xlsx")
    assert excinfo.value.code == "too_big" and "XFD60000" in str(excinfo.value)
