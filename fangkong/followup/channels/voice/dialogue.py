"""The robot's side of a follow-up call: greet, ask each question, understand, confirm, thank.

    report = run_call(call, spec, number="13800001234", greeting="您好，这里是XX社区……")

`run_call` dials, talks and hangs up, and always returns a `CallReport`: it never raises on
what comes down the line (odd text, odd keys, a hang-up at any point, a failing line).

The flow: the greeting (who calls and why, so residents do not hang up on an unknown
number); then, for each question `Spec.next_question(answers, channel="voice")` gives, its
voice prompt, an answer (speech or keys) and `understand_answer`. An answer not understood
is explained (the understander's problem text) and asked once more; still unclear, the
question is skipped, listed in `unclear` ("needs checking") and questions depending on it
are not asked. A temperature is read back ("三十七度五，对吗？") and asked again when the
resident says it is wrong. Then goodbye and hang-up. A hang-up midway keeps what was said.

A proxy call (`people=`: the residents one family member or neighbour answers for) is one
dial and one greeting that says the call is about the people they look after; then, for
each person in turn, "the next questions are about 张某华" and that person's questions, as
above; one goodbye. A hang-up midway keeps the answers of everyone asked so far.

Fixed sentences go through gettext (English msgids); the greeting and the questions' voice
texts are the questionnaire's own (Chinese) data. Numbers are read out in Chinese.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from fangkong.followup.channels.voice.callcontrol import (
    Call,
    DialStatus,
    Heard,
    HeardKind,
    LineError,
    Prompt,
    Purpose,
)
from fangkong.followup.questions import Kind, Question, Spec
from fangkong.followup.understand import parse_yes_no, understand_answer

log = logging.getLogger(__name__)

MAX_MISSES = 2  # answers not understood before a question is given up as unclear
MAX_DENIALS = 2  # read-backs the resident says are wrong before the same
LISTEN_S = 8.0
CHARS_PER_SECOND = 4.5  # speaking rate of the robot's voice, for the talk time
MAX_HEARD = 200  # longer transcriptions are cut: nobody answers a question at that length
# Phone and ID numbers, typed or said digit by digit, stay out of transcripts.
_LONG_DIGITS = re.compile(r"[0-9０-９零〇一二三四五六七八九幺两]{5,}")

OUTCOMES = ("answered", "partial", "no_answer", "busy", "rejected", "invalid", "failed")


@dataclass(frozen=True)
class Person:
    """Someone a proxy call asks about: `key` is the caller's (the transport's contact id),
    `name` what the robot calls them (masked: 张*华, said as 张某华), `earlier` their
    answers given earlier in the round, normalised."""

    key: int
    name: str
    earlier: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonReport:
    """What a proxy call learnt about one person: `answers` (only this call's), `unclear`,
    and `complete`: nothing the voice channel asks is left for them, none unclear."""

    key: int
    answers: dict[str, Any] = field(default_factory=dict)
    unclear: list[str] = field(default_factory=list)
    complete: bool = False


@dataclass(frozen=True)
class CallReport:
    """`outcome`: one of OUTCOMES; "answered" when every applicable required question the
    voice channel asks was answered, "partial" after a hang-up or with unclear answers.
    `answers` holds only what this call gathered (normalised, Decimal kept); `unclear` the
    keys of questions given up on; `transcript` (who, text) pairs, who being "robot" or
    "resident", long digit runs masked; `seconds` the talk time; `reason` a short cause
    without personal data (the SIP reason when the call was not answered).

    A proxy call: `people` has one PersonReport per person, in the order asked, and
    `answers` and `unclear` are the first person's; "answered" means complete for everyone;
    `reason` names unclear questions by the person's place ("unclear: 2.fever")."""

    outcome: str
    answers: dict[str, Any] = field(default_factory=dict)
    unclear: list[str] = field(default_factory=list)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    reason: str = ""
    people: tuple[PersonReport, ...] = ()


_DIGITS = "零一二三四五六七八九"


def _say_below_10000(n: int) -> str:
    text, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit:
            text += ("零" if zero else "") + _DIGITS[digit] + unit
            zero = False
        elif text:
            zero = True
    return text


def say_number(n: int) -> str:
    """An integer as spoken Mandarin: 15 -> 十五, 305 -> 三百零五, 20010 -> 二万零一十.
    From 10**12 on, digit by digit."""
    if n < 0:
        return "负" + say_number(-n)
    if n == 0:
        return "零"
    if n >= 10**12:
        return "".join(_DIGITS[int(d)] for d in str(n))
    text, gap = "", False
    for value, unit in ((10**8, "亿"), (10**4, "万"), (1, "")):
        group = n // value % 10000
        if group:
            if text and (gap or group < 1000):
                text += "零"
            text += _say_below_10000(group) + unit
            gap = False
        elif text:
            gap = True
    return text[1:] if text.startswith("一十") else text


def say_decimal(value: Decimal, *, point: str = "度") -> str:
    """A decimal as spoken Mandarin, the fraction digit by digit: 37.5 -> 三十七度五,
    37.0 -> 三十七度; with point="点", 2.50 -> 二点五 and 3 -> 三."""
    value = Decimal(value)
    if not value.is_finite():
        return str(value)
    sign = "负" if value < 0 else ""
    whole, _dot, fraction = format(abs(value), "f").partition(".")
    fraction = fraction.rstrip("0")
    spoken = sign + say_number(int(whole))
    if fraction:
        return spoken + point + "".join(_DIGITS[int(d)] for d in fraction)
    return spoken + ("" if point == "点" else point)


class _Sheet:
    """What one call learns about one resident; `done` once nothing is left to ask them."""

    def __init__(self, earlier: dict[str, Any]) -> None:
        self.earlier = earlier
        self.answers: dict[str, Any] = {}
        self.unclear: list[str] = []
        self.skipped: list[str] = []
        self.done = False


class _Conversation:
    """One answered call's state; `ask` returns False once the line is gone."""

    def __init__(self, call: Call, spec: Spec) -> None:
        self.call, self.spec = call, spec
        self.transcript: list[tuple[str, str]] = []
        self.seconds = 0.0

    def say(self, prompt: Prompt) -> None:
        self.transcript.append(("robot", prompt.text))
        self.seconds += len(prompt.text) / CHARS_PER_SECOND
        self.call.play(prompt)

    @property
    def only_silence(self) -> bool:
        """Nothing at all came from the resident's side: no word, no key."""
        heard = [text for who, text in self.transcript if who == "resident"]
        return bool(heard) and all(text == "[silence]" for text in heard)

    def hear(self, *, digits: int | None) -> Heard:
        """Listen, and tidy what came back: whatever the line returns, the rest of the
        dialogue sees a well-formed Heard."""
        heard = self.call.listen(timeout_s=LISTEN_S, digits=digits)
        try:
            kind = HeardKind(heard.kind)
        except (AttributeError, ValueError):
            kind = HeardKind.SPEECH
        text = str(getattr(heard, "text", "") or "")[:MAX_HEARD]
        try:
            seconds = float(heard.seconds)
        except (AttributeError, TypeError, ValueError):
            seconds = 0.0
        seconds = min(seconds, 600.0) if math.isfinite(seconds) and seconds > 0 else 0.0
        self.seconds += seconds
        shown = {HeardKind.SPEECH: _LONG_DIGITS.sub("…", text) or "[unclear]",
                 HeardKind.DTMF: f"[{text}]",
                 HeardKind.SILENCE: "[silence]", HeardKind.HANGUP: "[hangup]"}[kind]
        self.transcript.append(("resident", shown))
        return Heard(kind, text, seconds)

    def next_question(self, sheet: _Sheet) -> Question | None:
        # Unclear and skipped questions stand in with a marker that matches no `when`
        # condition: they are not asked again, and neither is anything depending on them.
        known = {**sheet.earlier, **sheet.answers,
                 **dict.fromkeys(sheet.unclear + sheet.skipped, _UNCLEAR)}
        return self.spec.next_question(known, channel="voice")

    def ask(self, question: Question, sheet: _Sheet) -> bool:
        """Ask until understood (and, for a temperature, confirmed), or give up on it as
        unclear; the outcome goes on `sheet`. False when the resident hung up."""
        misses = denials = 0
        prompt = Prompt.of(question.voice, question=question)
        while True:
            self.say(prompt)
            heard = self.hear(digits=_keys_for(question))
            if heard.kind == HeardKind.HANGUP:
                return False
            ok, value, problem = _understand(question, heard)
            denied = False
            if ok and value is not None and question.kind == Kind.TEMPERATURE:
                confirmed = self.confirm(question, value)
                if confirmed is None:
                    return False
                if confirmed is not True:
                    ok, denied = False, confirmed is False
                    again = (_("All right, once more. %(question)s") if denied
                             else _("Sorry, I did not catch that. %(question)s"))
                    problem = again % {"question": question.voice}
            if ok:
                if value is None:  # a question not required, left blank: skipped
                    sheet.skipped.append(question.key)
                else:
                    sheet.answers[question.key] = value
                return True
            if denied:
                denials += 1
            else:
                misses += 1
            if misses >= MAX_MISSES or denials >= MAX_DENIALS:
                sheet.unclear.append(question.key)
                return True
            # The re-ask says what was wrong and asks the question again.
            prompt = Prompt.of(problem, Purpose.PROBLEM, question=question)

    def confirm(self, question: Question, value: Decimal) -> bool | str | None:
        """Read the value back: True or False as the resident said, "unclear" when not
        understood, None when they hung up."""
        text = _("Your temperature is %(t)s, is that right? Press 1 if right, 2 if not.") % {
            "t": say_decimal(value)}
        self.say(Prompt.of(text, Purpose.CONFIRM, question=question, confirming=value))
        heard = self.hear(digits=1)
        if heard.kind == HeardKind.HANGUP:
            return None
        said: bool | None = None
        if heard.kind == HeardKind.DTMF:
            said = {"1": True, "2": False}.get(heard.text.strip().rstrip("#"))
        elif heard.kind == HeardKind.SPEECH:
            try:
                said = parse_yes_no(heard.text)
            except Exception:  # see _understand
                log.exception("yes/no understanding failed")
        return "unclear" if said is None else said


_UNCLEAR = object()


def _keys_for(question: Question) -> int | None:
    """How many keys make a full keypad answer (None: until "#" or the timeout)."""
    if question.kind == Kind.YES_NO:
        return 1
    if question.kind == Kind.SINGLE and all(len(o.keypad) <= 1 for o in question.options) \
            and len(question.options) <= 9:
        return 1
    return None  # a temperature too: 365, 36*5 and 365# are all 36.5


def _understand(question: Question, heard: Heard) -> tuple[bool, Any, str]:
    """(True, value, "") when understood (value None: a blank answer to a question that is
    not required), else (False, None, the re-ask to play)."""
    keypad = heard.kind == HeardKind.DTMF
    text = heard.text if heard.kind in (HeardKind.SPEECH, HeardKind.DTMF) else ""
    try:
        understood = understand_answer(question, text, keypad=keypad)
    except Exception:
        # A bug in understanding odd input must cost one question, not the call.
        log.exception("understanding failed for %s", question.key)
        understood = None
    if understood is not None and understood.ok:
        return True, understood.value, ""
    if heard.kind == HeardKind.SILENCE:
        return False, None, _("Sorry, I did not hear an answer. %(question)s") % {
            "question": question.voice}
    if heard.kind == HeardKind.SPEECH and not text.strip():
        # Speech the recogniser could not make out (or none is configured): the keys
        # are understood for sure, so the question is asked again for them.
        return False, None, _("Sorry, I did not catch that. Please answer with the keys "
                              "on your phone. %(question)s") % {"question": question.voice}
    if understood is not None and understood.problem:
        return False, None, understood.problem
    return False, None, _("Sorry, I did not catch that. %(question)s") % {
        "question": question.voice}


def run_call(call: Call, spec: Spec, *, number: str, greeting: str, caller_id: str = "",
             ring_timeout_s: float = 30, earlier: dict[str, Any] | None = None,
             people: Sequence[Person] = ()) -> CallReport:
    """Dial `number`, hold the follow-up conversation, hang up; return what happened.
    `earlier`: answers already given this round (their questions are not asked again, and
    they count for conditions and completeness, but are not repeated in the report).
    `people`: a proxy call about each of them in turn (each brings their own `earlier`;
    the argument is then unused)."""
    try:
        dialled = call.dial(number, caller_id=caller_id, ring_timeout_s=ring_timeout_s)
    except LineError as exc:
        _hang_up(call)
        return CallReport("failed", reason=f"line error: {type(exc).__name__}")
    try:
        status = DialStatus(getattr(dialled, "status", DialStatus.FAILED))
    except ValueError:
        status = DialStatus.FAILED
    reason = str(getattr(dialled, "reason", ""))[:80]
    if status != DialStatus.ANSWERED:
        _hang_up(call)
        return CallReport(status.value, reason=reason)  # the statuses are outcome names
    sheets = [_Sheet(dict(p.earlier)) for p in people] or [_Sheet(dict(earlier or {}))]
    talk = _Conversation(call, spec)
    reason = ""
    try:
        talk.say(Prompt.of(str(greeting or "").strip() or _(
            "Hello, this is your community calling for the daily health follow-up."),
            Purpose.GREETING))
        if people:
            talk.say(Prompt.of(_("This call is about the people you look after."),
                               Purpose.GREETING))
        if _ask_everyone(talk, people, sheets):
            talk.say(Prompt.of(
                _("Thank you. A community worker may call to check some answers. Goodbye.")
                if any(s.unclear for s in sheets) else _("Thank you for your answers. Goodbye."),
                Purpose.GOODBYE))
        else:
            reason = "hung up"
    except LineError as exc:
        reason = f"line error: {type(exc).__name__}"
    _hang_up(call)
    complete = [_complete(spec, sheet) for sheet in sheets]
    if not reason and talk.only_silence and not any(s.answers for s in sheets):
        # Picked up, then not a sound: a phone answered by a machine that says nothing,
        # or someone who put it down. Not reached: the plan retries or falls back.
        return CallReport("no_answer", transcript=talk.transcript,
                          seconds=round(talk.seconds, 1), reason="silence after pick-up")
    if all(complete):
        outcome = "answered"
    elif any(s.answers or s.unclear for s in sheets) or reason == "hung up":
        outcome = "partial"
    else:
        outcome = "failed"
    unclear = ([f"{n}.{key}" for n, s in enumerate(sheets, start=1) for key in s.unclear]
               if people else sheets[0].unclear)
    if not reason and unclear:
        reason = "unclear: " + ",".join(unclear)
    reports = () if not people else tuple(
        PersonReport(p.key, s.answers, s.unclear, done)
        for p, s, done in zip(people, sheets, complete, strict=True))
    return CallReport(outcome, sheets[0].answers, sheets[0].unclear, talk.transcript,
                      round(talk.seconds, 1), reason, reports)


def _ask_everyone(talk: _Conversation, people: Sequence[Person], sheets: list[_Sheet]) -> bool:
    """Each sheet's questions in turn, on a proxy call after naming whom they are about
    (not when nothing is left to ask them); False when the resident hung up."""
    for index, sheet in enumerate(sheets):
        question = talk.next_question(sheet)
        if question is not None and people:
            person = people[index]
            talk.say(Prompt.of(
                _("The next questions are about %(name)s, whom you look after.")
                % {"name": _spoken_name(person.name)}, Purpose.SUBJECT, subject=person.key))
        while question is not None:
            if not talk.ask(question, sheet):
                return False
            question = talk.next_question(sheet)
        sheet.done = True
    return True


def _complete(spec: Spec, sheet: _Sheet) -> bool:
    """Asked to the end, nothing unclear, every applicable required voice question answered
    (this call or earlier in the round)."""
    answered = {**sheet.earlier, **sheet.answers}
    voiced = [q for q in spec.asked(answered) if q.required and q.voice]
    return sheet.done and not sheet.unclear and all(q.key in answered for q in voiced)


def _spoken_name(name: str) -> str:
    """A masked name as the robot says it: text-to-speech reads "*" as 星号 or not at all,
    so each run of stars becomes 某 (张*华 -> 张某华)."""
    return re.sub(r"\*+", "某", str(name)).strip() or "某"


def _hang_up(call: Call) -> None:
    try:
        call.hangup()
    except LineError:
        log.warning("hang-up failed on a broken line")
