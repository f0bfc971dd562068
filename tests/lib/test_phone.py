from __future__ import annotations

import re
import time

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from fangkong.lib.phone import (
    PhoneError,
    PhoneNumber,
    mask_phone,
    normalize_phone,
    parse_phone,
    phone_last4,
)


def error_code(raw: str) -> str:
    with pytest.raises(PhoneError) as excinfo:
        parse_phone(raw)
    return excinfo.value.code


mobiles = st.builds(
    lambda second, rest: f"1{second}{rest:09d}",
    st.sampled_from("3456789"),
    st.integers(0, 10**9 - 1),
)
three_char_area_codes = st.sampled_from(["010", *(f"02{d}" for d in range(10))])
four_char_area_codes = st.builds(lambda n: f"0{n}", st.integers(300, 999).map(str))
area_codes = st.one_of(three_char_area_codes, four_char_area_codes)
locals_ = st.builds(
    lambda first, rest, size: f"{first}{rest:07d}"[:size],
    st.integers(2, 9),
    st.integers(0, 10**7 - 1),
    st.sampled_from([7, 8]),
)
separators = st.sampled_from(["", " ", "-", "\u3000", " - ", "."])


# --- mobiles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "138.1234.5678",
        "(138)12345678",
        "+86 138 1234 5678",
        "+8613812345678",
        "(+86) 138-1234-5678",
        "008613812345678",
        "0086-138-1234-5678",
        "8613812345678",
        "86 138 1234 5678",
        "＋８６\u3000１３８１２３４５６７８",
        "\u200b13812345678\ufeff",
    ],
)
def test_mobile_numbers_are_normalised_to_eleven_digits(raw):
    assert parse_phone(raw) == PhoneNumber(number="13812345678", kind="mobile")


@pytest.mark.parametrize("prefix", ["10", "11", "12"])
def test_mobile_with_second_digit_below_3_has_code_mobile_prefix(prefix):
    assert error_code(prefix + "812345678") == "mobile_prefix"


@pytest.mark.parametrize("raw", ["1381234567", "138123456789", "1", "86138123456789"])
def test_mobile_with_wrong_number_of_digits_has_code_length(raw):
    assert error_code(raw) == "length"


def test_thirteen_digits_starting_86_are_kept_as_is_when_the_rest_is_not_a_mobile():
    # "86" + "12812345678": not a mobile after the 86, so the 86 is not a country code.
    assert error_code("8612812345678") == "length"


def test_mobile_cannot_have_an_extension():
    assert error_code("13812345678转123") == "chars"


@given(mobiles, separators, st.sampled_from(["", "+86", "+86 ", "0086", "86", "(+86)"]))
def test_any_valid_mobile_is_recognised_with_separators_and_country_code(mobile, sep, country):
    raw = country + mobile[:3] + sep + mobile[3:7] + sep + mobile[7:]
    assert parse_phone(raw) == PhoneNumber(number=mobile, kind="mobile")


# --- landlines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("027-85551234", "027-85551234"),
        ("02785551234", "027-85551234"),
        ("(027)85551234", "027-85551234"),
        ("（027）85551234", "027-85551234"),
        ("027 8555 1234", "027-85551234"),
        ("0278555-1234", "027-85551234"),
        ("01085551234", "010-85551234"),
        ("010-6555123", "010-6555123"),
        ("0371-6555123", "0371-6555123"),
        ("037165551234", "0371-65551234"),
        ("0898 66551234", "0898-66551234"),
        ("+86 27 8555 1234", "027-85551234"),
        ("+86 (0)27 8555 1234", "027-85551234"),
        ("0086-371-65551234", "0371-65551234"),
    ],
)
def test_landline_numbers_are_normalised_with_area_code_and_hyphen(raw, expected):
    assert parse_phone(raw) == PhoneNumber(number=expected, kind="landline")


@pytest.mark.parametrize(
    "raw",
    [
        "027-85551234-123",
        "027-85551234转123",
        "027-85551234 转 123",
        "027-85551234分机123",
        "027-85551234 ext 123",
        "027 85551234 EXT.123",
        "(027) 8555 1234 - 123",
    ],
)
def test_landline_extension_is_kept_after_a_hyphen(raw):
    assert normalize_phone(raw) == "027-85551234-123"


def test_extension_longer_than_six_digits_or_missing_has_code_length():
    assert error_code("027-85551234转1234567") == "length"
    assert error_code("027-85551234转") == "length"


@pytest.mark.parametrize("raw", ["85551234", "6555123", "8555-1234"])
def test_local_number_without_area_code_has_code_area_code(raw):
    with pytest.raises(PhoneError) as excinfo:
        parse_phone(raw)
    assert excinfo.value.code == "area_code"
    assert "027-85551234" in str(excinfo.value)  # shows what a landline looks like


@pytest.mark.parametrize("raw", ["0271-85551234", "013-85551234", "011-85551234", "0-27-85551234"])
def test_impossible_area_code_has_code_area_code(raw):
    assert error_code(raw) == "area_code"


@pytest.mark.parametrize(
    "raw",
    [
        "027-1234567",  # local part starts with 1
        "027-0555123",  # local part starts with 0
        "027-855512345",  # 9 digits
        "027-855512",  # 6 digits
        "027",
        "400-810-8888",
        "95555",
    ],
)
def test_wrong_local_number_or_digit_count_has_code_length(raw):
    assert error_code(raw) == "length"


@given(area_codes, locals_, separators)
def test_any_valid_landline_is_recognised(area, local, sep):
    raw = area + sep + local if sep else area + local
    assert parse_phone(raw) == PhoneNumber(number=f"{area}-{local}", kind="landline")


@given(area_codes, locals_, st.integers(0, 999_999).map(str))
def test_normalised_landline_with_extension_parses_to_itself(area, local, ext):
    number = f"{area}-{local}-{ext}"
    assert normalize_phone(number) == number
    assert phone_last4(number) == local[-4:]


# --- other errors ----------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "   ", "\u3000", "\u200b"])
def test_empty_input_has_code_empty(raw):
    assert error_code(raw) == "empty"


@pytest.mark.parametrize(
    "raw", ["138-1234-567a", "电话13812345678", "+1 555 1234", "138+12345678", "138/1234/5678"]
)
def test_letters_foreign_country_codes_and_odd_symbols_have_code_chars(raw):
    assert error_code(raw) == "chars"


@pytest.mark.parametrize("raw", ["", "abc", "12812345678", "85551234", "0271-85551234", "1"])
def test_every_error_message_says_what_a_valid_number_looks_like(raw):
    with pytest.raises(PhoneError) as excinfo:
        parse_phone(raw)
    message = str(excinfo.value)
    assert "13812345678" in message
    assert "027-85551234" in message
    assert isinstance(excinfo.value, ValueError)


# --- masking and last 4 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("13812345678", "138****5678"),
        ("027-85551234", "027-****1234"),
        ("0371-6555123", "0371-***5123"),
        ("027-85551234-123", "027-****1234"),
        ("85551234", "****1234"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_phone_examples(number, expected):
    assert mask_phone(number) == expected


@given(mobiles)
def test_mask_of_a_mobile_keeps_length_and_reveals_only_first_3_and_last_4(mobile):
    masked = mask_phone(mobile)
    assert len(masked) == 11
    assert masked == mobile[:3] + "****" + mobile[7:]


@given(st.text())
def test_mask_phone_never_raises_and_reveals_at_most_area_code_and_last_4(text):
    masked = mask_phone(text)
    landline = re.fullmatch(r"(0\d{2,3})-(\d{7,8})(?:-\d{1,6})?", text)
    if re.fullmatch(r"1[3-9]\d{9}", text):
        assert masked == text[:3] + "****" + text[7:]
    elif landline:
        area, local = landline.groups()
        assert masked == area + "-" + "*" * (len(local) - 4) + local[-4:]
    else:
        assert len(masked) == len(text)
        assert masked[: max(len(text) - 4, 0)] == "*" * max(len(text) - 4, 0)
        if len(text) <= 4:
            assert masked == "*" * len(text)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("13812345678", "5678"),
        ("027-85551234", "1234"),
        ("027-85551234-123", "1234"),
        ("0371-6555123", "5123"),
        ("12", "12"),
        ("", ""),
    ],
)
def test_phone_last4_ignores_the_extension(number, expected):
    assert phone_last4(number) == expected


@given(st.text())
def test_phone_last4_never_raises_and_returns_at_most_four_digits(text):
    last4 = phone_last4(text)
    assert len(last4) <= 4
    assert all("0" <= ch <= "9" for ch in last4)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("027-8555-1234", "027-85551234"),
        ("010-6555123-4", "010-6555123-4"),
        ("02785551234-123", "027-85551234-123"),
        ("027-8555-1234转56", "027-85551234-56"),
    ],
)
def test_groups_after_the_area_code_are_a_local_number_then_an_extension(raw, expected):
    assert normalize_phone(raw) == expected


# --- hostile input ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1" * 65, "138 1234 5678" + " " * 60, "x" * 20_000])
def test_input_longer_than_64_characters_has_code_length_and_says_it_is_too_long(raw):
    with translation.override("en"), pytest.raises(PhoneError) as excinfo:
        parse_phone(raw)
    assert excinfo.value.code == "length"
    assert "too long" in str(excinfo.value)
    assert "64" in str(excinfo.value)


def test_input_of_64_characters_is_still_parsed():
    assert normalize_phone("13812345678".ljust(64)) == "13812345678"


@pytest.mark.parametrize(
    "raw",
    ["138\x0012345678", "\x00", "13812345678\x00", "138\x1c1234 5678", "138\t1234\n5678",
     "027-85551234\x7f", "138\x8512345678", "138\ud80012345678", "\udfff"],
)
def test_control_characters_and_lone_surrogates_have_code_chars(raw):
    with translation.override("en"), pytest.raises(PhoneError) as excinfo:
        parse_phone(raw)
    assert excinfo.value.code == "chars"
    assert "invisible or invalid character" in str(excinfo.value)
    assert "\x00" not in str(excinfo.value)


def test_whitespace_around_the_number_is_still_ignored():
    assert normalize_phone("\t13812345678\r\n") == "13812345678"


@pytest.mark.parametrize("raw", ["027-85551234转\u0661\u0662\u0663", "\u0661" * 11])
def test_digits_of_other_scripts_are_refused(raw):
    with pytest.raises(PhoneError):
        parse_phone(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "1" * 100_000,
        " " * 100_000 + "x",
        "转" + " " * 100_000 + "x",
        "转 " * 50_000,
        "ext." * 25_000,
        "-" * 100_000 + "1",
        "(+86" * 25_000,
        "0" * 100_000,
        "027-" + "8" * 100_000,
    ],
)
def test_long_input_is_answered_at_once(raw):
    # 100k characters answer in well under 50 ms; the bound is loose against slow CI.
    for function in (parse_phone, mask_phone, phone_last4):
        started = time.perf_counter()
        try:
            function(raw)
        except PhoneError:
            pass
        assert time.perf_counter() - started < 1.0, function.__name__


@pytest.mark.parametrize("raw", ["0", "0-", "(0)", "+86 0"])
def test_a_lone_zero_has_code_area_code(raw):
    assert error_code(raw) == "area_code"


@given(st.text())
def test_parse_phone_raises_only_phone_errors_on_any_text(text):
    try:
        number = parse_phone(text)
    except PhoneError as error:
        assert error.code in {"empty", "chars", "mobile_prefix", "length", "area_code"}
    else:
        assert number.number.isascii()
