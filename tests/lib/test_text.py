from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fangkong.lib.text import squash_spaces, to_halfwidth

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
