"""Pinyin of personal names, for search by initials ("zw" finds 张伟) or full pinyin.

Readings are looked up one character at a time in ``pypinyin`` and cached, so a name
costs a few dictionary hits. The first character (or the first two for a compound
surname such as 欧阳 or 尉迟) is read as a surname: 单 is ``shan``, not ``dan``; 曾 is
``zeng``, not ``ceng``. Given names use each character's most common reading.
``ü`` is written ``v`` (吕 -> ``lv``), as in input methods.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from pypinyin import Style, lazy_pinyin

from fangkong.lib.text import to_halfwidth

__all__ = ["COMPOUND_SURNAMES", "SURNAME_READINGS", "name_initials", "pinyin_full"]

SURNAME_READINGS: dict[str, str] = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "区": "ou",
    "盖": "ge",
    "乐": "yue",
    "覃": "qin",
    "翟": "zhai",
    "缪": "miao",
    "重": "chong",
    "员": "yun",
    "种": "chong",
    "繁": "po",
    "黑": "he",
    "秘": "bi",
    "卜": "bu",
    "沈": "shen",
    "贾": "jia",
    "石": "shi",
    "柏": "bai",
    "薄": "bo",
    "召": "shao",
    "句": "gou",
    "阚": "kan",
    "折": "she",
    "隗": "wei",
    "都": "du",
    "长": "chang",
    "谌": "chen",
    "祭": "zhai",
    "洗": "xian",
}
"""Reading of a polyphonic character when it is the (single-character) surname."""

COMPOUND_SURNAMES: dict[str, tuple[str, str]] = {
    "欧阳": ("ou", "yang"),
    "司马": ("si", "ma"),
    "上官": ("shang", "guan"),
    "诸葛": ("zhu", "ge"),
    "东方": ("dong", "fang"),
    "皇甫": ("huang", "fu"),
    "尉迟": ("yu", "chi"),
    "长孙": ("zhang", "sun"),
    "万俟": ("mo", "qi"),
    "令狐": ("ling", "hu"),
    "慕容": ("mu", "rong"),
    "宇文": ("yu", "wen"),
    "司徒": ("si", "tu"),
    "司空": ("si", "kong"),
    "端木": ("duan", "mu"),
    "公孙": ("gong", "sun"),
    "夏侯": ("xia", "hou"),
    "轩辕": ("xuan", "yuan"),
    "钟离": ("zhong", "li"),
    "澹台": ("tan", "tai"),
    "独孤": ("du", "gu"),
    "南宫": ("nan", "gong"),
    "西门": ("xi", "men"),
    "呼延": ("hu", "yan"),
    "百里": ("bai", "li"),
    "东郭": ("dong", "guo"),
    "闻人": ("wen", "ren"),
    "赫连": ("he", "lian"),
    "申屠": ("shen", "tu"),
    "太叔": ("tai", "shu"),
    "淳于": ("chun", "yu"),
    "公冶": ("gong", "ye"),
    "濮阳": ("pu", "yang"),
    "宗政": ("zong", "zheng"),
    "仲孙": ("zhong", "sun"),
    "鲜于": ("xian", "yu"),
    "闾丘": ("lv", "qiu"),
    "亓官": ("qi", "guan"),
    "司寇": ("si", "kou"),
    "子车": ("zi", "che"),
    "颛孙": ("zhuan", "sun"),
    "漆雕": ("qi", "diao"),
    "乐正": ("yue", "zheng"),
    "巫马": ("wu", "ma"),
    "谷梁": ("gu", "liang"),
    "拓跋": ("tuo", "ba"),
    "夹谷": ("jia", "gu"),
    "宰父": ("zai", "fu"),
    "羊舌": ("yang", "she"),
    "梁丘": ("liang", "qiu"),
    "左丘": ("zuo", "qiu"),
    "第五": ("di", "wu"),
    "公羊": ("gong", "yang"),
    "仉督": ("zhang", "du"),
    "段干": ("duan", "gan"),
    "完颜": ("wan", "yan"),
}
"""Two-character surnames and their readings. 单于 is left out on purpose: a single
surname 单 (shan) followed by a given name starting with 于 is far more common today."""

_COMPOUND_FULL = {k: a + b for k, (a, b) in COMPOUND_SURNAMES.items()}
_COMPOUND_INITIALS = {k: a[0] + b[0] for k, (a, b) in COMPOUND_SURNAMES.items()}
_SURNAME_INITIALS = {k: v[0] for k, v in SURNAME_READINGS.items()}


@cache  # unbounded: one entry per distinct character
def _full(ch: str) -> str:
    """Lowercase toneless reading of one character; letters as themselves, others ''."""
    ch = to_halfwidth(ch)
    if ch.isascii():
        return ch.lower() if ch.isalpha() else ""
    readings = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
    if readings and readings[0].isascii() and readings[0].isalpha():
        return readings[0].lower()
    if ch.isalpha() and not unicodedata.name(ch, "").startswith("CJK"):
        return ch.lower()  # a letter of another script: é, ß, Cyrillic...
    return ""


@cache  # unbounded: one entry per distinct character
def _initial(ch: str) -> str:
    return _full(ch)[:1]


def _surname_split(name: str) -> tuple[str, str, str]:
    """Return (surname full reading, surname initials, rest of name) or ("", "", name)."""
    head = _COMPOUND_FULL.get(name[:2])
    if head is not None:
        return head, _COMPOUND_INITIALS[name[:2]], name[2:]
    head = SURNAME_READINGS.get(name[:1])
    if head is not None:
        return head, _SURNAME_INITIALS[name[:1]], name[1:]
    return "", "", name


def name_initials(name: str) -> str:
    """Return the lowercase pinyin initials of a name: ``"张伟"`` -> ``"zw"``.

    Surname readings apply to the start of the name (``"单雄信"`` -> ``"sxx"``,
    ``"尉迟恭"`` -> ``"ycg"``). Letters that are not Chinese are kept, lowercased
    (each letter is its own initial); digits, punctuation and spaces are dropped.
    """
    _, initials, rest = _surname_split(name.strip())
    return initials + "".join(map(_initial, rest))


def pinyin_full(name: str) -> str:
    """Return the lowercase toneless pinyin of a name, no spaces: ``"张伟"`` -> ``"zhangwei"``.

    Same surname rules and character handling as :func:`name_initials`.
    """
    full, _, rest = _surname_split(name.strip())
    return full + "".join(map(_full, rest))
