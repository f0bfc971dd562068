from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from fangkong.lib.idcard import (
    PROVINCE_CODES,
    IdInfo,
    IdNumberError,
    check_digit,
    make_id_number,
    mask_id_number,
    normalize_id_number,
    parse_id_number,
)

TODAY = date(2025, 6, 1)


def reference_check_digit(first17: str) -> str:
    """GB 11643-1999 written out independently: weights 2^(17-i) mod 11, ISO 7064 MOD 11-2."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    return "10X98765432"[total % 11]


def error_code(raw: str, **kwargs) -> str:
    with pytest.raises(IdNumberError) as excinfo:
        parse_id_number(raw, **kwargs)
    assert str(excinfo.value)  # a human message is always there
    return excinfo.value.code


# Strategies: 17 digits with a real province and birth date, and the sequence.
provinces = st.sampled_from(sorted(PROVINCE_CODES))
regions = st.builds(lambda p, rest: p + f"{rest:04d}", provinces, st.integers(0, 9999))
birth_dates = st.dates(min_value=date(1890, 1, 1), max_value=TODAY)
sequences = st.integers(0, 999)
first17s = st.builds(lambda r, b, s: f"{r}{b:%Y%m%d}{s:03d}", regions, birth_dates, sequences)


# --- published examples ---------------------------------------------------------------


def test_published_example_is_valid_female_born_1949_12_31():
    info = parse_id_number("11010519491231002X", today=TODAY)
    assert info == IdInfo(
        number="11010519491231002X",
        region_code="110105",
        birth_date=date(1949, 12, 31),
        gender="F",
    )


def test_published_example_born_1880_is_rejected_for_birth_date_before_1890():
    number = "440524188001010014"
    # The check digit itself is right; only our 1890 lower bound rejects it.
    assert check_digit(number[:17]) == number[17] == reference_check_digit(number[:17])
    assert error_code(number, today=TODAY) == "birth_date"


def test_published_example_with_wrong_last_character_fails_check_digit_and_names_it():
    with pytest.raises(IdNumberError) as excinfo:
        parse_id_number("110105194912310021", today=TODAY)
    assert excinfo.value.code == "check_digit"
    assert "X" in str(excinfo.value)  # the character it should be


def test_fifteen_digit_id_is_converted_to_eighteen():
    info = parse_id_number("130503670401001", today=TODAY)
    first17 = "13050319670401001"
    assert info.number == first17 + reference_check_digit(first17)
    assert info.number == "130503196704010016"
    assert info.birth_date == date(1967, 4, 1)
    assert info.gender == "M"
    assert info.region_code == "130503"


# --- normalisation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        " 110105 19491231 002X ",
        "１１０１０５１９４９１２３１００２Ｘ",
        "110105\u300019491231\u200b002ｘ",
        "\ufeff11010519491231002X\n",
    ],
)
def test_spaces_full_width_and_lowercase_x_are_normalised(raw):
    assert normalize_id_number(raw) == "11010519491231002X"


def test_male_when_seventeenth_digit_is_odd_female_when_even():
    male = make_id_number("420102", date(1990, 1, 2), 101)
    female = make_id_number("420102", date(1990, 1, 2), 100)
    assert parse_id_number(male).gender == "M"
    assert parse_id_number(female).gender == "F"


def test_birth_date_today_is_accepted_and_tomorrow_is_rejected():
    today = date(2024, 2, 29)
    ok = make_id_number("110101", today, 1)
    assert parse_id_number(ok, today=today).birth_date == today
    future = make_id_number("110101", today + timedelta(days=1), 1)
    assert error_code(future, today=today) == "birth_date"


def test_birth_date_on_1890_01_01_is_accepted():
    number = make_id_number("110101", date(1890, 1, 1), 3)
    assert parse_id_number(number, today=TODAY).birth_date == date(1890, 1, 1)


def test_default_today_rejects_a_birth_date_far_in_the_future():
    assert error_code(make_id_number("110101", date(2199, 1, 1), 3)) == "birth_date"


# --- each error code -----------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "   ", "\u3000\u200b"])
def test_empty_input_has_code_empty(raw):
    assert error_code(raw) == "empty"


@pytest.mark.parametrize(
    "raw", ["1101051949123100", "11010519491231002X1", "1", "1101056704010011"]
)
def test_wrong_length_has_code_length_and_says_what_was_expected(raw):
    with pytest.raises(IdNumberError) as excinfo:
        parse_id_number(raw, today=TODAY)
    assert excinfo.value.code == "length"
    message = str(excinfo.value)
    assert str(len(raw)) in message
    assert "18" in message
    assert "15" in message


@pytest.mark.parametrize(
    "raw",
    [
        "1101051949123100AX",  # a letter other than X
        "11010519491231X02X",  # X not at the end
        "13050367040100X",  # X in an old 15-digit number
        "110105-19491231-002X",  # hyphens are not spaces
        "\u0661\u0661010519491231002X",  # Arabic-Indic digits are not ASCII digits
        "abc",
    ],
)
def test_characters_other_than_digits_and_final_x_have_code_chars(raw):
    assert error_code(raw, today=TODAY) == "chars"


def test_chars_message_names_the_bad_character_and_its_position():
    with pytest.raises(IdNumberError) as excinfo:
        parse_id_number("1101051949123100A2", today=TODAY)
    assert '"A"' in str(excinfo.value)
    assert "17" in str(excinfo.value)


@pytest.mark.parametrize(
    "province", ["00", "10", "16", "20", "38", "47", "55", "66", "72", "84", "99"]
)
def test_unknown_province_has_code_region(province):
    first17 = province + "010519491231002"
    assert error_code(first17 + reference_check_digit(first17), today=TODAY) == "region"


@pytest.mark.parametrize("province", sorted(PROVINCE_CODES))
def test_every_real_province_code_is_accepted(province):
    first17 = province + "010519491231002"
    number = first17 + reference_check_digit(first17)
    assert parse_id_number(number, today=TODAY).region_code == province + "0105"


@pytest.mark.parametrize(
    "birth",
    ["19490230", "19491301", "19490001", "19490100", "20230229", "00000000"],
)
def test_impossible_birth_date_has_code_birth_date(birth):
    first17 = "110105" + birth + "002"
    assert error_code(first17 + reference_check_digit(first17), today=TODAY) == "birth_date"


def test_impossible_birth_date_in_fifteen_digit_id_has_code_birth_date():
    assert error_code("130503670231001", today=TODAY) == "birth_date"


def test_leap_day_birth_date_is_accepted():
    number = make_id_number("110105", date(2000, 2, 29), 8)
    assert parse_id_number(number, today=TODAY).birth_date == date(2000, 2, 29)


def test_errors_are_value_errors_with_a_code():
    with translation.override("en"), pytest.raises(ValueError, match="ID number") as excinfo:
        parse_id_number("123")
    assert isinstance(excinfo.value, IdNumberError)
    assert excinfo.value.code == "length"


def test_check_digit_rejects_anything_but_17_ascii_digits():
    for bad in ["", "1234567890123456", "123456789012345678", "1101051949123100X", "１" * 17]:
        with pytest.raises(ValueError):
            check_digit(bad)


# --- properties of the check digit ----------------------------------------------------


@given(first17s)
def test_check_digit_matches_the_reference_and_validates(first17):
    digit = check_digit(first17)
    assert digit == reference_check_digit(first17)
    assert parse_id_number(first17 + digit, today=TODAY).number == first17 + digit


@given(first17s)
def test_every_single_digit_change_of_the_first_17_is_detected(first17):
    number = first17 + check_digit(first17)
    for pos in range(17):
        for digit in "0123456789":
            if digit == first17[pos]:
                continue
            mutated17 = first17[:pos] + digit + first17[pos + 1 :]
            assert check_digit(mutated17) != number[17]
            with pytest.raises(IdNumberError):  # region, birth_date or check_digit
                parse_id_number(mutated17 + number[17], today=TODAY)


@given(first17s)
def test_every_swap_of_two_adjacent_different_digits_is_detected(first17):
    digit = check_digit(first17)
    for pos in range(16):
        a, b = first17[pos], first17[pos + 1]
        if a != b:
            swapped = first17[:pos] + b + a + first17[pos + 2 :]
            assert check_digit(swapped) != digit


@given(first17s)
def test_a_wrong_check_character_has_code_check_digit(first17):
    right = check_digit(first17)
    for wrong in "0123456789X":
        if wrong != right:
            assert error_code(first17 + wrong, today=TODAY) == "check_digit"


# --- make_id_number --------------------------------------------------------------------


@given(regions, birth_dates, sequences)
def test_make_id_number_round_trips_through_parse(region, birth, seq):
    number = make_id_number(region, birth, seq)
    assert len(number) == 18
    info = parse_id_number(number, today=TODAY)
    assert info.number == number
    assert info.region_code == region
    assert info.birth_date == birth
    assert info.gender == ("M" if seq % 2 else "F")
    assert number[14:17] == f"{seq:03d}"


@pytest.mark.parametrize("region", ["11010", "1101011", "99xxxx", "990101", "１１０１０１", ""])
def test_make_id_number_rejects_a_bad_region_code(region):
    with pytest.raises(ValueError):
        make_id_number(region, date(1990, 1, 1), 1)


@pytest.mark.parametrize("seq", [-1, 1000])
def test_make_id_number_rejects_a_sequence_outside_0_to_999(seq):
    with pytest.raises(ValueError):
        make_id_number("110101", date(1990, 1, 1), seq)


def test_make_id_number_rejects_birth_before_1890():
    with pytest.raises(ValueError):
        make_id_number("110101", date(1889, 12, 31), 1)


def test_make_id_number_reproduces_the_published_example():
    assert make_id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"


# --- masking ---------------------------------------------------------------------------


def test_mask_keeps_first_six_and_last_four_of_an_eighteen_character_id():
    assert mask_id_number("11010119900101123X") == "110101********123X"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("130503670401001", "***********1001"),
        ("12345", "*2345"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_of_other_lengths_stars_all_but_the_last_four(raw, expected):
    assert mask_id_number(raw) == expected


@given(regions, birth_dates, sequences)
def test_mask_of_a_valid_id_reveals_only_region_and_last_four(region, birth, seq):
    number = make_id_number(region, birth, seq)
    masked = mask_id_number(number)
    assert len(masked) == 18
    assert masked == number[:6] + "*" * 8 + number[14:]


@given(st.text())
def test_mask_never_raises_keeps_length_and_reveals_at_most_six_plus_four(text):
    masked = mask_id_number(text)
    assert len(masked) == len(text)
    allowed = set(range(len(text) - 4, len(text))) if len(text) > 4 else set()
    if len(text) == 18:
        allowed |= set(range(6))
    for i, ch in enumerate(masked):
        assert ch == (text[i] if i in allowed else "*")


def test_error_message_is_chinese_by_default():
    with pytest.raises(IdNumberError) as excinfo:
        parse_id_number("123")
    assert "身份证号" in str(excinfo.value)


# --- hostile input ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1" * 65, "110105 1949 1231 002X" + " " * 60, "x" * 100_000])
def test_input_longer_than_64_characters_has_code_length_and_says_it_is_too_long(raw):
    with translation.override("en"), pytest.raises(IdNumberError) as excinfo:
        parse_id_number(raw, today=TODAY)
    assert excinfo.value.code == "length"
    assert "too long" in str(excinfo.value)


def test_input_of_64_characters_is_still_parsed():
    assert parse_id_number("11010519491231002X".ljust(64), today=TODAY).number == (
        "11010519491231002X")


@pytest.mark.parametrize(
    "raw",
    ["11010519491231\x00002X", "\x00", "11010519491231002X\x00", "110105\x1c19491231002X",
     "110105\t19491231002X", "11010519491231002\ud800", "\x7f"],
)
def test_control_characters_and_lone_surrogates_have_code_chars(raw):
    with translation.override("en"), pytest.raises(IdNumberError) as excinfo:
        parse_id_number(raw, today=TODAY)
    assert excinfo.value.code == "chars"
    assert "invisible or invalid character" in str(excinfo.value)
    assert "\x00" not in str(excinfo.value)


def test_whitespace_around_the_number_is_still_ignored():
    assert parse_id_number("\t11010519491231002X\r\n", today=TODAY).number == (
        "11010519491231002X")


@pytest.mark.parametrize("raw", ["1" * 100_000, " " * 100_000, "\x00" * 100_000])
def test_long_input_is_answered_at_once(raw):
    started = time.perf_counter()
    with pytest.raises(IdNumberError):
        parse_id_number(raw)
    mask_id_number(raw)
    assert time.perf_counter() - started < 1.0


@given(st.text())
def test_parse_id_number_raises_only_id_number_errors_on_any_text(text):
    try:
        parse_id_number(text, today=TODAY)
    except IdNumberError as error:
        assert error.code in {"empty", "length", "chars", "region", "birth_date", "check_digit"}
