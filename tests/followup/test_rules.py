"""Escalation rules: parsing against the questions, evaluation of every kind, and the
rule sets the shipped questionnaires are written like. Pure: no database."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from itertools import pairwise

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from fangkong.followup.questions import Kind, Question, SpecError, parse_spec
from fangkong.followup.rules import (
    SEVERITY_ORDER,
    Finding,
    Rule,
    RuleError,
    Severity,
    evaluate,
    highest,
    parse_rules,
    unreached_rules,
)

# --- realistic questionnaires ----------------------------------------------------------

DAILY = {
    "questions": [
        {"key": "temperature", "kind": "temperature", "label": "体温"},
        {"key": "cough", "kind": "yes_no", "label": "咳嗽"},
        {"key": "fatigue", "kind": "yes_no", "label": "乏力"},
        {"key": "diarrhoea", "kind": "yes_no", "label": "腹泻"},
        {"key": "other", "kind": "yes_no", "label": "还有其他不适吗？"},
        {"key": "symptoms", "kind": "multi", "label": "有以下哪些症状？", "when": {"other": True},
         "options": [{"value": "sore_throat", "label": "咽痛"},
                     {"value": "taste", "label": "味觉或嗅觉减退"},
                     {"value": "headache", "label": "头痛"}]},
    ],
    "rules": [
        {"key": "fever", "kind": "threshold", "question": "temperature", "op": ">=",
         "value": "37.3", "severity": "high", "title": "发热", "deadline_minutes": 120},
        {"key": "symptoms", "kind": "any_of", "signs": ["cough", "symptoms:sore_throat",
                                                       "symptoms:taste"],
         "severity": "medium", "title": "有症状", "deadline_minutes": 240},
        {"key": "two_symptoms", "kind": "n_of", "signs": ["fatigue", "diarrhoea", "cough"],
         "n": 2, "severity": "medium", "title": "多项症状"},
        {"key": "rising", "kind": "rising", "question": "temperature", "rounds": 3,
         "min_rise": "0.3", "severity": "medium", "title": "体温持续上升"},
        {"key": "unreached", "kind": "unreached", "severity": "medium", "title": "未联系上",
         "deadline_minutes": 180},
    ],
}
TRAVEL = {
    "questions": [
        {"key": "contact_case", "kind": "yes_no", "label": "14天内接触过确诊病例吗？"},
        {"key": "risk_area", "kind": "yes_no", "label": "14天内去过风险地区吗？"},
        {"key": "where", "kind": "text", "label": "去过哪里？", "when": {"risk_area": True}},
    ],
    "rules": [
        {"key": "contact", "kind": "yes", "question": "contact_case", "severity": "high",
         "title": "密接"},
        {"key": "travel", "kind": "yes", "question": "risk_area", "severity": "medium",
         "title": "风险地区旅居史"},
    ],
}
ELDERLY = {
    "questions": [
        {"key": "wellbeing", "kind": "single", "label": "今天身体怎么样？",
         "options": [{"value": "fine", "label": "挺好"}, {"value": "unwell", "label": "不舒服"},
                     {"value": "help", "label": "需要帮助"}]},
        {"key": "needs", "kind": "multi", "label": "家里缺什么吗？",
         "options": [{"value": "medicine", "label": "常用药快吃完了"},
                     {"value": "food", "label": "食物"}]},
    ],
    "rules": [
        {"key": "needs_help", "kind": "choice", "question": "wellbeing",
         "values": ["unwell", "help"], "severity": "high", "title": "老人需要帮助"},
        {"key": "medicine", "kind": "choice", "question": "needs", "values": ["medicine"],
         "severity": "medium", "title": "药品快用完"},
    ],
}
SPECS = {"daily": DAILY, "travel": TRAVEL, "elderly": ELDERLY}


@cache
def setup(name: str) -> tuple[list[Rule], dict[str, Question]]:
    spec = parse_spec(SPECS[name])
    questions = {q.key: q for q in spec.questions}
    return parse_rules(list(spec.rules), questions), questions


def fired(name: str, answers: dict, history: tuple = ()) -> list[str]:
    rules, questions = setup(name)
    return [f.rule_key for f in evaluate(rules, answers, history=list(history),
                                         questions=questions)]


def rule(name: str, key: str) -> Rule:
    return next(r for r in setup(name)[0] if r.key == key)


D = Decimal
CALM = {"temperature": D("36.5"), "cough": False, "fatigue": False, "diarrhoea": False,
        "other": False}

# --- evaluation, kind by kind ----------------------------------------------------------


@pytest.mark.parametrize(("name", "answers", "history", "expected"), [
    ("daily", CALM, (), []),
    ("daily", {**CALM, "temperature": D("37.2")}, (), []),
    ("daily", {**CALM, "temperature": D("37.3")}, (), ["fever"]),
    ("daily", {**CALM, "temperature": "38.5"}, (), ["fever"]),
    ("daily", {**CALM, "cough": True}, (), ["symptoms"]),
    ("daily", {**CALM, "other": True, "symptoms": ["taste"]}, (), ["symptoms"]),
    ("daily", {**CALM, "other": True, "symptoms": ["headache"]}, (), []),
    ("daily", {**CALM, "fatigue": True}, (), []),
    ("daily", {**CALM, "fatigue": True, "diarrhoea": True}, (), ["two_symptoms"]),
    ("daily", {**CALM, "cough": True, "fatigue": True}, (), ["symptoms", "two_symptoms"]),
    ("daily", {**CALM, "temperature": D("37.0")},
     ({"temperature": D("36.5")}, {"temperature": D("36.8")}), ["rising"]),
    ("daily", {**CALM, "temperature": D("36.9")},
     ({"temperature": D("36.7")}, {"temperature": D("36.8")}), []),  # rise 0.2 < 0.3
    ("daily", {**CALM, "temperature": D("37.0")},
     ({"temperature": D("36.5")}, {"temperature": D("36.5")}), []),  # flat, not strictly up
    ("daily", {**CALM, "temperature": D("37.0")}, ({"temperature": D("36.5")},), []),  # 2 < 3
    ("daily", {**CALM, "temperature": D("37.0")},  # unanswered rounds are skipped
     ({"temperature": D("36.5")}, {}, {"temperature": D("36.7")}), ["rising"]),
    ("daily", {**CALM, "temperature": D("37.5")},
     ({"temperature": D("36.8")}, {"temperature": D("37.1")}), ["fever", "rising"]),
    ("travel", {"contact_case": False, "risk_area": False}, (), []),
    ("travel", {"contact_case": True, "risk_area": False}, (), ["contact"]),
    ("travel", {"contact_case": False, "risk_area": True, "where": "某地"}, (), ["travel"]),
    ("travel", {"risk_area": True, "contact_case": True}, (), ["contact", "travel"]),
    ("elderly", {"wellbeing": "fine", "needs": []}, (), []),
    ("elderly", {"wellbeing": "unwell", "needs": []}, (), ["needs_help"]),
    ("elderly", {"wellbeing": "help", "needs": ["food"]}, (), ["needs_help"]),
    ("elderly", {"wellbeing": "fine", "needs": ["food", "medicine"]}, (), ["medicine"]),
])
def test_rules_fire_on_the_answers_that_call_for_them(name, answers, history, expected):
    assert fired(name, answers, history) == expected


@pytest.mark.parametrize(("name", "answers"), [
    ("daily", {}),
    ("daily", {"temperature": None, "cough": None}),
    ("travel", {}),
    ("elderly", {"needs": []}),
])
def test_unanswered_questions_never_fire(name, answers):
    assert fired(name, answers, ({"temperature": D("38")}, {"temperature": D("39")})) == []


def test_answer_to_a_conditional_question_not_asked_never_fires():
    # "other" was corrected to no: the symptoms answer left behind does not apply.
    assert fired("daily", {**CALM, "symptoms": ["sore_throat", "taste"]}) == []
    rules, _questions = setup("daily")
    assert [f.rule_key for f in evaluate(rules, {"symptoms": ["taste"]})] == ["symptoms"]


def test_findings_come_most_severe_first_then_in_rule_order():
    answers = {"temperature": D("38.0"), "cough": True, "fatigue": True, "diarrhoea": False,
               "other": False}
    findings = evaluate(setup("daily")[0], answers, history=[{"temperature": D("37.0")},
                                                              {"temperature": D("37.5")}])
    assert [(f.rule_key, f.severity) for f in findings] == [
        ("fever", Severity.HIGH), ("symptoms", Severity.MEDIUM),
        ("two_symptoms", Severity.MEDIUM), ("rising", Severity.MEDIUM)]
    assert highest(findings) == Severity.HIGH
    assert highest([]) is None


def test_finding_carries_severity_title_deadline_and_the_facts():
    rules, questions = setup("daily")
    with translation.override("en"):
        findings = evaluate(rules, {**CALM, "temperature": D("37.8"), "cough": True,
                                    "fatigue": True}, questions=questions)
        rising = evaluate(rules, {"temperature": D("37.0")}, questions=questions,
                          history=[{"temperature": D("36.5")}, {"temperature": D("36.8")}])
    assert findings == [
        Finding("fever", Severity.HIGH, "发热", 120, "体温 37.8 °C ≥ 37.3 °C"),
        Finding("symptoms", Severity.MEDIUM, "有症状", 240, "Signs: 咳嗽"),
        Finding("two_symptoms", Severity.MEDIUM, "多项症状", 240, "2 of 3 signs: 乏力, 咳嗽"),
    ]
    assert rising[0].reason == "体温 rose over 3 readings: 36.5 °C → 36.8 °C → 37.0 °C"
    elderly, questions = setup("elderly")
    with translation.override("en"):
        (finding,) = evaluate(elderly, {"wellbeing": "help"}, questions=questions)
    assert finding.reason == "今天身体怎么样？: 需要帮助"


@pytest.mark.parametrize(("op", "fires_at"), [
    (">=", ["37.3", "37.4"]), (">", ["37.4"]), ("<=", ["37.2", "37.3"]), ("<", ["37.2"]),
    ("==", ["37.3"]),
])
def test_every_comparison_at_the_boundary(op, fires_at):
    _rules, questions = setup("daily")
    rules = parse_rules([{"key": "t", "kind": "threshold", "question": "temperature", "op": op,
                          "value": "37.3", "severity": "low", "title": "t"}], questions)
    assert [v for v in ("37.2", "37.3", "37.4")
            if evaluate(rules, {"temperature": D(v)})] == fires_at


def test_unreached_is_left_to_the_round_closing_code():
    rules, _questions = setup("daily")
    assert [(r.key, r.severity, r.deadline_minutes) for r in unreached_rules(rules)] == [
        ("unreached", Severity.MEDIUM, 180)]
    assert "unreached" not in fired("daily", {})
    assert unreached_rules(setup("travel")[0]) == []


def test_defaults_deadline_by_severity_rounds_and_minimum_rise():
    assert rule("daily", "two_symptoms").deadline_minutes == 240
    assert rule("travel", "contact").deadline_minutes == 120
    _rules, questions = setup("daily")
    (low, rising) = parse_rules([
        {"key": "low", "kind": "yes", "question": "cough", "severity": "low", "title": "x"},
        {"key": "up", "kind": "rising", "question": "temperature", "severity": "low",
         "title": "x"}], questions)
    assert low.deadline_minutes == 1440
    assert (rising.rounds, rising.min_rise) == (3, D("0.3"))
    assert rule("daily", "fever").value == D("37.3")
    assert list(SEVERITY_ORDER) == [Severity.HIGH, Severity.MEDIUM, Severity.LOW]


# --- validation ------------------------------------------------------------------------

BASE = {"severity": "high", "title": "标题"}
BAD_RULES = [
    ({"key": "Fever", "kind": "yes", "question": "cough"}, "Rule 1: the key must be"),
    ({"key": "a", "kind": "sometimes"}, "Rule 1 (a): unknown kind of rule 'sometimes'"),
    ({"key": "a", "kind": "unreached", "severity": "urgent"}, "the severity must be"),
    ({"key": "a", "kind": "unreached", "title": ""}, "the title must be text"),
    ({"key": "a", "kind": "unreached", "title": "长" * 41}, "the title must be text"),
    ({"key": "a", "kind": "unreached", "deadline_minutes": 4}, "the deadline must be"),
    ({"key": "a", "kind": "unreached", "deadline_minutes": 10081}, "the deadline must be"),
    ({"key": "a", "kind": "unreached", "deadline_minutes": "60"}, "the deadline must be"),
    ({"key": "a", "kind": "unreached", "question": "cough"}, "question does not belong"),
    ({"key": "a", "kind": "yes", "question": "nope"}, "'nope' is not a question"),
    ({"key": "a", "kind": "yes", "question": "temperature"},
     "a yes rule cannot use the temperature question"),
    ({"key": "a", "kind": "threshold", "question": "cough", "op": ">", "value": "1"},
     "a threshold rule cannot use the yes_no question cough"),
    ({"key": "a", "kind": "threshold", "question": "temperature", "op": "=>", "value": "37"},
     "the comparison must be one of"),
    ({"key": "a", "kind": "threshold", "question": "temperature", "op": ">", "value": "hot"},
     "the value must be a number"),
    ({"key": "a", "kind": "threshold", "question": "temperature", "op": ">", "value": "373"},
     "no answer to temperature can be 373"),
    ({"key": "a", "kind": "any_of", "signs": []}, "the signs must be a list"),
    ({"key": "a", "kind": "any_of", "signs": ["symptoms"]}, "'symptoms' is neither"),
    ({"key": "a", "kind": "any_of", "signs": ["symptoms:fever"]}, "'symptoms:fever' is neither"),
    ({"key": "a", "kind": "any_of", "signs": ["temperature"]}, "'temperature' is neither"),
    ({"key": "a", "kind": "any_of", "signs": ["cough", "cough"]}, "a sign is listed twice"),
    ({"key": "a", "kind": "n_of", "signs": ["cough", "fatigue"], "n": 3}, "n must be"),
    ({"key": "a", "kind": "n_of", "signs": ["cough", "fatigue"], "n": 0}, "n must be"),
    ({"key": "a", "kind": "n_of", "signs": ["cough", "fatigue"]}, "n must be"),
    ({"key": "a", "kind": "choice", "question": "symptoms", "values": []}, "values must be"),
    ({"key": "a", "kind": "choice", "question": "symptoms", "values": ["rash"]},
     "'rash' is not an option of symptoms"),
    ({"key": "a", "kind": "rising", "question": "temperature", "rounds": 1}, "rounds must be"),
    ({"key": "a", "kind": "rising", "question": "temperature", "min_rise": "-1"},
     "the minimum rise must be"),
]


@pytest.mark.parametrize(("raw", "expected"), BAD_RULES)
def test_each_problem_is_reported_naming_the_rule(raw, expected):
    with translation.override("en"), pytest.raises(RuleError) as excinfo:
        parse_rules([{**BASE, **raw}], setup("daily")[1])
    assert len(excinfo.value.problems) == 1
    assert expected in excinfo.value.problems[0]


def test_every_problem_is_reported_at_once_by_position():
    raw: list = [{**BASE, **r, "key": f"r{i}" if r["key"] == "a" else r["key"]}
                 for i, (r, _expected) in enumerate(BAD_RULES, start=1)]
    raw += [{**BASE, "key": "r2", "kind": "unreached"}, "not a rule"]
    with translation.override("en"), pytest.raises(RuleError) as excinfo:
        parse_rules(raw, setup("daily")[1])
    problems = excinfo.value.problems
    assert len(problems) == len(BAD_RULES) + 2
    for number, ((_raw, expected), problem) in enumerate(zip(BAD_RULES, problems, strict=False),
                                                          start=1):
        assert problem.startswith(f"Rule {number}")
        assert expected.removeprefix("Rule 1 (a): ").removeprefix("Rule 1: ") in problem
    assert problems[-2] == f"Rule {len(BAD_RULES) + 1} (r2): the key is used twice."
    assert problems[-1] == f"Rule {len(BAD_RULES) + 2} is not a rule."


def test_several_problems_in_one_rule_are_all_reported():
    with translation.override("en"), pytest.raises(RuleError) as excinfo:
        parse_rules([{"key": "x", "kind": "threshold", "question": "nope", "op": "~",
                      "value": None, "severity": "?", "title": ""}], setup("daily")[1])
    assert len(excinfo.value.problems) == 5


def test_rules_that_are_not_a_list_are_refused():
    with pytest.raises(RuleError):
        parse_rules({"fever": {}}, {})


def test_questionnaire_with_bad_rules_is_refused_with_the_rule_problems():
    with translation.override("en"), pytest.raises(SpecError) as excinfo:
        parse_spec({**TRAVEL, "rules": [{**BASE, "key": "x", "kind": "yes",
                                          "question": "contact"}]})
    assert excinfo.value.problems == ["Rule 1 (x): 'contact' is not a question of this "
                                      "questionnaire."]


# --- properties ------------------------------------------------------------------------

NUMBER_QUESTIONS = {"count": Question("count", Kind.NUMBER, "人数")}
decimals = st.decimals(min_value=-1000, max_value=1000, places=2)
OPS = {">=": D.__ge__, ">": D.__gt__, "<=": D.__le__, "<": D.__lt__, "==": D.__eq__}


@given(op=st.sampled_from(sorted(OPS)), threshold=decimals, answer=decimals)
def test_threshold_fires_iff_the_comparison_holds(op, threshold, answer):
    rules = parse_rules([{"key": "t", "kind": "threshold", "question": "count", "op": op,
                          "value": str(threshold), "severity": "low", "title": "t"}],
                        NUMBER_QUESTIONS)
    assert bool(evaluate(rules, {"count": answer})) == OPS[op](answer, threshold)


SIGNS = ["cough", "fatigue", "diarrhoea", "symptoms:sore_throat", "symptoms:taste"]


@given(n=st.integers(1, len(SIGNS)), chosen=st.sets(st.sampled_from(SIGNS)))
def test_n_of_fires_iff_at_least_n_signs_hold(n, chosen):
    rules = parse_rules([{"key": "s", "kind": "n_of", "signs": SIGNS, "n": n,
                          "severity": "low", "title": "s"}], setup("daily")[1])
    answers = {s: s in chosen for s in SIGNS if ":" not in s}
    answers |= {"other": True, "symptoms": [s.split(":")[1] for s in chosen if ":" in s]}
    questions = setup("daily")[1]
    assert bool(evaluate(rules, answers, questions=questions)) == (len(chosen) >= n)


readings = st.lists(st.decimals(min_value=35, max_value=42, places=1), min_size=1, max_size=8)


@given(values=readings, rounds=st.integers(2, 6))
def test_rising_never_fires_unless_the_last_rounds_strictly_rise(values, rounds):
    rules = parse_rules([{"key": "r", "kind": "rising", "question": "temperature",
                          "rounds": rounds, "severity": "low", "title": "r"}], setup("daily")[1])
    *history, current = ({"temperature": v} for v in values)
    last = values[-rounds:]
    rises = (len(last) == rounds and all(b > a for a, b in pairwise(last))
             and last[-1] - last[0] >= D("0.3"))
    assert bool(evaluate(rules, current, history=history)) == rises


@given(values=st.lists(st.decimals(min_value=35, max_value=42, places=1), min_size=3))
def test_rising_never_fires_on_a_non_increasing_sequence(values):
    rules = [rule("daily", "rising")]
    ordered = sorted(values, reverse=True)
    *history, current = ({"temperature": v} for v in ordered)
    assert evaluate(rules, current, history=history) == []
