from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fangkong.lib.text import find_unsafe_char, squash_spaces, to_halfwidth

INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad"


def test_full_width_ascii_becomes_half_width():
    assert to_halfwidth("ＡＢＣｘｙｚ０１２９！～（）－＋") == "ABCxyz0129!~()-+"


def test_ideographic_space_becomes_ascii_space():
    assert to_halfwidth("张\u3000伟") == "张 伟"


def test_to_halfwidth_leaves_chinese_and_neighbouring_code_points_alone():
    text = "张伟、。\uff00\uff5f\uff61abc 1"
    assert to_halfwidth(text) == text


@given(st.text())
def test_to_halfwidth_keeps_length_and_is_idempotent(text):
    once = to_halfwidth(text)
    assert len(once) == len(text)
    assert to_halfwidth(once) == once
    assert not any(0xFF01 <= ord(ch) <= 0xFF5E or ch == "\u3000" for ch in once)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  110105 1949 1231 002X  ", "11010519491231002X"),
        ("138\t1234\n5678", "13812345678"),
        ("138\u30001234\u00a05678", "13812345678"),
        ("\ufeff138\u200b1234\u200d5678\u2060", "13812345678"),
        ("", ""),
        (" \u3000\u00a0\u200b ", ""),
    ],
)
def test_squash_spaces_removes_all_whitespace_and_invisible_characters(raw, expected):
    assert squash_spaces(raw) == expected


@given(st.text())
def test_squash_spaces_keeps_every_other_character_in_order(text):
    squashed = squash_spaces(text)
    kept = "".join(ch for ch in text if not ch.isspace() and ch not in INVISIBLE)
    assert squashed == kept
    assert squash_spaces(squashed) == squashed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("张伟", None),
        ("", None),
        ("a\x00b", 1),
        ("\x1f", 0),
        ("ab\x7f", 2),
        ("ab\x85", 2),  # C1 control NEL
        ("a\ud800", 1),
        ("\udfffa", 0),
        ("a\tb", 1),
        ("a\nb", 1),
        ("a\rb", 1),
        ("\u00a0\u3000\u200b\ue000\U0001f600", None),  # spaces, format, private use, emoji
    ],
)
def test_find_unsafe_char_finds_control_characters_and_lone_surrogates(text, expected):
    assert find_unsafe_char(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("第一行\n第二行\t备注", None), ("a\rb", 1), ("a\x00\n", 1), ("\n\ud800", 1)],
)
def test_find_unsafe_char_multiline_allows_tab_and_line_feed_only(text, expected):
    assert find_unsafe_char(text, multiline=True) == expected


@given(st.text())
def test_find_unsafe_char_is_none_exactly_when_the_text_encodes_without_controls(text):
    position = find_unsafe_char(text)
    if position is None:
        text.encode("utf-8")
        assert not any(unicodedata.category(ch) == "Cc" for ch in text)
    else:
        assert unicodedata.category(text[position]) in {"Cc", "Cs"}
        assert find_unsafe_char(text[:position]) is None
