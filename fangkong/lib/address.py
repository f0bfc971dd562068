"""Parsing the room notations people type: "3栋2单元501", "3-2-501", "三号楼二单元501室"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fangkong.lib.text import to_halfwidth

_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_ZERO = frozenset("零〇")
# Building and unit numbers in figures: at most this many, so that int() stays cheap and
# the value fits any integer column.
_MAX_FIGURES = 9


def chinese_number(text: str) -> int | None:
    """Read a building or unit number: ASCII digits ("12", at most 9 of them) as they are,
    or a Chinese numeral from 0 to 99 written the usual way: "零"/"〇" (0), "一".."九"
    (两 is 2), "十" (10), "十三" (13), "二十" (20), "二十三" (23). Anything else, such as
    "十十", "二三十" or "一二三", is None. Never raises."""
    if text.isascii() and text.isdigit():
        return int(text) if len(text) <= _MAX_FIGURES else None
    if text in _CN_ZERO:
        return 0
    if len(text) == 1:
        return _CN_DIGITS.get(text) if text != "十" else 10
    tens, ten, ones = text.partition("十")
    if not ten or len(tens) > 1 or len(ones) > 1:
        return None
    tens_value = _CN_DIGITS.get(tens) if tens else 1
    ones_value = _CN_DIGITS.get(ones) if ones else 0
    if tens_value is None or ones_value is None:
        return None
    return tens_value * 10 + ones_value


@dataclass(frozen=True, slots=True)
class RoomRef:
    building: int
    unit: int | None
    room: str | None


_NUM = r"(\d+|[零〇一二两三四五六七八九十]+)"
_PATTERNS = [
    re.compile(rf"^{_NUM}(?:号楼|栋|幢|座|号)\s*(?:{_NUM}单元)?\s*(?:(\d{{1,5}})(?:室|号)?)?$",
               re.ASCII),
    re.compile(r"^(\d+)-(\d+)-(\d{1,5})$", re.ASCII),
    re.compile(r"^(\d+)-(\d{3,5})$", re.ASCII),
]


def parse_room(text: str) -> RoomRef | None:
    """Return building/unit/room when `text` is a room notation, else None (also for a
    malformed number such as "十十栋"). Never raises; linear in the length of `text`."""
    text = to_halfwidth(text).strip().replace(" ", "").replace("—", "-").replace("－", "-")
    for pattern in _PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        groups = match.groups()
        building = chinese_number(groups[0])
        if len(groups) == 2:  # "3-501"
            if building is None:
                return None
            return RoomRef(building=building, unit=None, room=groups[1])
        unit = chinese_number(groups[1]) if groups[1] else None
        if building is None or (groups[1] and unit is None):
            return None
        return RoomRef(building=building, unit=unit, room=groups[2] or None)
    return None
