"""The simulated population: residents with lasting traits and per-round answers.

Deterministic from the seed. A resident's traits (a number that does not exist, never
picking up, answering by keypad, never answering texts) come from hash(seed, resident
key), so the same resident behaves the same in every round and every run; what happens in
one round (a fever, the temperature, the words chosen) from hash(seed, resident key, round
key). The "true" answers of a round do not depend on the channel that asks, so a test can
compare them with what a channel understood. Used by the simulated carrier (voice) and
the simulated text channels (web links, SMS).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fangkong.followup.channels.voice.callcontrol import Heard
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
    fever: float = 0.005
    sign: float = 0.004
    febrile_sign: float = 0.5
    # Text channels: the share of resident-rounds that answer a web link or an SMS, among
    # residents who answer texts at all (`never_texts` never do), and opt-outs per message.
    answers_web: float = 0.65
    answers_sms: float = 0.5
    never_texts: float = 0.15
    opt_out: float = 0.002

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
        self.never_texts = traits.random() < behaviour.never_texts

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
            # The first option is the ordinary answer ("挺好"); the others are signs.
            options = question.options
            value = (draw.choice(options[1:]).value if draw.random() < sign
                     else options[0].value)
        elif question.kind == Kind.NUMBER:
            low = int(question.minimum if question.minimum is not None else 0)
            high = int(question.maximum if question.maximum is not None else 10)
            value = draw.randint(low, max(low, high))
        else:
            value = draw.choice(_NOTES)
        return question.check(value)

    def answers_for(self, spec: Spec, round_key: str, *,
                    channel: str = "voice") -> dict[str, Any]:
        """The answers a complete session on `channel` gathers this round: every question
        that channel asks, following the conditions on the resident's own answers."""
        answers: dict[str, Any] = {}
        while (question := spec.next_question(answers, channel=channel)) is not None:
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
