"""Reading one row of a roster into the values of a resident, or saying precisely why not.

Pure: no database. The analysis runs :func:`read_chunk` in worker processes on big files,
so everything here must work from plain arguments (the data key is passed as a string).
A row either becomes a :class:`RowValues` (sealed ID number and phone included) or a list
of problems, each naming the column and saying what is wrong in words a grid worker
understands.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field, make_dataclass
from datetime import date, datetime
from typing import NamedTuple

from django.utils import translation
from django.utils.translation import gettext as _

from fangkong.lib import crypto
from fangkong.lib.address import chinese_number, parse_room
from fangkong.lib.encoding import mojibake_reason
from fangkong.lib.idcard import IdNumberError, mask_id_number, parse_id_number
from fangkong.lib.phone import PhoneError, mask_phone, parse_phone, phone_last4
from fangkong.lib.pinyin import name_initials, pinyin_full
from fangkong.lib.text import find_unsafe_char, to_halfwidth
from fangkong.residents.personal import ID_NUMBER, PHONE

NAME_MAX = 64
REMARKS_MAX = 1000
ROOM_MAX = 16
ESTATE_MAX = 64

# Rows that close a table rather than describe a resident: skipped, not reported.
_NOTE_ROW = re.compile(r"^\s*(合\s*计|总\s*计|小\s*计|共\s*计|填表人|填报人|制表人?|审核人?|"
                       r"导出人|导出时间|负责人|联系人|说明|注[:：]|备注[:：]|total)", re.I)
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
_DECIMAL_TAIL = re.compile(r"^(\d+)\.0+$")
_CJK_AND_SPACES = re.compile(r"^[\u3400-\u9fff\U00020000-\U0003134f·•\s]+$")
_DATE_PARTS = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                         r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_YEAR_MONTH = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?$")
_YEAR_MONTH_COMPACT = re.compile(r"^(\d{4})(\d{2})$")
_BUILDING = re.compile(r"^(?:第)?(\d+|[零〇一二两三四五六七八九十]+)\s*(?:号楼|号栋|栋|幢|座|号|楼)?$")
_UNIT = re.compile(r"^(?:第)?(\d+|[零〇一二两三四五六七八九十]+)\s*(?:单元|门|号)?$")
_UNIT_ROOM = re.compile(r"^(\d{1,2})-(\d{1,5})$")
_ROOM = re.compile(r"^(\d{1,5}|[A-Za-z]?\d{1,5}[A-Za-z]?)\s*(?:室|号|房)?$")
# The room notation at the end of an address: "...三德里小区3栋2单元501室", "...3-2-501".
_ADDRESS_ROOM = re.compile(
    r"(?:(\d+|[零〇一二两三四五六七八九十]+)\s*(?:号楼|栋|幢|座)\s*"
    r"(?:(\d+|[零〇一二两三四五六七八九十]+)\s*单元)?\s*(\d{1,5})\s*(?:室|号)?"
    r"|(\d+)-(\d+)-(\d{1,5}))\s*$")
_ESTATE_TAIL = re.compile(r"([^\s,，、;；区市县镇乡街道路巷号]{1,20}?(?:小区|花园|家园|新村|公寓|大厦|"
                          r"苑|庭|院|城|里|村|广场|社区))$")
_NOTE_CHARS = re.compile(r"[:：，,。\d]")
_ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_DIGIT_RUN = re.compile(r"\d(?:[\s\-－]?\d){6,}")
_TEXT_LITERAL = re.compile(r'^="([^"]*)"$')
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_TAG_SPLIT = re.compile(r"[,，、;；/|\s]+")

GENDERS = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F",
           "男性": "M", "女性": "F"}
UNKNOWN_GENDERS = frozenset({"", "未知", "不详", "u", "unknown"})
RELATIONS = {
    "本人": "self", "户主": "self", "自己": "self", "self": "self",
    "配偶": "spouse", "妻": "spouse", "妻子": "spouse", "夫": "spouse", "丈夫": "spouse",
    "老婆": "spouse", "老公": "spouse", "spouse": "spouse",
    "子": "child", "女": "child", "儿子": "child", "女儿": "child", "子女": "child",
    "长子": "child", "次子": "child", "长女": "child", "次女": "child", "养子": "child",
    "养女": "child", "孩子": "child", "child": "child",
    "父亲": "parent", "母亲": "parent", "父": "parent", "母": "parent", "父母": "parent",
    "岳父": "parent", "岳母": "parent", "公公": "parent", "婆婆": "parent", "parent": "parent",
    "孙子": "grandchild", "孙女": "grandchild", "外孙": "grandchild", "外孙女": "grandchild",
    "孙子女": "grandchild", "grandchild": "grandchild",
    "祖父": "grandparent", "祖母": "grandparent", "外祖父": "grandparent",
    "外祖母": "grandparent", "爷爷": "grandparent", "奶奶": "grandparent", "外公": "grandparent",
    "外婆": "grandparent", "grandparent": "grandparent",
    "兄": "sibling", "弟": "sibling", "姐": "sibling", "妹": "sibling", "兄弟": "sibling",
    "姐妹": "sibling", "哥哥": "sibling", "弟弟": "sibling", "姐姐": "sibling",
    "妹妹": "sibling", "兄弟姐妹": "sibling", "sibling": "sibling",
    "儿媳": "child_in_law", "女婿": "child_in_law", "儿媳妇": "child_in_law",
    "租户": "tenant", "租客": "tenant", "租住": "tenant", "承租人": "tenant", "tenant": "tenant",
    "亲属": "relative", "其他亲属": "relative", "亲戚": "relative", "relative": "relative",
    "表哥": "relative", "表姐": "relative", "表弟": "relative", "表妹": "relative",
    "堂哥": "relative", "堂姐": "relative", "堂弟": "relative", "堂妹": "relative",
    "侄子": "relative", "侄女": "relative", "外甥": "relative", "外甥女": "relative",
    "叔叔": "relative", "阿姨": "relative", "舅舅": "relative", "姑姑": "relative",
    "伯父": "relative", "伯母": "relative", "叔父": "relative", "婶婶": "relative",
    "舅妈": "relative", "姑父": "relative", "姨父": "relative", "孙媳": "relative",
    "孙女婿": "relative", "曾孙": "grandchild", "曾孙女": "grandchild",
    "其他": "other", "保姆": "other", "朋友": "other", "other": "other",
}


class RowValues(NamedTuple):
    """A readable row. `None` means the file says nothing (the column is absent or the
    cell empty): an update leaves that field as it is. A named tuple: it crosses from the
    worker processes several times faster than a dataclass."""

    row: int
    name: str
    initials: str
    pinyin: str
    gender: str | None = None
    birth_date: date | None = None
    id_sealed: bytes | None = None
    id_index: str | None = None
    id_masked: str = ""
    phone_sealed: bytes | None = None
    phone_index: str | None = None
    phone_masked: str = ""
    phone_last4: str = ""
    phone_kind: str = ""
    estate: str = ""  # from an estate (小区) column: a building must be in that estate
    estate_hint: str = ""  # read off an address: used to tell buildings apart, if it can
    building: int | None = None
    unit: int | None = None  # None: not given (the room decides, else unit 1)
    room: str | None = None
    grid: str = ""
    relation: str | None = None
    remarks: str | None = None
    tags: tuple[str, ...] | None = None


# RowValues while a row is being read: the same fields, mutable.
_Values = make_dataclass(
    "_Values", [(name, RowValues.__annotations__[name],
                 field(default=RowValues._field_defaults[name]))
                if name in RowValues._field_defaults else (name, RowValues.__annotations__[name])
                for name in RowValues._fields], slots=True)


@dataclass(slots=True)
class RowProblems:
    row: int
    problems: list[tuple[str, str]] = field(default_factory=list)  # (column name, message)


# What read_chunk returns per row: values, problems, or None for a row to skip (blank or
# a totals/notes row).
RowResult = RowValues | RowProblems | None


@dataclass(frozen=True)
class ChunkJob:
    """Everything a process needs to read a chunk of rows."""

    rows: list[tuple[int, list, frozenset[int]]]  # (row number, cells, formula columns)
    mapping: tuple[str, ...]  # field key per column ("" = ignored)
    names: tuple[str, ...]  # column names, for messages
    tags: dict[str, str]  # tag name or slug (normalised) -> slug
    data_key: str
    language: str
    today: date
    merged_rows: frozenset[int] = frozenset()  # row numbers with a cell merged across columns


def read_chunk(job: ChunkJob) -> list[RowResult]:
    with translation.override(job.language):
        reader = _RowReader(job)
        return [reader.read(number, cells, formulas) for number, cells, formulas in job.rows]


_VALUE_FIELDS = operator.attrgetter(*RowValues._fields)


class _RowReader:
    def __init__(self, job: ChunkJob) -> None:
        self.job = job
        ring = crypto._keyring_for(job.data_key)
        self.seal, self.index = ring.seal, ring.blind_index
        self.columns = {key: i for i, key in enumerate(job.mapping) if key}
        self._year_month: date | None = None

    def read(self, number: int, cells: list, formulas: frozenset[int]) -> RowResult:
        job = self.job
        first = None
        filled = 0
        for value in cells:
            if value is not None and (value.strip() if type(value) is str else True):
                filled += 1
                if first is None:
                    first = str(value)
                elif filled > 1:
                    break
        if first is None:
            return None  # a blank row
        problems = RowProblems(number)
        width = len(cells)
        if formulas:
            texts: dict[str, object] = {}
            for key, col in self.columns.items():
                if col in formulas:
                    problems.problems.append((job.names[col], _(
                        "This cell holds a formula, not a value. In Excel, copy the column "
                        "and paste it back with “Paste values”, then import again.")))
                else:
                    texts[key] = cells[col] if col < width else None
        else:
            texts = {key: cells[col] if col < width else None
                     for key, col in self.columns.items()}
        # A totals or signature row ("合计 120人", "填表人：王芳") closes the table: its first
        # filled cell says so, and it carries no ID number.
        if _NOTE_ROW.match(first) and not _filled(texts.get("id_number")):
            return None
        # A note above or below the table: one cell merged across the columns, or one cell
        # with what no name has (a colon, a date). An export's footer and watermark are so.
        if filled == 1 and (number in self.job.merged_rows or _NOTE_CHARS.search(first)):
            return None
        values = _Values(row=number, name="", initials="", pinyin="")
        self._name(texts, values, problems)
        self._id_number(texts, values, problems)
        self._phone(texts, values, problems)
        self._gender_and_birth(texts, values, problems)
        self._place(texts, values, problems)
        self._others(texts, values, problems)
        return problems if problems.problems else RowValues(*_VALUE_FIELDS(values))

    def _col(self, key: str) -> str:
        return self.job.names[self.columns[key]]

    def _problem(self, problems: RowProblems, key: str, message: str) -> None:
        # Problems are stored and shown to everyone who may import here: an ID number or
        # phone quoted in a message is masked like everywhere else.
        problems.problems.append((self._col(key), mask_digit_runs(message)))

    def _text(self, texts: dict, key: str, problems: RowProblems, *,
              multiline: bool = False) -> str | None:
        """The cell as clean text, None when empty; reports unstorable or broken text."""
        value = texts.get(key)
        if value is None:
            return None
        if type(value) is str:
            text = value.strip()
            if not text:
                return None
        else:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, datetime | date):
                value = value.isoformat()
            text = str(value).strip()
        if text.startswith("'"):  # Excel's "this is text" mark, and what exports add
            text = text[1:].strip()
        elif text.startswith('="'):
            # ="0123": the old trick of systems exporting CSV to keep digits as text. A
            # plain string literal computes nothing; anything else is a formula.
            literal = _TEXT_LITERAL.match(text)
            if literal:
                text = literal.group(1).strip()
        if find_unsafe_char(text, multiline=multiline) is not None:
            self._problem(problems, key, _(
                "This text contains control characters that cannot be stored; type it again."))
            return None
        reason = mojibake_reason(text)
        if reason:
            self._problem(problems, key, _("The text “%(text)s” looks broken: %(reason)s")
                          % {"text": text[:40], "reason": reason})
            return None
        return text or None

    def _name(self, texts: dict, values, problems: RowProblems) -> None:
        if "name" not in self.columns:
            return
        text = self._text(texts, "name", problems)
        if text is None:
            if not any(c[0] == self._col("name") for c in problems.problems):
                self._problem(problems, "name", _("The name is empty."))
            return
        if _CJK_AND_SPACES.match(text):
            name = "".join(text.split())  # "张  伟" aligned with spaces is 张伟
        else:
            name = " ".join(text.split())
        if len(name) > NAME_MAX:
            self._problem(problems, "name", _("The name is too long (at most %(n)d characters).")
                          % {"n": NAME_MAX})
        elif "?" in name or "？" in name or any(c in name for c in "=+@<>{}[]\\"):
            self._problem(problems, "name", _(
                "The name “%(name)s” contains characters a name cannot have (such as ? or =); "
                "type it again from the original document.") % {"name": name[:40]})
        else:
            values.name = name
            values.initials = name_initials(name)
            values.pinyin = pinyin_full(name)

    def _id_number(self, texts: dict, values, problems: RowProblems) -> None:
        if "id_number" not in self.columns:
            return
        raw = texts.get("id_number")
        if not _filled(raw):
            return
        if isinstance(raw, float):
            if raw.is_integer() and raw < 1e15:
                raw = str(int(raw))  # a 15-digit old ID survives as a number
            else:
                self._problem(problems, "id_number", _(
                    "Excel stored this ID number as a number and lost its last digits "
                    "(it shows as %(shown)s). Set the column's format to Text, type the "
                    "numbers again from the original, and import again.")
                    % {"shown": f"{raw:.5E}"})
                return
        elif isinstance(raw, int):
            if raw >= 10**15:
                # Integers this long can only come from a number cell: Excel keeps 15 digits.
                self._problem(problems, "id_number", _(
                    "Excel stored this ID number as a number, which keeps only 15 digits. "
                    "Set the column's format to Text and type the numbers again."))
                return
            raw = str(raw)
        text = self._text({"id_number": raw}, "id_number", problems)
        if text is None:
            return
        text = to_halfwidth(text).strip()
        if _SCIENTIFIC.match(text):
            self._problem(problems, "id_number", _(
                "The ID number “%(text)s” was turned into scientific notation by Excel and "
                "its last digits are lost. Set the column's format to Text, type the numbers "
                "again from the original, and import again.") % {"text": text})
            return
        tail = _DECIMAL_TAIL.match(text)
        if tail:
            if len(tail.group(1)) > 15:
                self._problem(problems, "id_number", _(
                    "The ID number “%(text)s” was stored as a number by Excel and its last "
                    "digits are lost. Set the column's format to Text and type it again.")
                    % {"text": text})
                return
            text = tail.group(1)
        try:
            info = parse_id_number(text, today=self.job.today)
        except IdNumberError as exc:
            self._problem(problems, "id_number", str(exc))
            return
        values.id_sealed = self.seal(info.number, purpose=ID_NUMBER)
        values.id_index = self.index(info.number, purpose=ID_NUMBER)
        values.id_masked = mask_id_number(info.number)
        values.gender = info.gender
        values.birth_date = info.birth_date

    def _phone(self, texts: dict, values, problems: RowProblems) -> None:
        if "phone" not in self.columns:
            return
        raw = texts.get("phone")
        if not _filled(raw):
            return
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        text = self._text({"phone": raw}, "phone", problems)
        if text is None:
            return
        if len(_MOBILE.findall(to_halfwidth(text))) > 1:
            self._problem(problems, "phone", _(
                "There are several phone numbers in this cell. Keep one here; add the others "
                "on the resident's page after the import."))
            return
        try:
            phone = parse_phone(to_halfwidth(text))
        except PhoneError as exc:
            self._problem(problems, "phone", str(exc))
            return
        values.phone_sealed = self.seal(phone.number, purpose=PHONE)
        values.phone_index = self.index(phone.number, purpose=PHONE)
        values.phone_masked = mask_phone(phone.number)
        values.phone_last4 = phone_last4(phone.number)
        values.phone_kind = phone.kind

    def _gender_and_birth(self, texts: dict, values, problems: RowProblems) -> None:
        if "gender" in self.columns:
            text = self._text(texts, "gender", problems)
            if text is not None:
                key = text.strip().lower()
                gender = GENDERS.get(key)
                if gender is None and key not in UNKNOWN_GENDERS:
                    self._problem(problems, "gender", _(
                        "“%(text)s” is not a gender; write 男 or 女.") % {"text": text[:20]})
                elif gender and values.gender and gender != values.gender:
                    self._problem(problems, "gender", _(
                        "The gender (%(given)s) does not match the ID number, which says "
                        "%(id)s.") % {"given": text, "id": "男" if values.gender == "M" else "女"})
                elif gender:
                    values.gender = gender
        if "birth_date" in self.columns:
            self._year_month = None
            birth = self._date(texts, "birth_date", problems)
            given = self._year_month
            if given and values.birth_date and (given.year, given.month) != (
                    values.birth_date.year, values.birth_date.month):
                self._problem(problems, "birth_date", _(
                    "The birth date %(given)s does not match the ID number, which says "
                    "%(id)s.") % {"given": f"{given:%Y-%m}",
                                 "id": values.birth_date.isoformat()})
            if birth is not None:
                if values.birth_date and birth != values.birth_date:
                    self._problem(problems, "birth_date", _(
                        "The birth date %(given)s does not match the ID number, which says "
                        "%(id)s.") % {"given": birth.isoformat(),
                                     "id": values.birth_date.isoformat()})
                elif birth > self.job.today:
                    self._problem(problems, "birth_date", _("The birth date is in the future."))
                elif birth.year < 1890:
                    self._problem(problems, "birth_date", _(
                        "The birth date is before 1890; check the year."))
                else:
                    values.birth_date = birth

    def _date(self, texts: dict, key: str, problems: RowProblems) -> date | None:
        value = texts.get(key)
        if not _filled(value):
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            text = str(int(value)) if float(value).is_integer() else str(value)
        else:
            text = self._text(texts, key, problems)
            if text is None:
                return None
        text = to_halfwidth(text).strip()
        match = _DATE_PARTS.match(text) or _DATE_COMPACT.match(text)
        month = None if match else (_YEAR_MONTH.match(text) or _YEAR_MONTH_COMPACT.match(text))
        if month:
            # "出生年月" columns hold a year and a month: no day to store. It is checked
            # against the ID number where there is one, and otherwise left out.
            try:
                first_day = date(int(month.group(1)), int(month.group(2)), 1)
            except ValueError:
                first_day = None
            if first_day is None:
                self._problem(problems, key, _(
                    "“%(text)s” is not a real date (no such day in that month).")
                    % {"text": text[:20]})
            self._year_month = first_day
            return None
        if not match:
            self._problem(problems, key, _(
                "“%(text)s” is not a date; write it as 1990-01-31.") % {"text": text[:20]})
            return None
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            self._problem(problems, key, _(
                "“%(text)s” is not a real date (no such day in that month).")
                % {"text": text[:20]})
            return None

    def _place(self, texts: dict, values, problems: RowProblems) -> None:
        building = unit = None
        room = None
        estate = hint = ""
        if "address" in self.columns:
            address = self._text(texts, "address", problems)
            if address is not None:
                found = _find_room(address)
                if found is None:
                    self._problem(problems, "address", _(
                        "Cannot find the building and room in the address “%(text)s”; write "
                        "it like 3栋2单元501 or 3-2-501.") % {"text": address[:60]})
                else:
                    building, unit, room, hint = found
        if "estate" in self.columns:
            text = self._text(texts, "estate", problems)
            if text is not None:
                estate = " ".join(text.split())[:ESTATE_MAX]
        if "building" in self.columns:
            text = self._text(texts, "building", problems)
            if text is not None:
                match = _BUILDING.match(to_halfwidth(text).replace(" ", ""))
                number = chinese_number(match.group(1)) if match else None
                if number is None or number < 1:
                    self._problem(problems, "building", _(
                        "“%(text)s” is not a building number; write it like 3 or 3栋.")
                        % {"text": text[:20]})
                else:
                    building = number
        if "unit" in self.columns:
            text = self._text(texts, "unit", problems)
            if text is not None:
                match = _UNIT.match(to_halfwidth(text).replace(" ", ""))
                number = chinese_number(match.group(1)) if match else None
                if number is None or not 1 <= number <= 99:
                    self._problem(problems, "unit", _(
                        "“%(text)s” is not a unit number; write it like 2 or 2单元.")
                        % {"text": text[:20]})
                else:
                    unit = number
        if "room" in self.columns:
            text = self._text(texts, "room", problems)
            if text is not None:
                compact = to_halfwidth(text).replace(" ", "").replace("－", "-")
                match = _ROOM.match(compact)
                unit_room = _UNIT_ROOM.match(compact) if building is not None else None
                notation = None if match or unit_room else parse_room(compact)
                if match:
                    room = match.group(1)
                elif unit_room:  # "2-501" next to a building column: unit 2, room 501
                    given = int(unit_room.group(1))
                    if unit is not None and unit != given:
                        self._problem(problems, "room", _(
                            "The room “%(text)s” says unit %(room_unit)d, but the unit column "
                            "says %(unit)d.") % {"text": text[:20], "room_unit": given,
                                                 "unit": unit})
                    unit, room = given, unit_room.group(2)
                elif notation is not None and notation.room:
                    if building is not None and notation.building != building:
                        self._problem(problems, "room", _(
                            "The room “%(text)s” says building %(room_building)d, but the "
                            "building column says %(building)d.") % {
                            "text": text[:20], "room_building": notation.building,
                            "building": building})
                    if notation.unit and unit is not None and notation.unit != unit:
                        self._problem(problems, "room", _(
                            "The room “%(text)s” says unit %(room_unit)d, but the unit column "
                            "says %(unit)d.") % {"text": text[:20], "room_unit": notation.unit,
                                                 "unit": unit})
                    building = notation.building
                    unit = notation.unit or unit
                    room = notation.room
                else:
                    self._problem(problems, "room", _(
                        "“%(text)s” is not a room number; write it like 501, or 3-2-501 with "
                        "building and unit.") % {"text": text[:20]})
        if room is None and building is None:
            if not problems.problems:
                self._problem(problems, "room" if "room" in self.columns else "address", _(
                    "The room is empty: every resident needs building and room."))
            return
        if building is None:
            self._problem(problems, "building" if "building" in self.columns else "room", _(
                "The building is missing; write the building number (楼栋) or the room as "
                "3-2-501."))
            return
        if room is None:
            self._problem(problems, "room" if "room" in self.columns else "address",
                          _("The room number is missing."))
            return
        if len(room) > ROOM_MAX:
            self._problem(problems, "room", _("The room number is too long."))
            return
        if problems.problems:
            return
        values.building, values.unit, values.room = building, unit, room
        values.estate, values.estate_hint = estate, hint
        if "grid" in self.columns:
            values.grid = self._text(texts, "grid", problems) or ""

    def _others(self, texts: dict, values, problems: RowProblems) -> None:
        if "relation" in self.columns:
            text = self._text(texts, "relation", problems)
            if text is not None:
                values.relation = RELATIONS.get(text.replace(" ", "").lower(), "other")
        if "remarks" in self.columns:
            text = self._text(texts, "remarks", problems, multiline=True)
            if text is not None:
                if len(text) > REMARKS_MAX:
                    self._problem(problems, "remarks", _(
                        "Too long: at most %(n)d characters.") % {"n": REMARKS_MAX})
                else:
                    values.remarks = text
        if "tags" in self.columns:
            text = self._text(texts, "tags", problems)
            if text is not None:
                slugs, unknown = [], []
                for part in _TAG_SPLIT.split(text):
                    if not part:
                        continue
                    slug = self.job.tags.get(part.lower())
                    (slugs if slug else unknown).append(slug or part)
                if unknown:
                    self._problem(problems, "tags", _(
                        "Unknown tag “%(tag)s”. Known tags: %(known)s.")
                        % {"tag": unknown[0][:20],
                           "known": "、".join(sorted({k for k in self.job.tags if not k.isascii()}))})
                else:
                    values.tags = tuple(dict.fromkeys(slugs))


def mask_digit_runs(text: str) -> str:
    """Mask every run of 7 or more digits (spaces and dashes inside allowed) but its last
    4 digits: "138 0013 8000" -> "*** **** 8000"."""
    def mask(match: re.Match) -> str:
        run = match.group()
        if _ISO_DATE.fullmatch(run):  # a date (1958-04-12) is not a number to hide
            return run
        keep = len(run)
        digits = 0
        for i in range(len(run) - 1, -1, -1):
            if run[i].isdigit():
                digits += 1
                if digits == 4:
                    keep = i
                    break
        return "".join("*" if c.isdigit() else c for c in run[:keep]) + run[keep:]

    return _DIGIT_RUN.sub(mask, text)


def _filled(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def _find_room(address: str) -> tuple[int, int | None, str, str] | None:
    """(building, unit, room, estate) from an address that ends with a room notation."""
    compact = to_halfwidth(address).strip().replace("—", "-").replace("－", "-")
    match = _ADDRESS_ROOM.search(compact)
    if not match:
        return None
    if match.group(4):
        building = int(match.group(4))
        unit: int | None = int(match.group(5))
        room = match.group(6)
    else:
        building = chinese_number(match.group(1))
        unit = chinese_number(match.group(2)) if match.group(2) else None
        room = match.group(3)
        if building is None or (match.group(2) and unit is None):
            return None
    before = compact[:match.start()].strip(" ,，")
    estate_match = _ESTATE_TAIL.search(before)
    estate = estate_match.group(1) if estate_match else ""
    return building, unit, room, estate
