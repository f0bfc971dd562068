"""Reading building and unit numbers and the room notations people type."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fangkong.lib.address import RoomRef, chinese_number, parse_room

CN_NUMERALS = "零〇一二两三四五六七八九十"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3), ("12", 12), ("0", 0), ("007", 7), ("123456789", 123456789),
        ("零", 0), ("〇", 0), ("一", 1), ("两", 2), ("九", 9),
        ("十", 10), ("十二", 12), ("一十", 10), ("二十", 20), ("二十三", 23), ("两十", 20),
        ("九十九", 99),
    ],
)
def test_digits_and_chinese_numerals_up_to_99_are_read(text, expected):
    assert chinese_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "", "十十", "三十三十", "二三十", "一二", "一二三", "二十三十", "十零", "零十", "十〇",
        "一百", "十十十", "三十十", "二二", "a", "3a", "-1", "1.5", "²", "٣", "１２",
        "1234567890", "9" * 5000,
    ],
)
def test_anything_else_is_none(text):
    assert chinese_number(text) is None


def chinese_reference(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


@given(st.integers(0, 99))
def test_every_number_from_0_to_99_written_in_chinese_reads_back(n):
    assert chinese_number(chinese_reference(n)) == n


@given(st.text(alphabet=CN_NUMERALS + "0123456789", max_size=6))
def test_chinese_number_never_raises_and_stays_in_range(text):
    value = chinese_number(text)
    if value is not None and not text.isascii():
        assert 0 <= value <= 99


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3栋2单元501", RoomRef(3, 2, "501")),
        ("三号楼二单元501室", RoomRef(3, 2, "501")),
        ("二十三栋", RoomRef(23, None, None)),
        ("十二幢两单元1201", RoomRef(12, 2, "1201")),
        ("3-2-501", RoomRef(3, 2, "501")),
        ("3－2－501", RoomRef(3, 2, "501")),
        ("3-501", RoomRef(3, None, "501")),
        ("３栋　501", RoomRef(3, None, "501")),
    ],
)
def test_room_notations_are_read(text, expected):
    assert parse_room(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "十十栋", "三十三十栋", "二三十栋", "3栋十十单元", "3栋二三十单元501", "一二三号楼",
        "²栋", "٣-2-501", "3-٢-501", "9" * 5000 + "-1-101", "1-" + "9" * 5000 + "-101",
        "9" * 5000 + "栋", "张伟", "", "栋",
    ],
)
def test_malformed_room_notations_are_none(text):
    assert parse_room(text) is None


@given(st.text())
def test_parse_room_never_raises_on_any_text(text):
    ref = parse_room(text)
    if ref is not None:
        assert ref.building >= 0
        assert ref.unit is None or ref.unit >= 0


@given(st.text(alphabet=CN_NUMERALS + "0123456789-栋号楼幢座单元室 ", max_size=30))
def test_parse_room_never_raises_on_room_like_text(text):
    parse_room(text)


@pytest.mark.parametrize(
    "text",
    ["1" * 100_000, "1栋" + "1" * 100_000, "十" * 100_000 + "栋", "1-" * 50_000,
     " " * 100_000 + "x"],
)
def test_parse_room_is_fast_on_long_input(text):
    started = time.perf_counter()
    parse_room(text)
    assert time.perf_counter() - started < 1.0
