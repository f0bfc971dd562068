"""The columns of a roster: which fangkong field each header name means.

Header names are matched after normalising: half-width, lower case, without spaces,
required-marks (*, ※), and bracketed notes ("联系电话（手机）" -> "联系电话"). A two-row header
arrives joined as "住址/楼栋": the bottom part is tried first, then the whole, then the top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fangkong.lib.text import to_halfwidth


@dataclass(frozen=True)
class Field:
    key: str
    label: Promise
    synonyms: tuple[str, ...]
    # What the mapping screen says a column holds (shown next to the choice).
    personal: bool = False  # masked in samples


FIELDS: tuple[Field, ...] = (
    Field("name", _("Name"), ("姓名", "名字", "居民姓名", "人员姓名", "住户姓名", "name",
                              "fullname", "full name")),
    Field("id_number", _("ID number"), ("身份证号", "身份证号码", "公民身份号码", "公民身份证号",
                                         "公民身份证号码", "证件号码", "证件号", "身份证",
                                         "身份证件号码", "idnumber", "id number",
                                         "idcard", "id card"), personal=True),
    Field("phone", _("Phone"), ("联系电话", "电话", "手机", "手机号", "手机号码", "联系方式",
                                "电话号码", "移动电话", "联系号码", "本人电话", "phone",
                                "mobile", "tel", "telephone"), personal=True),
    Field("gender", _("Gender"), ("性别", "gender", "sex")),
    Field("birth_date", _("Birth date"), ("出生日期", "出生年月", "出生年月日", "生日",
                                          "birthdate", "birth date", "birthday", "dob")),
    Field("address", _("Address (building, unit and room)"),
          ("地址", "住址", "家庭住址", "现住址", "居住地址", "详细地址", "现居住地址", "门牌地址",
           "居住地", "address")),
    Field("estate", _("Estate"), ("小区", "小区名称", "所在小区", "小区名", "estate")),
    Field("building", _("Building"), ("楼栋", "楼号", "栋", "楼栋号", "幢", "栋号", "楼",
                                      "building")),
    Field("unit", _("Unit"), ("单元", "单元号", "unit")),
    Field("room", _("Room"), ("房号", "门牌号", "房间号", "室", "房间", "门牌", "房屋号",
                              "room")),
    Field("grid", _("Grid"), ("网格", "所属网格", "网格名称", "网格名", "grid")),
    Field("relation", _("Relation to householder"), ("与户主关系", "关系", "户主关系",
                                                     "与户主的关系", "relation")),
    Field("tags", _("Tags"), ("人员类别", "标签", "人员类型", "特殊人群", "人群类别", "类别",
                              "tags")),
    Field("remarks", _("Remarks"), ("备注", "说明", "备注说明", "remarks", "remark", "note",
                                    "notes")),
)
FIELD_BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}
IGNORE = ""

# Column names that are headers but carry nothing fangkong keeps (they still tell the
# header row apart from a title row).
KNOWN_OTHER_HEADERS = frozenset({
    "序号", "编号", "年龄", "民族", "籍贯", "户籍", "户籍地", "户籍地址", "工作单位", "文化程度",
    "政治面貌", "婚姻状况", "职业", "no", "no.", "#", "户主姓名", "户主", "人口数", "家庭人口",
    "是否户主", "所属社区", "社区", "街道", "填表人", "签名", "户号", "id",
})

_BRACKETED = re.compile(r"[(\[（【〔][^)\]）】〕]*[)\]）】〕]")
_NOISE = re.compile(r"[\s*※:：_\-]+")

_SYNONYMS: dict[str, str] = {}
for _field in FIELDS:
    for _name in (_field.key, *_field.synonyms):
        _SYNONYMS[_NOISE.sub("", _name.lower())] = _field.key


def normalise_header(text: str) -> str:
    text = to_halfwidth(str(text)).lower()
    text = _BRACKETED.sub("", text)
    return _NOISE.sub("", text)


def field_for_header(text: str) -> str | None:
    """The field a header name means, or None. For "top/bottom" names the bottom part
    wins ("住址/楼栋" is the building), then the whole, then the top ("联系方式/..." )."""
    parts = [p for p in str(text).split("/") if p.strip()]
    candidates = [parts[-1], "".join(parts), parts[0]] if len(parts) > 1 else parts
    for candidate in candidates:
        key = _SYNONYMS.get(normalise_header(candidate))
        if key:
            return key
    return None


def is_header_cell(text: str) -> bool:
    """True for a cell that reads like a column name (used to find the header row)."""
    if not isinstance(text, str) or not text.strip() or len(text) > 40:
        return False
    return (field_for_header(text) is not None
            or normalise_header(text) in KNOWN_OTHER_HEADERS)


def auto_mapping(names: list[str], *, template: dict[str, str] | None = None) -> list[str]:
    """One field key (or IGNORE) per column. A template's mapping (header name -> key)
    wins; each field is mapped once, to the first column that names it."""
    template = {normalise_header(k): v for k, v in (template or {}).items()}
    mapping: list[str] = []
    taken: set[str] = set()
    for name in names:
        key = template.get(normalise_header(name)) if template else None
        if key is None:
            key = field_for_header(name) or IGNORE
        if key and (key in taken or key not in FIELD_BY_KEY):
            key = IGNORE
        if key:
            taken.add(key)
        mapping.append(key)
    return mapping


def mapping_problems(mapping: list[str]) -> list[str]:
    """What is missing or doubled in a mapping, as sentences; empty when it can be used."""
    problems = []
    keys = [k for k in mapping if k]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        problems.append(_("Two columns are both mapped to “%(field)s”; choose one.")
                        % {"field": FIELD_BY_KEY[key].label})
    if "name" not in keys:
        problems.append(_("No column holds the name (姓名). Choose which column does."))
    if "address" not in keys and "room" not in keys:
        problems.append(_("No column says where the resident lives. Choose the room (房号) "
                          "column, with building (楼栋) and unit (单元) if the file has them, "
                          "or the address (地址) column."))
    return [str(p) for p in problems]
