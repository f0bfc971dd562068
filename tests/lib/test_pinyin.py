from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fangkong.lib.pinyin import name_initials, pinyin_full

# Surname readings required for the first character (and compound surnames).
SURNAMES = {
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
    "尉迟": "yuchi",
    "长孙": "zhangsun",
    "万俟": "moqi",
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
    "欧阳": "ouyang",
    "澹台": "tantai",
    "乐正": "yuezheng",
    "诸葛": "zhuge",
    "司马": "sima",
}

COMMON_HAN = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"


def test_common_names_give_initials_and_full_pinyin():
    assert name_initials("张伟") == "zw"
    assert pinyin_full("张伟") == "zhangwei"
    assert name_initials("欧阳娜娜") == "oynn"
    assert pinyin_full("欧阳娜娜") == "ouyangnana"


@pytest.mark.parametrize(("surname", "reading"), sorted(SURNAMES.items()))
def test_first_characters_are_read_as_surnames(surname, reading):
    name = surname + "伟"
    assert pinyin_full(name) == reading + "wei"
    syllables = 2 if len(surname) == 2 else 1
    initials = name_initials(name)
    assert initials[-1] == "w"
    assert len(initials) == syllables + 1
    assert initials[0] == reading[0]


def test_compound_surname_initials_have_one_letter_per_character():
    assert name_initials("尉迟恭") == "ycg"
    assert name_initials("万俟卨") == "mqx"
    assert name_initials("长孙无忌") == "zswj"


def test_wei_alone_is_read_wei_as_a_surname_and_yu_only_in_yuchi():
    assert pinyin_full("尉缭") == "weiliao"
    assert pinyin_full("尉迟恭") == "yuchigong"


def test_surname_readings_apply_only_to_the_start_of_the_name():
    assert pinyin_full("单单") == "shandan"
    assert pinyin_full("张曾") == "zhangceng"
    assert name_initials("王乐") == "wl"


def test_letters_are_kept_lowercased_and_digits_and_punctuation_dropped():
    assert name_initials("Tom张3") == "tomz"
    assert pinyin_full("Tom张3") == "tomzhang"
    assert name_initials("买买提·艾力") == "mmtal"
    assert name_initials("ＡＢ张") == "abz"


def test_surrounding_spaces_are_ignored_and_empty_gives_empty():
    assert name_initials("  区家麟 ") == "ojl"
    assert pinyin_full("  区家麟 ") == "oujialin"
    assert name_initials("") == ""
    assert pinyin_full("   ") == ""


def test_u_umlaut_is_written_v():
    assert pinyin_full("吕布") == "lvbu"
    assert name_initials("吕布") == "lb"


@given(st.text(alphabet=COMMON_HAN + "abcXYZ", max_size=8))
def test_initials_are_the_first_letters_of_lowercase_readings(name):
    initials = name_initials(name)
    full = pinyin_full(name)
    assert len(initials) == len(name)
    assert initials == initials.lower()
    assert full.isascii()
    assert full == full.lower()
    assert full.startswith(initials[:1])


@given(st.text())
def test_never_raises_on_any_text(text):
    assert isinstance(name_initials(text), str)
    assert isinstance(pinyin_full(text), str)


def test_many_names_are_fast():
    names = [a + b + c for a in COMMON_HAN for b in COMMON_HAN for c in COMMON_HAN[:10]]
    name_initials(names[0])
    start = time.perf_counter()
    for name in names:
        name_initials(name)
        pinyin_full(name)
    per_name = (time.perf_counter() - start) / len(names)
    assert per_name < 50e-6  # a few microseconds expected; generous for slow CI
