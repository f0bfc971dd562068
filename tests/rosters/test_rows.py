"""Reading one row: every value a field worker types, and every way it arrives broken."""

from __future__ import annotations

from datetime import date

import pytest
from django.conf import settings

from fangkong.lib.idcard import make_id_number
from fangkong.rosters.rows import ChunkJob, RowProblems, RowValues, read_chunk

pytestmark = pytest.mark.usefixtures("english")
COLUMNS = ("name", "id_number", "phone", "gender", "birth_date", "building", "unit", "room",
           "address", "relation", "tags", "remarks")
NAMES = ("姓名", "身份证号", "联系电话", "性别", "出生日期", "楼栋", "单元", "房号", "地址",
         "与户主关系", "人员类别", "备注")
ID = make_id_number("420102", date(1950, 3, 8), 123)  # odd sequence: male


def read(cells: dict[str, object], formulas: frozenset[int] = frozenset()):  # noqa: ANN201
    row = [cells.get(key) for key in COLUMNS]
    job = ChunkJob(rows=[(7, row, formulas)], mapping=COLUMNS, names=NAMES,
                   tags={"独居老人": "living_alone", "living_alone": "living_alone"},
                   data_key=settings.DATA_KEY, language="en", today=date(2026, 11, 29))
    return read_chunk(job)[0]


def problems(result) -> dict[str, str]:  # noqa: ANN001
    assert isinstance(result, RowProblems), result
    return dict(result.problems)


def test_a_clean_row_becomes_values_with_sealed_personal_data():
    result = read({"name": " 张  三 ", "id_number": ID.lower() if ID.endswith("X") else ID,
                   "phone": "138 1234 5678", "building": "3栋", "unit": "2单元",
                   "room": "501室", "relation": "户主", "tags": "独居老人", "remarks": "耳背"})
    assert isinstance(result, RowValues)
    assert result.row == 7
    assert result.name == "张三"  # spaces used to align two-character names are dropped
    assert (result.building, result.unit, result.room) == (3, 2, "501")
    assert result.gender == "M" and result.birth_date == date(1950, 3, 8)
    assert result.id_masked == ID[:6] + "********" + ID[14:]
    assert ID.encode() not in result.id_sealed and result.id_index
    assert result.phone_masked == "138****5678" and result.phone_last4 == "5678"
    assert result.relation == "self" and result.tags == ("living_alone",)


def test_full_width_digits_and_lowercase_x_are_accepted():
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in ID)
    with_x = next(make_id_number("420102", date(1950, 3, 8), s) for s in range(1, 999, 2)
                  if make_id_number("420102", date(1950, 3, 8), s).endswith("X"))
    for value in (full_width, with_x.lower(), f" {ID[:6]} {ID[6:14]} {ID[14:]} "):
        result = read({"name": "李四", "id_number": value, "room": "3-2-501"})
        assert isinstance(result, RowValues), (value, result)


def test_an_id_number_excel_turned_into_a_float_is_refused():
    mangled = float(ID[:15] + "000")  # what Excel keeps of an 18-digit number
    message = problems(read({"name": "王五", "id_number": mangled, "room": "3-2-501"}))["身份证号"]
    assert "Excel stored this ID number as a number" in message
    assert "E+17" in message


@pytest.mark.parametrize("text", ["1.10105E+17", "4.20102E+17", "1.1010519E17"])
def test_an_id_number_in_scientific_notation_is_refused(text):
    message = problems(read({"name": "王五", "id_number": text, "room": "3-2-501"}))["身份证号"]
    assert "scientific notation" in message


def test_an_id_number_with_a_decimal_tail_from_a_number_cell_is_refused():
    message = problems(read({"name": "王五", "id_number": "110105194912310020.0",
                             "room": "3-2-501"}))["身份证号"]
    assert "lost" in message


def test_a_fifteen_digit_old_id_number_is_converted():
    result = read({"name": "赵六", "id_number": 420102500308123.0, "room": "3-2-501"})
    assert isinstance(result, RowValues), result
    assert result.birth_date == date(1950, 3, 8)
    assert result.id_masked.startswith("420102") and len(result.id_masked) == 18


def test_a_wrong_check_digit_is_refused_with_the_expected_one():
    wrong = ID[:17] + ("0" if ID[17] != "0" else "1")
    message = problems(read({"name": "赵六", "id_number": wrong, "room": "3-2-501"}))["身份证号"]
    assert "check digit" in message and ID[17] in message


def test_gender_and_birth_date_must_agree_with_the_id_number():
    found = problems(read({"name": "赵六", "id_number": ID, "gender": "女",
                           "birth_date": "1950-03-09", "room": "3-2-501"}))
    assert "does not match the ID number" in found["性别"]
    assert "1950-03-08" in found["出生日期"]


@pytest.mark.parametrize(("text", "expected"), [
    ("1990-02-30", "not a real date"), ("1990年13月1日", "not a real date"),
    ("2090-01-01", "in the future"), ("1885-01-01", "before 1890"), ("明年", "not a date")])
def test_impossible_dates_are_refused(text, expected):
    message = problems(read({"name": "赵六", "birth_date": text, "room": "3-2-501"}))["出生日期"]
    assert expected in message


@pytest.mark.parametrize("text", ["1990-1-2", "1990/01/02", "1990.1.2", "1990年1月2日",
                                  "19900102", "1990-01-02 00:00:00"])
def test_the_date_notations_people_use_are_read(text):
    result = read({"name": "赵六", "birth_date": text, "room": "3-2-501"})
    assert isinstance(result, RowValues) and result.birth_date == date(1990, 1, 2)


@pytest.mark.parametrize(("name", "reason"), [
    ("??谑", "looks broken"), ("张\ufffd", "looks broken"), ("鏉庡洓", "looks broken"),
    ("æ\x9d\x8eå\x9b\x9b", "control characters"), ("=HYPERLINK(\"x\")", "cannot have")])
def test_mojibake_and_formula_text_in_names_are_refused(name, reason):
    assert reason in problems(read({"name": name, "room": "3-2-501"}))["姓名"]


def test_a_formula_cell_is_refused_whatever_its_value():
    found = problems(read({"name": "赵六", "id_number": ID, "room": "3-2-501"},
                          formulas=frozenset({1})))
    assert "formula" in found["身份证号"]


@pytest.mark.parametrize(("cells", "expected"), [
    ({"room": "3-2-501"}, (3, 2, "501")),
    ({"room": "三号楼二单元501室"}, (3, 2, "501")),
    ({"building": "12号楼", "room": "1101"}, (12, None, "1101")),  # the room decides
    ({"building": "12", "room": "2-1101"}, (12, 2, "1101")),
    ({"building": "十二", "unit": "三", "room": "201"}, (12, 3, "201")),
    ({"address": "武汉市江岸区幸福小区3栋2单元501室"}, (3, 2, "501")),
    ({"address": "幸福小区 3-2-501"}, (3, 2, "501")),
])
def test_room_notations_are_parsed(cells, expected):
    result = read({"name": "赵六", **cells})
    assert isinstance(result, RowValues), result
    assert (result.building, result.unit, result.room) == expected


def test_the_estate_is_taken_from_the_address():
    result = read({"name": "赵六", "address": "江岸区幸福小区3栋2单元501室"})
    assert (result.estate, result.estate_hint) == ("", "幸福小区")


def test_a_row_without_building_says_so():
    assert "building is missing" in problems(read({"name": "赵六", "room": "501"}))["楼栋"]


def test_an_unknown_tag_lists_the_known_ones():
    message = problems(read({"name": "赵六", "room": "3-2-501", "tags": "VIP"}))["人员类别"]
    assert "VIP" in message and "独居老人" in message


@pytest.mark.parametrize("first", ["合计", "总计：120人", "填表人：王芳", "Total"])
def test_totals_and_signature_rows_are_skipped(first):
    job = ChunkJob(rows=[(9, [None, None, first, None], frozenset())],
                   mapping=("name", "id_number", "phone", "room"),
                   names=("姓名", "身份证号", "电话", "房号"), tags={},
                   data_key=settings.DATA_KEY, language="en", today=date(2026, 11, 29))
    assert read_chunk(job) == [None]


def test_blank_rows_are_skipped_and_a_nameless_row_is_reported():
    assert read({}) is None
    assert "name is empty" in problems(read({"phone": "13812345678", "room": "3-2-501"}))["姓名"]


def test_phone_as_excel_number_and_bad_phone():
    ok = read({"name": "赵六", "phone": 13812345678.0, "room": "3-2-501"})
    assert isinstance(ok, RowValues) and ok.phone_last4 == "5678"
    assert "Mobile" in problems(read({"name": "赵六", "phone": "1381234567",
                                      "room": "3-2-501"}))["联系电话"]


def test_a_room_that_names_another_building_than_the_building_column_is_refused():
    message = problems(read({"name": "赵六", "building": "7", "room": "3-2-501"}))["房号"]
    assert "building 3" in message and "says 7" in message


def test_a_unit_in_the_room_that_disagrees_with_the_unit_column_is_refused():
    message = problems(read({"name": "赵六", "building": "7", "unit": "1",
                             "room": "2-501"}))["房号"]
    assert "unit 2" in message


@pytest.mark.parametrize("text", ["1950.03", "1950年3月", "195003", "1950-3"])
def test_a_year_and_month_is_checked_against_the_id_number(text):
    ok = read({"name": "赵六", "id_number": ID, "birth_date": text, "room": "3-2-501"})
    assert isinstance(ok, RowValues) and ok.birth_date == date(1950, 3, 8)
    bad = read({"name": "赵六", "id_number": ID, "birth_date": text.replace("3", "4", 1)
                .replace("195", "196", 1), "room": "3-2-501"})
    assert "does not match the ID number" in problems(bad)["出生日期"]
    alone = read({"name": "赵六", "birth_date": text, "room": "3-2-501"})
    assert isinstance(alone, RowValues) and alone.birth_date is None  # no day to store


@pytest.mark.parametrize("name", ["锟斤拷", "张锟斤拷", "烫烫烫"])
def test_well_known_conversion_debris_is_refused(name):
    assert "looks broken" in problems(read({"name": name, "room": "3-2-501"}))["姓名"]


def test_several_phones_in_one_cell_are_refused_with_what_to_do():
    message = problems(read({"name": "赵六", "phone": "13812345678/13987654321",
                             "room": "3-2-501"}))["联系电话"]
    assert "several phone numbers" in message


def test_a_name_with_a_middle_dot_alone_in_a_row_is_not_skipped():
    result = read({"name": "阿卜杜·热合曼"})
    assert isinstance(result, RowProblems)  # reported (no room), not silently skipped


@pytest.mark.parametrize(("word", "relation"), [("表哥", "relative"), ("女婿", "child_in_law"),
                                                ("干爹", "other")])
def test_relations(word, relation):
    result = read({"name": "赵六", "room": "3-2-501", "relation": word})
    assert result.relation == relation


def test_a_full_room_notation_whose_unit_disagrees_with_the_unit_column_is_refused():
    message = problems(read({"name": "赵六", "unit": "1", "room": "3-2-501"}))["房号"]
    assert "unit 2" in message


def test_a_csv_text_literal_is_unwrapped_but_a_formula_is_not():
    ok = read({"name": "赵六", "id_number": f'="{ID}"', "phone": '="13812345678"',
               "room": "3-2-501"})
    assert isinstance(ok, RowValues) and ok.phone_last4 == "5678"
    bad = read({"name": "赵六", "id_number": f'="{ID[:9]}"&"{ID[9:]}"', "room": "3-2-501"})
    assert "身份证号" in problems(bad)
