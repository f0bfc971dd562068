"""Parsing the room notations people type: "3栋2单元501", "3-2-501", "三号楼二单元501室"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fangkong.lib.text import to_halfwidth

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}


def chinese_number(text: str) -> int | None:
    """"三" -> 3, "十二" -> 12, "二十" -> 20, "二十三" -> 23, digits as they are; else None."""
    if text.isdigit():
        return int(text)
    if not text or any(c not in _CN_DIGITS and c != "十" for c in text):
        return None
    if "十" not in text:
        value = 0
        for c in text:
            value = value * 10 + _CN_DIGITS[c]
        return value
    tens, _, ones = text.partition("十")
    return (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


@dataclass(frozen=True, slots=True)
class RoomRef:
    building: int
    unit: int | None
    room: str | None


_NUM = r"(\d+|[零〇一二两三四五六七八九十]+)"
_PATTERNS = [
    re.compile(rf"^{_NUM}(?:号楼|栋|幢|座|号)\s*(?:{_NUM}单元)?\s*(?:(\d{{1,5}})(?:室|号)?)?$"),
    re.compile(r"^(\d+)-(\d+)-(\d{1,5})$"),
    re.compile(r"^(\d+)-(\d{3,5})$"),
]


def parse_room(text: str) -> RoomRef | None:
    """Return building/unit/room when `text` is a room notation, else None."""
    text = to_halfwidth(text).strip().replace(" ", "").replace("—", "-").replace("－", "-")
    for pattern in _PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        groups = match.groups()
        if len(groups) == 2:  # "3-501"
            return RoomRef(building=int(groups[0]), unit=None, room=groups[1])
        building = chinese_number(groups[0])
        unit = chinese_number(groups[1]) if groups[1] else None
        if building is None or (groups[1] and unit is None):
            return None
        return RoomRef(building=building, unit=unit, room=groups[2] or None)
    return None
