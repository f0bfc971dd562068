"""The simulated population behind web links and SMS, for the demo, tests and benchmarks.

Deterministic from a seed: each resident has lasting traits (answers links or not, a dead
number), and each round draws from (seed, resident, round), so a rerun gives the same day.
A simulated resident answers at once when they answer at all (the delay a real resident
takes is not modelled here: the round table counts them as answered by this channel).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fangkong.followup.channels.base import Batch, Result
from fangkong.followup.questions import Kind, Spec


@dataclass(frozen=True)
class TextBehaviour:
    answers_web: float = 0.6  # share of residents who answer a web link in a round
    answers_sms: float = 0.45
    invalid_number: float = 0.01
    opt_out: float = 0.002
    fever: float = 0.01  # share of residents with a fever in a round


def _rng(seed: int, *parts: object) -> random.Random:
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def sim_answers(spec: Spec, rng: random.Random, *, febrile: bool) -> dict[str, Any]:
    """Plausible answers to every question that applies, normal unless `febrile`."""
    answers: dict[str, Any] = {}
    for question in spec.questions:
        if not question.applies(answers):
            continue
        if question.kind == Kind.YES_NO:
            sick_sign = question.key in {"fever", "cough"}
            answers[question.key] = febrile if sick_sign else rng.random() < 0.01
        elif question.kind == Kind.TEMPERATURE:
            low, high = (373, 395) if febrile else (360, 371)
            answers[question.key] = Decimal(rng.randint(low, high)) / 10
        elif question.kind == Kind.NUMBER:
            answers[question.key] = question.minimum if question.minimum is not None else Decimal(0)
        elif question.kind == Kind.SINGLE:
            values = question.option_values()
            answers[question.key] = values[1] if febrile or rng.random() < 0.03 else values[0]
        elif question.kind == Kind.MULTI:
            values = question.option_values()
            answers[question.key] = [values[0]] if febrile else []
        else:
            answers[question.key] = ""
    return answers


class SimTextTransport:
    """Transport for the web and sms channels on the simulated population."""

    needs_phone = False

    def __init__(self, *, seed: int, channel: str,
                 behaviour: TextBehaviour | None = None) -> None:
        self.seed = seed
        self.channel = channel
        self.behaviour = behaviour or TextBehaviour()

    def send(self, batch: Batch) -> list[Result]:
        b = self.behaviour
        results = []
        share = b.answers_web if self.channel == "web" else b.answers_sms
        for task in batch.tasks:
            trait = _rng(self.seed, "resident", task.resident_id)
            dead_number = trait.random() < b.invalid_number
            answers_texts = trait.random() < 0.85  # some never answer a text, ever
            draw = _rng(self.seed, task.resident_id, task.round_id, self.channel)
            if dead_number:
                results.append(Result(key=task.key, outcome="invalid", detail="sim: no such number"))
                continue
            if draw.random() < b.opt_out:
                results.append(Result(key=task.key, outcome="opted_out", detail="sim: TD"))
                continue
            if answers_texts and draw.random() < share / 0.85:
                febrile = _rng(self.seed, task.resident_id, task.round_id, "fever").random() \
                    < b.fever
                more = {pk: sim_answers(batch.spec, _rng(self.seed, pk, task.round_id),
                                        febrile=False) for pk in task.also_for}
                results.append(Result(key=task.key, outcome="answered",
                                      answers=sim_answers(batch.spec, draw, febrile=febrile),
                                      more_answers=more or None, detail="sim"))
                continue
            results.append(Result(key=task.key, outcome="delivered", detail="sim"))
        return results
