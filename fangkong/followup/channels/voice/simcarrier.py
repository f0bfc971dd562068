"""A simulated carrier and population, for demos, tests and benchmarks. No network, no clock.

    carrier = SimCarrier(seed=7)
    call = carrier.call("resident-42", "round-3")     # a SimCall, see callcontrol.Call
    carrier.resident("resident-42").answers_for(spec, "round-3")   # what they would answer

Everything is deterministic from the seed. A resident's traits (a number that does not
exist, never picking up, answering by keypad) come from hash(seed, resident key), so the
same resident behaves the same in every round and every run; what happens in one round
(picking up or not, a fever, the temperature, the words chosen) from hash(seed, resident
key, round key). The "true" answers of a round do not depend on how the call went, so a
test can compare them with what the dialogue understood.

A simulated resident answers the prompt last played that carries a question (see
`Prompt.question`), the way a person answers what they just heard, in varied everyday
Chinese ("没发烧", "有一点", "三七点二", "36度5") or on the keypad ("1", "365#", "13").
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fangkong.followup.channels.base import Task
from fangkong.followup.channels.voice.callcontrol import (
    DialResult,
    DialStatus,
    Heard,
    Prompt,
    Purpose,
)
from fangkong.followup.channels.voice.dialogue import say_decimal, say_number
from fangkong.followup.questions import Kind, Question, Spec


@dataclass(frozen=True)
class Behaviour:
    """Probabilities. A dial: `invalid_number` of residents have a dead number; of the
    others, `pick_up`, `busy` and `reject` per round, no answer otherwise, where the
    `never_picks_up` share of residents (part of "no answer") never answers at all. Of the
    calls picked up, `hang_up_midway` end early. `keypad` of residents answer by keys,
    the others by speech, of which `unclear_speech` of utterances come through empty.
    `fever`: resident-rounds with a fever; `sign`: chance of any other sign (a yes to a
    symptom question, each option of a symptom list), `febrile_sign` with a fever."""

    pick_up: float = 0.7
    busy: float = 0.08
    reject: float = 0.03
    invalid_number: float = 0.01
    never_picks_up: float = 0.05
    hang_up_midway: float = 0.03
    keypad: float = 0.4
    unclear_speech: float = 0.05
    fever: float = 0.01
    sign: float = 0.03
    febrile_sign: float = 0.5

    def __post_init__(self) -> None:
        if self.pick_up + self.busy + self.reject > 1 - self.never_picks_up:
            raise ValueError("pick_up + busy + reject leave no room for never_picks_up")


def _rng(seed: int, *parts: object) -> random.Random:
    """A generator fixed by its parts (Python's hash() changes between runs; sha256 not)."""
    digest = hashlib.sha256("\x1f".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


_SIGNS = ("发烧", "发热", "咳嗽", "乏力", "腹泻", "咽痛", "头痛")
_YES = ("有", "有一点", "是的", "有的", "有点")
_NO = ("没有", "没有的", "不是", "没", "没有，挺好的")
_NONE = ("没有", "都没有", "没有症状", "没有，都挺好")
_NOTES = ("一切正常", "挺好的", "没什么特别的")


def _is_fever_question(question: Question) -> bool:
    return "fever" in question.key or "发烧" in question.label or "发热" in question.label


def _yes_no_words(question: Question, truth: bool) -> tuple[str, ...]:
    """Ways to say yes or no, with the sign named in the question ("没发烧", "有点咳嗽")."""
    named = [s for s in _SIGNS if s in question.label or s in question.voice][:1]
    if truth:
        return _YES + tuple(f"有点{s}" for s in named) + tuple(f"{s}了" for s in named)
    return _NO + tuple(f"没{s}" for s in named) + tuple(f"不{s}" for s in named)


def _temperature_words(value: Decimal) -> tuple[str, ...]:
    whole, tenth = divmod(int(value * 10), 10)
    digits = "".join("零一二三四五六七八九"[int(d)] for d in str(whole))
    return (say_decimal(value), f"{whole}度{tenth}", f"{digits}点{say_number(tenth)}",
            f"{value}", f"体温{say_decimal(value, point='点')}", f"{say_decimal(value)}左右")


def _keys(question: Question) -> dict[str, str]:
    """Option value (or "yes"/"no") -> the key a caller presses for it."""
    if question.kind == Kind.YES_NO:
        custom = {o.value: o.keypad for o in question.options if o.keypad}
        return custom or {"yes": "1", "no": "2"}
    return {o.value: o.keypad or str(n) for n, o in enumerate(question.options, start=1)}


class SimResident:
    def __init__(self, seed: int, key: str, behaviour: Behaviour) -> None:
        self.seed, self.key, self.behaviour = seed, key, behaviour
        traits = _rng(seed, "resident", key)
        self.invalid_number = traits.random() < behaviour.invalid_number
        self.never_picks_up = traits.random() < behaviour.never_picks_up
        self.uses_keypad = traits.random() < behaviour.keypad

    def febrile(self, round_key: str) -> bool:
        return _rng(self.seed, "fever", self.key, round_key).random() < self.behaviour.fever

    def truth(self, question: Question, round_key: str) -> Any:
        """The resident's true answer to one question this round, normalised."""
        draw = _rng(self.seed, "truth", self.key, round_key, question.key)
        febrile = self.febrile(round_key)
        sign = self.behaviour.febrile_sign if febrile else self.behaviour.sign
        value: Any
        if question.kind == Kind.YES_NO:
            value = febrile if _is_fever_question(question) else draw.random() < sign
        elif question.kind == Kind.TEMPERATURE:
            low, high = (373, 395) if febrile else (360, 372)
            value = Decimal(draw.randint(low, high)) / 10
        elif question.kind == Kind.MULTI:
            value = [o.value for o in question.options if draw.random() < sign]
        elif question.kind == Kind.SINGLE:
            value = draw.choice(question.options).value
        elif question.kind == Kind.NUMBER:
            low = int(question.minimum if question.minimum is not None else 0)
            high = int(question.maximum if question.maximum is not None else 10)
            value = draw.randint(low, max(low, high))
        else:
            value = draw.choice(_NOTES)
        return question.check(value)

    def answers_for(self, spec: Spec, round_key: str) -> dict[str, Any]:
        """The answers a complete call gathers this round: every question the voice
        channel asks, following the conditions on the resident's own answers."""
        answers: dict[str, Any] = {}
        while (question := spec.next_question(answers, channel="voice")) is not None:
            answers[question.key] = self.truth(question, round_key)
        return answers

    def say(self, question: Question, truth: Any, draw: random.Random) -> Heard:
        """One answer to `question`, by keypad or speech as this resident does."""
        keys = _keys(question)
        keypad = self.uses_keypad and question.kind != Kind.TEXT
        if question.kind == Kind.MULTI and not truth:
            keypad = False  # no key for "none of these": people say it
        if keypad:
            if question.kind == Kind.YES_NO:
                digits = keys["yes" if truth else "no"]
            elif question.kind == Kind.TEMPERATURE:
                whole, tenth = divmod(int(truth * 10), 10)
                digits = draw.choice((f"{whole}{tenth}", f"{whole}{tenth}#", f"{whole}*{tenth}#"))
            elif question.kind == Kind.MULTI:
                digits = "".join(keys[v] for v in truth) + draw.choice(("", "#"))
            elif question.kind == Kind.SINGLE:
                digits = keys[truth]
            else:
                digits = f"{truth}#"
            return Heard.dtmf(digits, round(draw.uniform(1.5, 4.0), 1))
        seconds = round(draw.uniform(1.0, 3.0), 1)
        if draw.random() < self.behaviour.unclear_speech:
            return Heard.speech("", seconds)
        if question.kind == Kind.YES_NO:
            words = _yes_no_words(question, truth)
        elif question.kind == Kind.TEMPERATURE:
            words = _temperature_words(truth)
        elif question.kind == Kind.MULTI:
            labels = [o.label for o in question.options if o.value in truth]
            words = ("和".join(labels), "、".join(labels), "有点" + "，还有".join(labels)) \
                if truth else _NONE
        elif question.kind == Kind.SINGLE:
            label = next(o.label for o in question.options if o.value == truth)
            words = (label, f"{label}吧")
        elif question.kind == Kind.NUMBER:
            words = (say_number(int(truth)), str(truth))
        else:
            words = (str(truth),)
        return Heard.speech(draw.choice(words), seconds)


class SimCall:
    """One call to a simulated resident in one round; implements callcontrol.Call.
    `prompts` records what the robot said."""

    def __init__(self, resident: SimResident, round_key: str) -> None:
        self.resident, self.round_key = resident, round_key
        self.draw = _rng(resident.seed, "call", resident.key, round_key)
        self.prompts: list[Prompt] = []
        self.answered = self.gone = False
        self.listens = 0
        self.hang_up_after: int | None = None
        self.asked: Prompt | None = None

    def dial(self, number: str, *, caller_id: str = "", ring_timeout_s: float = 30) -> DialResult:
        behaviour, resident = self.resident.behaviour, self.resident
        if resident.invalid_number or not number.strip():
            return DialResult(DialStatus.INVALID, "404 Not Found")
        if resident.never_picks_up:
            return DialResult(DialStatus.NO_ANSWER, "408 Request Timeout")
        # Scaled so that the population as a whole picks up `pick_up` of the time.
        scale = 1 - behaviour.never_picks_up
        roll = self.draw.random() * scale
        if roll < behaviour.busy:
            return DialResult(DialStatus.BUSY, "486 Busy Here")
        if roll < behaviour.busy + behaviour.reject:
            return DialResult(DialStatus.REJECTED, "603 Decline")
        if roll >= behaviour.busy + behaviour.reject + behaviour.pick_up:
            return DialResult(DialStatus.NO_ANSWER, "408 Request Timeout")
        self.answered = True
        if self.draw.random() < behaviour.hang_up_midway:
            self.hang_up_after = self.draw.randint(0, 2)
        return DialResult(DialStatus.ANSWERED, "200 OK")

    def play(self, prompt: Prompt) -> None:
        if self.gone:
            return
        self.prompts.append(prompt)
        if prompt.question is not None:
            self.asked = prompt

    def listen(self, *, timeout_s: float, digits: int | None = None,
               finish_on: str = "#") -> Heard:
        if not self.answered or self.gone or self.listens == self.hang_up_after:
            self.gone = True
            return Heard.hangup()
        self.listens += 1
        asked, self.asked = self.asked, None
        if asked is None or asked.question is None:
            return Heard.silence(timeout_s)
        truth = self.resident.truth(asked.question, self.round_key)
        if asked.purpose == Purpose.CONFIRM:
            right = asked.confirming == truth
            if self.resident.uses_keypad:
                return Heard.dtmf("1" if right else "2", 1.5)
            return Heard.speech(self.draw.choice(("对", "对的", "是的") if right
                                                 else ("不对", "不是")), 1.0)
        return self.resident.say(asked.question, truth, self.draw)

    def hangup(self) -> None:
        self.gone = True


class SimCarrier:
    """Makes SimCalls; as a call factory for VoiceTransport it keys residents and rounds
    off `Task.resident_id` and `Task.round_id`."""

    def __init__(self, seed: int, *, behaviour: Behaviour | None = None) -> None:
        self.seed, self.behaviour = seed, behaviour or Behaviour()

    def resident(self, key: str) -> SimResident:
        return SimResident(self.seed, str(key), self.behaviour)

    def call(self, resident_key: str, round_key: str) -> SimCall:
        return SimCall(self.resident(resident_key), str(round_key))

    def __call__(self, task: Task) -> SimCall:
        return self.call(str(task.resident_id), str(task.round_id))
