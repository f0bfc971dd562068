"""Escalation rules: which answers in a follow-up round call for a grid worker's attention.

Rules are declarative JSON in a questionnaire version's spec under "rules" (next to the
questions, see questions.py), so a running campaign keeps the rules it started with.

    {"key": "fever", "kind": "threshold", "question": "temperature", "op": ">=",
     "value": "37.3", "severity": "high", "title": "发热", "deadline_minutes": 120}

`parse_rules` checks them against the questions; `evaluate` turns one round's answers (and
the earlier rounds', for trends) into findings. Assigning an alert to the resident's grid
worker is the caller's business. An "unreached" rule is never evaluated on answers: the
round-closing code applies `unreached_rules`. Pure: no database, and a finding's reason
holds question and option labels and numbers only, no personal data.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from fangkong.followup.questions import KEY_PATTERN, Kind, Question


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class RuleKind(StrEnum):
    THRESHOLD = "threshold"  # a temperature or number compared with a value
    ANY_OF = "any_of"  # at least one of the signs
    N_OF = "n_of"  # at least n of the signs
    YES = "yes"  # a yes/no question answered yes
    CHOICE = "choice"  # one of the given options chosen
    RISING = "rising"  # a temperature or number rising over the last rounds
    UNREACHED = "unreached"  # the resident gave no answer in the round (applied elsewhere)


SEVERITY_ORDER = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}
DEFAULT_DEADLINE = {Severity.HIGH: 120, Severity.MEDIUM: 240, Severity.LOW: 1440}
DEADLINE_MIN, DEADLINE_MAX = 5, 7 * 24 * 60
ROUNDS_MIN, ROUNDS_MAX = 2, 14
MAX_TITLE = 40
OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
}
OP_SIGNS = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "="}
COMMON_FIELDS = {"key", "kind", "severity", "title", "deadline_minutes"}
NUMBERS = (Kind.TEMPERATURE, Kind.NUMBER)
KINDS: dict[RuleKind, tuple[set[str], tuple[Kind, ...]]] = {  # kind: (fields, question kinds)
    RuleKind.THRESHOLD: ({"question", "op", "value"}, NUMBERS),
    RuleKind.ANY_OF: ({"signs"}, ()),
    RuleKind.N_OF: ({"signs", "n"}, ()),
    RuleKind.YES: ({"question"}, (Kind.YES_NO,)),
    RuleKind.CHOICE: ({"question", "values"}, (Kind.SINGLE, Kind.MULTI)),
    RuleKind.RISING: ({"question", "rounds", "min_rise"}, NUMBERS),
    RuleKind.UNREACHED: (set(), ()),
}


class RuleError(ValueError):
    """Rules that cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Rule:
    key: str
    kind: str  # a RuleKind
    severity: Severity
    title: str  # the alert's title for the grid worker
    deadline_minutes: int  # how soon the grid worker must respond
    question: str = ""  # threshold, yes, choice, rising
    op: str = ""  # threshold
    value: Decimal | None = None  # threshold
    signs: tuple[str, ...] = ()  # any_of, n_of: "yes_no_key" or "choice_key:option_value"
    n: int = 1  # n_of
    values: tuple[str, ...] = ()  # choice
    rounds: int = 3  # rising
    min_rise: Decimal = Decimal("0.3")  # rising


@dataclass(frozen=True)
class Finding:
    rule_key: str
    severity: Severity
    title: str
    deadline_minutes: int
    reason: str  # the facts in one short sentence, e.g. "体温 37.8 °C ≥ 37.3 °C"


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() and not isinstance(value, bool) else None


def _whole(value: Any, low: int, high: int) -> bool:  # bools are not whole numbers here
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _sign_exists(sign: Any, questions: Mapping[str, Question]) -> bool:
    """True when the sign names a yes/no question or an option of a choice question."""
    key, sep, option = sign.partition(":") if isinstance(sign, str) else ("", "", "")
    question = questions.get(key)
    return question is not None and (option in question.option_values() if sep
                                     else question.kind == Kind.YES_NO)


def parse_rules(raw: Any, questions: Mapping[str, Question]) -> list[Rule]:
    """Check the rules against the questions and build them; RuleError lists every problem
    at once, each naming the rule by position and key."""
    if not isinstance(raw, list):
        raise RuleError([_("The rules must be a list.")])
    problems: list[str] = []
    rules: list[Rule] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, start=1):
        rule = _parse_rule(item, number, questions, seen, problems)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise RuleError(problems)
    return rules


def _parse_rule(item: Any, number: int, questions: Mapping[str, Question], seen: set[str],
                problems: list[str]) -> Rule | None:
    """One rule, or None after adding its problems."""
    if not isinstance(item, dict):
        problems.append(_("Rule %(n)d is not a rule.") % {"n": number})
        return None
    before = len(problems)
    key = item.get("key")
    if isinstance(key, str) and KEY_PATTERN.match(key):
        where = _("Rule %(n)d (%(key)s)") % {"n": number, "key": key}
        if key in seen:
            problems.append(_("%(where)s: the key is used twice.") % {"where": where})
        seen.add(key)
    else:
        where = _("Rule %(n)d") % {"n": number}
        problems.append(_("%(where)s: the key must be lowercase letters, digits and _, "
                          "at most 32.") % {"where": where})

    def problem(message: str, **facts: Any) -> None:
        problems.append(message % {"where": where, **facts})

    try:
        kind = RuleKind(item.get("kind"))
    except ValueError:
        problem(_("%(where)s: unknown kind of rule %(kind)r."), kind=item.get("kind"))
        return None
    fields_allowed, question_kinds = KINDS[kind]
    unknown = sorted(str(f) for f in set(item) - COMMON_FIELDS - fields_allowed)
    if unknown:
        problem(_("%(where)s: %(fields)s does not belong in a %(kind)s rule."),
                fields=", ".join(unknown), kind=kind)
    severity: Severity | None = None
    try:
        severity = Severity(item.get("severity"))
    except ValueError:
        problem(_("%(where)s: the severity must be high, medium or low."))
    title = item.get("title")
    title = title.strip() if isinstance(title, str) else ""
    if not title or len(title) > MAX_TITLE:
        problem(_("%(where)s: the title must be text of 1 to %(n)d characters."), n=MAX_TITLE)
    deadline = item.get("deadline_minutes", DEFAULT_DEADLINE.get(severity, DEADLINE_MIN))
    if not _whole(deadline, DEADLINE_MIN, DEADLINE_MAX):
        problem(_("%(where)s: the deadline must be a whole number of minutes from %(low)d to "
                  "%(high)d."), low=DEADLINE_MIN, high=DEADLINE_MAX)

    question = None
    if question_kinds:
        question_key = item.get("question")
        question = questions.get(question_key) if isinstance(question_key, str) else None
        if question is None:
            problem(_("%(where)s: %(key)r is not a question of this questionnaire."),
                    key=question_key)
        elif question.kind not in question_kinds:
            problem(_("%(where)s: a %(rule)s rule cannot use the %(kind)s question %(key)s."),
                    rule=kind, kind=question.kind, key=question_key)
            question = None
    fields = _kind_fields(kind, item, question, questions, problem)
    if len(problems) > before or severity is None:
        return None
    return Rule(key=key, kind=kind, severity=severity, title=title, deadline_minutes=deadline,
                question=question.key if question else "", **fields)


def _kind_fields(kind: RuleKind, item: dict[str, Any], question: Question | None,
                 questions: Mapping[str, Question],
                 problem: Callable[..., None]) -> dict[str, Any]:
    """The fields particular to the kind of rule, after reporting their problems."""
    fields: dict[str, Any] = {}
    if kind == RuleKind.THRESHOLD:
        op, value = item.get("op"), _decimal(item.get("value"))
        if op not in OPS:
            problem(_("%(where)s: the comparison must be one of >=, >, <=, <, ==."))
        if value is None:
            problem(_("%(where)s: the value must be a number."))
        elif question is not None and not _possible(question, value):
            problem(_("%(where)s: no answer to %(key)s can be %(value)s."),
                    key=question.key, value=value)
        fields = {"op": op, "value": value}
    elif kind in (RuleKind.ANY_OF, RuleKind.N_OF):
        signs = item.get("signs")
        if not isinstance(signs, list) or not signs:
            problem(_("%(where)s: the signs must be a list of at least one."))
            signs = []
        for sign in signs:
            if not _sign_exists(sign, questions):
                problem(_("%(where)s: the sign %(sign)r is neither a yes/no question nor an "
                          "option of a choice question."), sign=sign)
        if len({str(s) for s in signs}) != len(signs):
            problem(_("%(where)s: a sign is listed twice."))
        n = item.get("n") if kind == RuleKind.N_OF else 1
        if not _whole(n, 1, max(len(signs), 1)):
            problem(_("%(where)s: n must be a whole number from 1 to %(count)d, the number of "
                      "signs."), count=len(signs))
        fields = {"signs": tuple(map(str, signs)), "n": n}
    elif kind == RuleKind.CHOICE:
        values = item.get("values")
        if not isinstance(values, list) or not values:
            problem(_("%(where)s: the values must be a list of at least one option."))
            values = []
        for value in values:
            if question is not None and value not in question.option_values():
                problem(_("%(where)s: %(value)r is not an option of %(key)s."),
                        value=value, key=question.key)
        fields = {"values": tuple(map(str, values))}
    elif kind == RuleKind.RISING:
        rounds, min_rise = item.get("rounds", 3), _decimal(item.get("min_rise", "0.3"))
        if not _whole(rounds, ROUNDS_MIN, ROUNDS_MAX):
            problem(_("%(where)s: rounds must be a whole number from %(low)d to %(high)d."),
                    low=ROUNDS_MIN, high=ROUNDS_MAX)
        if min_rise is None or min_rise < 0:
            problem(_("%(where)s: the minimum rise must be a number of at least 0."))
        fields = {"rounds": rounds, "min_rise": min_rise}
    return fields


def _possible(question: Question, value: Decimal) -> bool:
    """False when no answer to the question can be the value (a typo like 373)."""
    try:
        question.check(value)
    except ValueError:
        return False
    return True


def _answer(key: str, answers: Mapping[str, Any], questions: Mapping[str, Question]) -> Any:
    """The answer, or None when missing or when its question does not apply to that round
    (a stale answer left behind by a corrected condition never fires)."""
    question = questions.get(key)
    if question is not None and not question.applies(dict(answers)):
        return None
    return answers.get(key)


def _sign_holds(sign: str, answers: Mapping[str, Any], questions: Mapping[str, Question]) -> bool:
    key, sep, option = sign.partition(":")
    given = _answer(key, answers, questions)
    if not sep:
        return given is True
    if isinstance(given, list | tuple | set | frozenset):
        return option in given
    return given == option


def _label(sign: str, questions: Mapping[str, Question]) -> str:
    """The words for a question or "question:option" in a reason, falling back on keys."""
    key, sep, option = sign.partition(":")
    question = questions.get(key)
    if question is None:
        return sign
    if not sep:
        return question.label
    return next((o.label for o in question.options if o.value == option), option)


def _join(labels: Iterable[str]) -> str:
    return pgettext("list separator", ", ").join(labels)


def _reason(rule: Rule, answers: Mapping[str, Any], history: Sequence[Mapping[str, Any]],
            questions: Mapping[str, Question]) -> str | None:
    """Why the rule fires on these answers, or None when it does not."""
    label = _label(rule.question, questions)
    question = questions.get(rule.question)
    unit = " °C" if question is not None and question.kind == Kind.TEMPERATURE else ""
    if rule.kind == RuleKind.THRESHOLD:
        given = _decimal(_answer(rule.question, answers, questions))
        if given is None or not OPS[rule.op](given, rule.value):
            return None
        return _("%(label)s %(given)s%(unit)s %(op)s %(value)s%(unit)s") % {
            "label": label, "given": given, "unit": unit, "op": OP_SIGNS[rule.op],
            "value": rule.value}
    if rule.kind in (RuleKind.ANY_OF, RuleKind.N_OF):
        held = [s for s in rule.signs if _sign_holds(s, answers, questions)]
        if not held or len(held) < rule.n:
            return None
        names = _join(_label(s, questions) for s in held)
        if rule.kind == RuleKind.ANY_OF:
            return _("Signs: %(names)s") % {"names": names}
        return _("%(count)d of %(total)d signs: %(names)s") % {
            "count": len(held), "total": len(rule.signs), "names": names}
    if rule.kind == RuleKind.YES:
        if _answer(rule.question, answers, questions) is not True:
            return None
        return _("%(label)s: yes") % {"label": label}
    if rule.kind == RuleKind.CHOICE:
        chosen = [v for v in rule.values if _sign_holds(f"{rule.question}:{v}", answers, questions)]
        if not chosen:
            return None
        return _("%(label)s: %(options)s") % {
            "label": label, "options": _join(_label(f"{rule.question}:{v}", questions)
                                             for v in chosen)}
    if rule.kind == RuleKind.RISING:
        current = _decimal(_answer(rule.question, answers, questions))
        if current is None:
            return None
        # Rounds where the question was not answered (or not asked) are skipped.
        past = (_decimal(_answer(rule.question, h, questions)) for h in history)
        readings = ([r for r in past if r is not None] + [current])[-rule.rounds:]
        if (len(readings) < rule.rounds or any(b <= a for a, b in pairwise(readings))
                or readings[-1] - readings[0] < rule.min_rise):
            return None
        return _("%(label)s rose over %(n)d readings: %(readings)s") % {
            "label": label, "n": rule.rounds,
            "readings": " → ".join(f"{r}{unit}" for r in readings)}
    return None  # unreached: applied by the round-closing code


def evaluate(rules: Sequence[Rule], answers: Mapping[str, Any], *,
             history: Sequence[Mapping[str, Any]] = (),
             questions: Mapping[str, Question] | None = None) -> list[Finding]:
    """The findings one round's answers call for: most severe first, then in rule order.

    `history` holds earlier rounds' answers, oldest first (for "rising"). With `questions`
    the reasons use their labels, and answers to questions whose condition does not hold
    are ignored; without it, keys stand in. Unanswered questions never fire."""
    questions = questions or {}
    findings = []
    for rule in rules:
        reason = _reason(rule, answers, history, questions)
        if reason is not None:
            findings.append(Finding(rule.key, rule.severity, rule.title, rule.deadline_minutes,
                                    reason))
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])


def unreached_rules(rules: Sequence[Rule]) -> list[Rule]:
    """The rules the round-closing code applies to residents it could not reach."""
    return [r for r in rules if r.kind == RuleKind.UNREACHED]


def highest(findings: Iterable[Finding]) -> Severity | None:
    return min((f.severity for f in findings), key=SEVERITY_ORDER.__getitem__, default=None)
