"""Questionnaires as data: the questions, their conditions, and the texts per channel.

A questionnaire version's `spec` is plain JSON (stored on QuestionnaireVersion), so that a
running campaign keeps exactly the version it started with. This module parses and checks
a spec, and answers "which question comes next" for every channel alike. It is pure: no
database.

    {"questions": [
       {"key": "fever", "kind": "yes_no", "label": "今天有没有发烧？",
        "sms": "发烧?(1有2没有)", "voice": "请问您今天有没有发烧？没有发烧请按1，发烧请按2。"},
       {"key": "temperature", "kind": "temperature", "label": "体温（°C）",
        "sms": "体温", "voice": "请说出您的体温，例如三十六度五。", "when": {"fever": true}},
       {"key": "symptoms", "kind": "multi", "label": "有以下哪些症状？",
        "options": [{"value": "cough", "label": "咳嗽"}, ...]}],
     "rules": [...]}                             # see fangkong/followup/rules.py

`when` maps an earlier question's key to the answer (or list of answers) that makes this
question apply; every entry must hold. A yes/no answer on the voice keypad is 1 = yes,
2 = no, unless the voice text says otherwise through `keypad` (a map digit -> value).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.utils.translation import gettext as _

TEMPERATURE_MIN = Decimal("35.0")
TEMPERATURE_MAX = Decimal("42.0")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_QUESTIONS = 40
MAX_TEXT = 300


class Kind(StrEnum):
    YES_NO = "yes_no"
    TEMPERATURE = "temperature"  # °C, one decimal, 35.0-42.0
    NUMBER = "number"  # integer or decimal within min/max
    SINGLE = "single"  # one of the options
    MULTI = "multi"  # any of the options (possibly none)
    TEXT = "text"  # short free text


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    keypad: str = ""  # the digit a caller presses for this option ("" = its position)


@dataclass(frozen=True)
class Question:
    key: str
    kind: Kind
    label: str  # the web form's label
    sms: str = ""  # the short SMS wording ("" = the question is not asked by SMS)
    voice: str = ""  # the robot's prompt ("" = not asked on a call)
    options: tuple[Option, ...] = ()
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # ((key, allowed answers), ...)
    required: bool = True
    minimum: Decimal | None = None  # NUMBER only
    maximum: Decimal | None = None
    max_length: int = 100  # TEXT only

    def applies(self, answers: dict[str, Any]) -> bool:
        """True when every `when` condition holds for the answers given so far."""
        for key, allowed in self.when:
            if key not in answers:
                return False
            given = answers[key]
            if isinstance(given, list):
                if not any(v in allowed for v in given):
                    return False
            elif given not in allowed:
                return False
        return True

    def option_values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options)

    def check(self, value: Any) -> Any:
        """Normalise an answer already understood, or raise ValueError with the reason in
        words for the resident. Used by every channel before anything is stored."""
        if self.kind == Kind.YES_NO:
            if not isinstance(value, bool):
                raise ValueError(_("Please answer yes or no."))
            return value
        if self.kind == Kind.TEMPERATURE:
            try:
                number = Decimal(str(value)).quantize(Decimal("0.1"))
            except ArithmeticError as exc:
                raise ValueError(_("Please give the temperature as a number, like 36.5.")) from exc
            if not TEMPERATURE_MIN <= number <= TEMPERATURE_MAX:
                raise ValueError(_("A body temperature lies between 35.0 and 42.0 °C: "
                                   "please measure again and give it like 36.5."))
            return number
        if self.kind == Kind.NUMBER:
            try:
                number = Decimal(str(value))
            except ArithmeticError as exc:
                raise ValueError(_("Please give a number.")) from exc
            if not number.is_finite():
                raise ValueError(_("Please give a number."))
            if self.minimum is not None and number < self.minimum:
                raise ValueError(_("Please give a number of at least %(n)s.") % {"n": self.minimum})
            if self.maximum is not None and number > self.maximum:
                raise ValueError(_("Please give a number of at most %(n)s.") % {"n": self.maximum})
            return number
        if self.kind == Kind.SINGLE:
            if value not in self.option_values():
                raise ValueError(_("Please choose one of the answers offered."))
            return value
        if self.kind == Kind.MULTI:
            values = list(value) if isinstance(value, list | tuple | set) else [value]
            unknown = [v for v in values if v not in self.option_values()]
            if unknown:
                raise ValueError(_("Please choose among the answers offered."))
            # The options' order, without repeats: the same choice always reads the same.
            return [v for v in self.option_values() if v in values]
        text = str(value).strip()
        if len(text) > self.max_length:
            raise ValueError(_("Please keep the answer under %(n)d characters.")
                             % {"n": self.max_length})
        return text


@dataclass(frozen=True)
class Spec:
    questions: tuple[Question, ...]
    rules: tuple[dict[str, Any], ...] = field(default=())

    def question(self, key: str) -> Question:
        for q in self.questions:
            if q.key == key:
                return q
        raise KeyError(key)

    def asked(self, answers: dict[str, Any]) -> list[Question]:
        """The questions that apply given the answers so far, in order."""
        return [q for q in self.questions if q.applies(answers)]

    def next_question(self, answers: dict[str, Any], *, channel: str = "web") -> Question | None:
        """The first applicable question not yet answered that this channel can ask."""
        for q in self.questions:
            if q.key in answers or not q.applies(answers):
                continue
            if channel == "sms" and not q.sms:
                continue
            if channel == "voice" and not q.voice:
                continue
            return q
        return None

    def complete(self, answers: dict[str, Any], *, channel: str | None = None) -> bool:
        """True when every applicable required question has an answer; with a channel,
        every one that channel can ask (a question without an SMS wording cannot hold up
        an answer given by SMS)."""
        return all(q.key in answers for q in self.asked(answers)
                   if q.required and self._asks(q, channel))

    @staticmethod
    def _asks(question: Question, channel: str | None) -> bool:
        if channel == "sms":
            return bool(question.sms)
        if channel == "voice":
            return bool(question.voice)
        return True

    def clean(self, answers: dict[str, Any]) -> dict[str, Any]:
        """Answers with the ones whose question no longer applies dropped (a resident who
        corrects "fever: yes" to "no" leaves no temperature behind)."""
        kept: dict[str, Any] = {}
        for q in self.questions:
            if q.key in answers and q.applies(kept):
                kept[q.key] = answers[q.key]
        return kept


class SpecError(ValueError):
    """A questionnaire that cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _text(raw: dict[str, Any], name: str, where: str, problems: list[str], *,
          required: bool = False) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        problems.append(_("%(where)s: %(name)s must be text.") % {"where": where, "name": name})
        return ""
    value = value.strip()
    if required and not value:
        problems.append(_("%(where)s: %(name)s is empty.") % {"where": where, "name": name})
    if len(value) > MAX_TEXT:
        problems.append(_("%(where)s: %(name)s is longer than %(n)d characters.")
                        % {"where": where, "name": name, "n": MAX_TEXT})
    return value


def parse_spec(raw: dict[str, Any]) -> Spec:
    """Check a spec and build it; SpecError lists every problem at once."""
    from fangkong.followup.rules import RuleError, parse_rules

    problems: list[str] = []
    items = raw.get("questions") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise SpecError([_("A questionnaire needs at least one question.")])
    if len(items) > MAX_QUESTIONS:
        problems.append(_("A questionnaire has at most %(n)d questions.") % {"n": MAX_QUESTIONS})
    questions: list[Question] = []
    seen: dict[str, Question] = {}
    for number, item in enumerate(items, start=1):
        where = _("Question %(n)d") % {"n": number}
        if not isinstance(item, dict):
            problems.append(_("%(where)s is not a question.") % {"where": where})
            continue
        key = item.get("key", "")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            problems.append(_("%(where)s: the key must be lowercase letters, digits and _.")
                            % {"where": where})
            continue
        if key in seen:
            problems.append(_("%(where)s: the key %(key)s is used twice.")
                            % {"where": where, "key": key})
            continue
        try:
            kind = Kind(item.get("kind"))
        except ValueError:
            problems.append(_("%(where)s: unknown kind of question %(kind)r.")
                            % {"where": where, "kind": item.get("kind")})
            continue
        label = _text(item, "label", where, problems, required=True)
        sms = _text(item, "sms", where, problems)
        voice = _text(item, "voice", where, problems)
        options: list[Option] = []
        if kind in (Kind.SINGLE, Kind.MULTI):
            raw_options = item.get("options")
            if not isinstance(raw_options, list) or len(raw_options) < 2:
                problems.append(_("%(where)s: a choice needs at least two options.")
                                % {"where": where})
                raw_options = []
            for o in raw_options:
                if (not isinstance(o, dict) or not isinstance(o.get("value"), str)
                        or not KEY_PATTERN.match(o["value"]) or not o.get("label")):
                    problems.append(_("%(where)s: each option needs a value (lowercase letters) "
                                      "and a label.") % {"where": where})
                    continue
                options.append(Option(o["value"], str(o["label"])[:MAX_TEXT],
                                      str(o.get("keypad", ""))[:2]))
            if len({o.value for o in options}) != len(options):
                problems.append(_("%(where)s: two options have the same value.")
                                % {"where": where})
        when: list[tuple[str, tuple[Any, ...]]] = []
        raw_when = item.get("when") or {}
        if not isinstance(raw_when, dict):
            problems.append(_("%(where)s: the condition is not understood.") % {"where": where})
            raw_when = {}
        for dep, allowed in raw_when.items():
            if dep not in seen:
                problems.append(_("%(where)s: the condition refers to %(key)s, which is not an "
                                  "earlier question.") % {"where": where, "key": dep})
                continue
            allowed_values = tuple(allowed) if isinstance(allowed, list) else (allowed,)
            target = seen[dep]
            for value in allowed_values:
                try:
                    target.check(value)
                except ValueError:
                    problems.append(_("%(where)s: %(value)r is not a possible answer to %(key)s.")
                                    % {"where": where, "value": value, "key": dep})
            when.append((dep, allowed_values))
        minimum = maximum = None
        if kind == Kind.NUMBER:
            try:
                minimum = Decimal(str(item["min"])) if item.get("min") is not None else None
                maximum = Decimal(str(item["max"])) if item.get("max") is not None else None
            except ArithmeticError:
                problems.append(_("%(where)s: min and max must be numbers.") % {"where": where})
        question = Question(key=key, kind=kind, label=label, sms=sms, voice=voice,
                            options=tuple(options), when=tuple(when),
                            required=bool(item.get("required", True)),
                            minimum=minimum, maximum=maximum,
                            max_length=min(int(item.get("max_length", 100) or 100), 500))
        seen[key] = question
        questions.append(question)
    rules = raw.get("rules") or []
    try:
        parse_rules(rules, {q.key: q for q in questions})
    except RuleError as exc:
        problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return Spec(questions=tuple(questions), rules=tuple(rules))
