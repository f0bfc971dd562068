"""Understanding what residents type, say and press: real phrasings, and round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from fangkong.followup.questions import Kind, Option, Question, Spec
from fangkong.followup.understand import (
    SmsReply,
    Understood,
    parse_chinese_number,
    parse_sms_reply,
    parse_temperature,
    parse_yes_no,
    sms_short_form,
    understand_answer,
)

FEVER = Question("fever", Kind.YES_NO, "今天有没有发烧？", sms="发烧?(1有2没有)",
                 voice="请问您今天有没有发烧？发烧请按1，没有发烧请按2。")
TEMPERATURE = Question("temperature", Kind.TEMPERATURE, "体温（°C）", sms="体温",
                       voice="请说出您的体温，例如三十六度五。", when=(("fever", (True,)),))
SYMPTOMS = Question("symptoms", Kind.MULTI, "有以下哪些症状？", options=(
    Option("cough", "咳嗽"), Option("fatigue", "乏力"), Option("sore_throat", "咽痛（嗓子疼）"),
    Option("diarrhoea", "腹泻")))
WHERE = Question("where", Kind.SINGLE, "您现在在哪里？", options=(
    Option("home", "在家"), Option("hospital", "医院"), Option("elsewhere", "其他地方", keypad="9")))
PEOPLE = Question("people", Kind.NUMBER, "同住几人？", minimum=Decimal(0), maximum=Decimal(20))
NOTE = Question("note", Kind.TEXT, "还有什么要说的？", required=False, max_length=20)
COUGH = Question("cough", Kind.YES_NO, "今天有没有咳嗽？", sms="咳嗽?(1有2没有)")
FEVER_SPEC = Spec((FEVER, TEMPERATURE))

CN = "零一二三四五六七八九"


def spell(n: int) -> str:
    """A whole number below 100000 as it is written in Chinese: 105 is 一百零五."""
    if n < 10:
        return CN[n]
    if n < 20:
        return "十" + (CN[n % 10] if n % 10 else "")
    out, zero = "", False
    for unit, name in ((10000, "万"), (1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // unit % 10
        if digit:
            out += ("零" if zero else "") + CN[digit] + name
            zero = False
        elif out:
            zero = True
    return out


# --- yes / no -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["是", "是的", "有", "有的", "对", "对的", "嗯", "嗯嗯", "发烧了", "有一点", "有点", "一点点",
     "yes", "Y", "YES", "1", "１", "有点咳嗽", "是！", "有。", "对，有点发烧", "确实有",
     "不是没有"],
)
def test_yes_in_its_many_forms(text):
    assert parse_yes_no(text) is True


@pytest.mark.parametrize(
    "text",
    ["否", "不", "不是", "不是的", "没有", "没", "无", "没发烧", "不发烧", "没有发烧", "都没有",
     "正常", "一切正常", "no", "N", "2", "２", "不咳嗽", "没有，不发烧", "没有。", "嗯，没有",
     "没有发烧，也没有咳嗽", "还好", "不发烧了", "No!"],
)
def test_no_wins_over_the_keyword_it_negates(text):
    assert parse_yes_no(text) is False


@pytest.mark.parametrize(
    "text",
    ["", "   ", "不知道", "不清楚", "可能吧", "嗯…没有吧又有点", "有没有", "没有，有点",
     "37.5", "hello", "今天天气不错吧又有", "？", "是否"],
)
def test_unclear_or_contradictory_answers_are_none(text):
    assert parse_yes_no(text) is None


# --- numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("三十六点八", "36.8"), ("三十七度二", "37.2"), ("37度5", "37.5"), ("三十七度", "37"),
     ("36.5度", "36.5"), ("三七点五", "37.5"), ("两", "2"), ("〇", "0"), ("零", "0"),
     ("十", "10"), ("十一", "11"), ("二十", "20"), ("一百零五", "105"), ("幺", "1"),
     ("３６．５", "36.5"), ("36,8", "36.8"), ("1,000", "1000"), ("一千五", "1500"),
     ("两百", "200"), ("一百一十", "110"), ("两万三", "23000"), ("十万", "100000"),
     ("一万零五", "10005"), ("三十七度半", "37.5"), ("两个半", "2.5"), ("零点五", "0.5"),
     ("幺三八", "138"), ("负五", "-5"), ("-3", "-3"), (" 42 ", "42"), ("3万5000", "35000")],
)
def test_numbers_in_digits_and_chinese_numerals(text, expected):
    assert parse_chinese_number(text) == Decimal(expected)


@pytest.mark.parametrize(
    "text",
    ["", "abc", "三十十", "十百", "一点", "点", "36..5", "3.6.5", "三五十", "百", "万",
     "1,2,3", "七七七点", "36.5abc", "半"],
)
def test_garbage_is_not_a_number(text):
    assert parse_chinese_number(text) is None


@given(st.integers(min_value=0, max_value=100000))
def test_digits_read_back_as_the_number(n):
    assert parse_chinese_number(str(n)) == n


@given(st.integers(min_value=0, max_value=99999))
def test_chinese_numerals_read_back_as_the_number(n):
    assert parse_chinese_number(spell(n)) == n


# --- temperatures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keypad", "expected"),
    [("365", True, "36.5"), ("37", True, "37.0"), ("375#", True, "37.5"), ("375*", True, "37.5"),
     ("36*8#", True, "36.8"), ("３６５", True, "36.5"), ("365", False, "36.5"),
     ("三十六度五", False, "36.5"), ("体温37.5℃", False, "37.5"), ("36.6°C", False, "36.6"),
     ("大概三十七度左右", False, "37"), ("三六五", False, "36.5"), ("36,8", False, "36.8"),
     ("36。8", False, "36.8"), ("摄氏三十八度二", False, "38.2"), ("45", False, "45")],
)
def test_temperatures_typed_said_and_pressed(text, keypad, expected):
    assert parse_temperature(text, keypad=keypad) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "keypad"),
    [("3650", True), ("3", True), ("36.5", True), ("abc", True), ("#", True),
     ("98.6", False), ("98.6F", False), ("100.4°F", False), ("华氏九十九度", False),
     ("很烫", False), ("", False)],
)
def test_unreadable_and_fahrenheit_temperatures_are_none(text, keypad):
    assert parse_temperature(text, keypad=keypad) is None


def test_temperature_out_of_range_is_asked_again_never_stored(english):
    result = understand_answer(TEMPERATURE, "45")
    assert not result.ok and result.value is None
    assert "between 35.0 and 42.0" in result.problem and result.problem.endswith("体温（°C）")


def test_fahrenheit_is_refused_with_a_request_for_celsius(english):
    result = understand_answer(TEMPERATURE, "98.6F")
    assert not result.ok
    assert "Celsius" in result.problem


def test_keypad_re_ask_uses_the_voice_prompt(english):
    result = understand_answer(TEMPERATURE, "3650", keypad=True)
    assert result == Understood(
        ok=False, problem="Sorry, I did not catch that. 请说出您的体温，例如三十六度五。")


def test_understood_temperature_is_checked_to_one_decimal():
    assert understand_answer(TEMPERATURE, "三十七度") == Understood(ok=True, value=Decimal("37.0"))


TEMPERATURES = st.integers(min_value=350, max_value=420).map(lambda n: Decimal(n).scaleb(-1))


def spellings(t: Decimal) -> list[str]:
    whole, tenth = int(t), int(t * 10) % 10
    return [f"{spell(whole)}点{CN[tenth]}", f"{spell(whole)}度{CN[tenth] if tenth else ''}",
            f"{CN[whole // 10]}{CN[whole % 10]}点{CN[tenth]}", f"{whole}度{tenth}", str(t),
            f"体温{t}℃", f"{whole}{tenth}"]


@given(TEMPERATURES)
def test_spoken_and_written_temperatures_read_back(t):
    for text in spellings(t):
        assert parse_temperature(text) == t, text
        assert understand_answer(TEMPERATURE, text).value == t, text


@given(TEMPERATURES)
def test_keypad_temperatures_round_trip(t):
    whole, tenth = int(t), int(t * 10) % 10
    for digits in (f"{whole}{tenth}", f"{whole}{tenth}#", f"{whole}*{tenth}#"):
        assert understand_answer(TEMPERATURE, digits, keypad=True).value == t


# --- yes/no, choices, numbers and text as answers -------------------------------------


@pytest.mark.parametrize(
    ("text", "keypad", "expected"),
    [("1", True, True), ("2#", True, False), ("有点发烧", False, True), ("没有发烧", False, False)],
)
def test_yes_no_answers(text, keypad, expected):
    assert understand_answer(FEVER, text, keypad=keypad) == Understood(ok=True, value=expected)


def test_yes_no_keypad_digits_follow_the_options_when_they_define_them():
    reversed_keys = Question("fever", Kind.YES_NO, "发烧？", voice="没有发烧请按1，发烧请按2。",
                             options=(Option("no", "没有", keypad="1"), Option("yes", "有", keypad="2")))
    assert understand_answer(reversed_keys, "1", keypad=True).value is False
    assert understand_answer(reversed_keys, "2#", keypad=True).value is True
    assert not understand_answer(reversed_keys, "3", keypad=True).ok


@pytest.mark.parametrize(("text", "keypad"), [("3", True), ("有", True), ("不知道", False)])
def test_yes_no_not_understood_is_asked_again(text, keypad):
    result = understand_answer(FEVER, text, keypad=keypad)
    assert not result.ok and (FEVER.voice if keypad else FEVER.label) in result.problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [("咳嗽", ["cough"]), ("有点咳嗽", ["cough"]), ("没有咳嗽", []), ("咳嗽没有", []),
     ("咳嗽和乏力", ["cough", "fatigue"]), ("乏力、咳嗽", ["cough", "fatigue"]),
     ("咳嗽 腹泻", ["cough", "diarrhoea"]), ("有点咳嗽，不乏力", ["cough"]),
     ("咳嗽没有发烧", ["cough"]), ("嗓子疼", ["sore_throat"]), ("咽痛", ["sore_throat"]),
     ("都没有", []), ("没有", []), ("无", []), ("正常", []), ("1 2", ["cough", "fatigue"]),
     ("13", ["cough", "sore_throat"]), ("４，２", ["fatigue", "diarrhoea"]), ("cough", ["cough"]),
     ("咳嗽咳嗽", ["cough"])],
)
def test_multiple_choice_by_name_digit_and_negation(text, expected):
    assert understand_answer(SYMPTOMS, text) == Understood(ok=True, value=expected)


@pytest.mark.parametrize("text", ["头晕", "咳嗽，头晕", "5", "有", ""])
def test_multiple_choice_with_something_unknown_is_asked_again(text, english):
    result = understand_answer(SYMPTOMS, text)
    assert not result.ok
    assert result.problem == ("Sorry, I did not catch that. 有以下哪些症状？ "
                              "(咳嗽/乏力/咽痛（嗓子疼）/腹泻)")


@pytest.mark.parametrize(
    ("text", "keypad", "expected"),
    [("在家", False, "home"), ("我在医院", False, "hospital"), ("2", False, "hospital"),
     ("第一个", False, "home"), ("9", True, "elsewhere"), ("1#", True, "home"),
     ("hospital", False, "hospital")],
)
def test_single_choice(text, keypad, expected):
    assert understand_answer(WHERE, text, keypad=keypad) == Understood(ok=True, value=expected)


@pytest.mark.parametrize(
    ("text", "keypad"),
    [("不在家", False), ("在家和医院", False), ("3", True), ("在家", True), ("12", False)],
)
def test_single_choice_not_one_option_is_asked_again(text, keypad):
    assert not understand_answer(WHERE, text, keypad=keypad).ok


@pytest.mark.parametrize(
    ("text", "keypad", "expected"),
    [("三个", False, "3"), ("一共5人", False, "5"), ("两", False, "2"), ("十二", False, "12"),
     ("12#", True, "12"), ("0", False, "0")],
)
def test_numbers_as_answers(text, keypad, expected):
    assert understand_answer(PEOPLE, text, keypad=keypad) == Understood(
        ok=True, value=Decimal(expected))


def test_number_outside_the_bounds_is_asked_again(english):
    result = understand_answer(PEOPLE, "二十一")
    assert not result.ok and "at most 20" in result.problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [("  腿疼  ", "腿疼"), ("第一行\n第二行", "第一行\n第二行"), ("", None), ("  ", None)],
)
def test_text_is_stripped_and_an_optional_blank_is_skipped(text, expected):
    assert understand_answer(NOTE, text) == Understood(ok=True, value=expected)


@pytest.mark.parametrize("text", ["a\x00b", "乱码\ufffd", "\x1b[31m红", "x" * 21])
def test_text_with_unreadable_characters_or_too_long_is_asked_again(text):
    result = understand_answer(NOTE, text)
    assert not result.ok and NOTE.label in result.problem


@given(st.text(max_size=30), st.booleans(), st.sampled_from(
    [FEVER, TEMPERATURE, SYMPTOMS, WHERE, PEOPLE, NOTE]))
def test_any_input_gives_an_answer_or_a_re_ask(text, keypad, question):
    result = understand_answer(question, text, keypad=keypad)
    assert result.ok or (result.problem and result.value is None)


# --- SMS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answers"),
    [("1 36.8", {"fever": True, "temperature": Decimal("36.8")}),
     ("2", {"fever": False}), ("没有发烧", {"fever": False}), ("没有，不发烧", {"fever": False}),
     ("发烧37度8", {"fever": True, "temperature": Decimal("37.8")}),
     ("有点发烧，三十七度五", {"fever": True, "temperature": Decimal("37.5")}),
     ("1，３６。８", {"fever": True, "temperature": Decimal("36.8")}),
     ("1 36,8", {"fever": True, "temperature": Decimal("36.8")}),
     ("1、375", {"fever": True, "temperature": Decimal("37.5")}),
     ("37.8 1", {"fever": True, "temperature": Decimal("37.8")}),
     ("发烧 体温38.2度", {"fever": True, "temperature": Decimal("38.2")}),
     ("n", {"fever": False}), (" 2。", {"fever": False})],
)
def test_sms_replies_understood_in_full(text, answers):
    assert parse_sms_reply(FEVER_SPEC, text) == SmsReply(answers=answers, problems=[])


@pytest.mark.parametrize("text", ["TD", "td", "退订", "T", "取消", " Td。"])
def test_sms_opt_out(text):
    assert parse_sms_reply(FEVER_SPEC, text) == SmsReply(answers={}, problems=[], opt_out=True)


@pytest.mark.parametrize("text", ["?", "？", "帮助", "HELP"])
def test_sms_help(text):
    assert parse_sms_reply(FEVER_SPEC, text) == SmsReply(answers={}, problems=[], help=True)


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize(
    ("text", "answers", "problems"),
    [("1", {"fever": True}, ["Please also answer: 体温"]),
     ("", {}, ["Please also answer: 发烧?(1有2没有)"]),
     ("1 36.8 5", {"fever": True, "temperature": Decimal("36.8")},
      ["Sorry, “5” does not answer a question asked."]),
     ("2 36.5", {"fever": False}, ["Sorry, “36.5” does not answer a question asked."]),
     ("x 37", {}, ["Sorry, I did not catch that. 发烧?(1有2没有)"]),
     ("1 45", {"fever": True}, ["A body temperature lies between 35.0 and 42.0 °C: please "
                                "measure again and give it like 36.5. 体温"]),
     ("没有，发烧", {}, ["Sorry, I did not catch that. 发烧?(1有2没有)"]),
     ("td 1", {}, ["Sorry, I did not catch that. 发烧?(1有2没有)"])],
)
def test_sms_replies_with_problems(text, answers, problems):
    assert parse_sms_reply(FEVER_SPEC, text) == SmsReply(answers=answers, problems=problems)


def test_sms_fahrenheit_is_refused(english):
    reply = parse_sms_reply(FEVER_SPEC, "1 98.6")
    assert reply.answers == {"fever": True} and "Celsius" in reply.problems[0]


def test_sms_answers_in_words_go_to_the_question_they_name():
    spec = Spec((FEVER, TEMPERATURE, COUGH))
    assert parse_sms_reply(spec, "不咳嗽 1 37.2") == SmsReply(
        answers={"fever": True, "temperature": Decimal("37.2"), "cough": False}, problems=[])
    assert parse_sms_reply(spec, "2 1") == SmsReply(
        answers={"fever": False, "cough": True}, problems=[])


def test_sms_free_text_question_takes_the_rest_of_the_reply():
    spec = Spec((FEVER, Question("note", Kind.TEXT, "备注", sms="备注", required=False)))
    assert parse_sms_reply(spec, "2 嗓子 有点 干").answers == {"fever": False, "note": "嗓子 有点 干"}


def test_sms_choices_by_digit_or_name_after_a_yes_no():
    where = Question("where", Kind.SINGLE, "在哪", sms="在哪", options=WHERE.options)
    symptoms = Question("symptoms", Kind.MULTI, "症状", sms="症状", options=SYMPTOMS.options,
                        when=(("fever", (True,)),))
    spec = Spec((FEVER, symptoms, where))
    assert parse_sms_reply(spec, "1 13 2") == SmsReply(
        answers={"fever": True, "symptoms": ["cough", "sore_throat"], "where": "hospital"},
        problems=[])
    assert parse_sms_reply(spec, "2 在家") == SmsReply(
        answers={"fever": False, "where": "home"}, problems=[])


def test_questions_not_asked_by_sms_are_left_alone():
    spec = Spec((FEVER, TEMPERATURE, SYMPTOMS))
    assert parse_sms_reply(spec, "2") == SmsReply(answers={"fever": False}, problems=[])


@given(st.text(max_size=40))
def test_any_sms_gives_a_reply(text):
    reply = parse_sms_reply(Spec((FEVER, TEMPERATURE, COUGH, WHERE)), text)
    assert all(isinstance(p, str) and p for p in reply.problems)


def test_sms_short_form_lists_questions_conditions_and_examples(english):
    assert sms_short_form(FEVER_SPEC) == (
        "Reply: 发烧?(1有2没有) 体温(when 发烧) e.g. 2 or 1 37.5 Reply TD to unsubscribe")
    assert sms_short_form(FEVER_SPEC) == sms_short_form(Spec((FEVER, TEMPERATURE)))


def test_sms_short_form_numbers_the_options_it_was_not_given(english):
    where = Question("where", Kind.SINGLE, "在哪", sms="在哪", options=WHERE.options)
    assert sms_short_form(Spec((where,))) == (
        "Reply: 在哪(1在家2医院9其他地方) e.g. 1 Reply TD to unsubscribe")


def test_sms_short_form_examples_parse_back():
    spec = Spec((FEVER, TEMPERATURE, COUGH))
    with translation.override("en"):
        examples = sms_short_form(spec).split("e.g. ")[1].split(" Reply")[0].split(" or ")
    assert [parse_sms_reply(spec, e).problems for e in examples] == [[], []]


def test_sms_short_form_is_empty_without_sms_questions():
    assert sms_short_form(Spec((SYMPTOMS,))) == ""


@pytest.mark.parametrize("text", ["38.2", "36.5", "37,5", "38．2"])
def test_a_bare_reading_is_not_a_yes_or_no(text):
    assert parse_yes_no(text) is None


def test_an_sms_with_only_a_temperature_is_not_read_as_no_fever():
    reply = parse_sms_reply(FEVER_SPEC, "38.2")
    assert reply.answers.get("fever") is not False
