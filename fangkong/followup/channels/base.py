"""The one interface every channel's transport implements.

The dispatcher claims due contacts, records an `Attempt` per contact (its `key` is the
idempotency key), hands the batch to the channel's transport, and records what comes back.
A transport never raises for a problem with one recipient: it returns that recipient's
outcome. It may raise for a problem an operator must fix (bad credentials); the attempts
then stay "sending" and go out again, under the same keys, once it works.

Outcomes (fangkong.followup.models.Outcome): delivered, answered, partial, no_answer, busy,
rejected, invalid, opted_out, throttled, failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from fangkong.followup.questions import Spec


def masked_name(name: str) -> str:
    """A name as a channel may say it to a proxy: the first and last characters kept, the
    others starred (张小华 -> 张*华, 欧阳明华 -> 欧**华, 李明 -> 李*). Enough for someone who
    looks after the resident to know whom it means, little for anyone else on the line."""
    name = name.strip()
    if len(name) <= 2:
        return name[:1] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


@dataclass(frozen=True)
class Subject:
    """One resident of a proxy session, as a channel may name them to the proxy."""

    contact_id: int
    resident_id: int
    name: str  # masked (see masked_name), with a hint when two would sound the same
    answers: dict[str, Any] = field(default_factory=dict)  # given earlier in this round


@dataclass(frozen=True)
class Task:
    """One resident to reach now (or one proxy for several residents)."""

    key: str  # idempotency key of the attempt; a channel sends once per key, ever
    contact_id: int
    resident_id: int
    round_id: int
    phone: str  # clear number to reach (the proxy's for a proxy session); "" = none known
    greeting: str  # who is asking and why: the campaign's community and purpose
    link: str = ""  # the web form's one-time link (web and sms channels)
    # Other contacts answered in the same session by the same proxy (empty otherwise).
    also_for: tuple[int, ...] = ()
    answers: dict[str, Any] = field(default_factory=dict)  # given earlier in this round
    # A proxy session (also of one resident): everyone it is about, this task's contact
    # first, then also_for in order. Empty when the resident is reached directly.
    subjects: tuple[Subject, ...] = ()


@dataclass(frozen=True)
class Recording:
    """What a resident said after one question of a call (a voice channel's Result may
    carry them): `wav` is 8 kHz mono 16-bit audio, `heard` the speech recogniser's text
    ("" when none is configured or it made nothing out), `unclear` True when the robot
    gave up on the question, so a worker must listen and record the answer."""

    contact_id: int
    question_key: str
    wav: bytes
    heard: str = ""
    seconds: float = 0.0
    unclear: bool = False


@dataclass(frozen=True)
class Result:
    key: str
    outcome: str
    answers: dict[str, Any] | None = None  # understood answers gathered during the attempt
    # A proxy session: answers for the other contacts of Task.also_for, by contact id.
    more_answers: dict[int, dict[str, Any]] | None = None
    provider_id: str = ""
    detail: str = ""
    recordings: tuple[Recording, ...] = ()


@dataclass(frozen=True)
class Batch:
    """What a transport needs to know about the round it works for."""

    channel: str
    campaign_id: int
    spec: Spec
    tasks: list[Task]


class Transport(Protocol):
    def send(self, batch: Batch) -> list[Result]:
        """One Result per task, in any order, keyed by Task.key."""
        ...
