"""Call control: the small synchronous interface between the robot's dialogue and a phone line.

Two implementations: the simulated carrier (`simcarrier.py`, for demos, tests and benchmarks)
and, later, a real SIP line (baresip driven over its ctrl_tcp socket). One `Call` object is
one outgoing call, used in this order:

    result = call.dial("13800001234", caller_id="02112345", ring_timeout_s=30)
    if result.status == DialStatus.ANSWERED:
        call.play(prompt)                                  # returns when the prompt has played
        heard = call.listen(timeout_s=8, digits=1)         # returns when something was heard
        ...
    call.hangup()                                          # always, also when not answered

Every method blocks. A real line turns its events into these return values: CALL_RINGING
keeps `dial` waiting, CALL_ESTABLISHED returns ANSWERED, CALL_CLOSED with a SIP reason
("486 Busy Here", "603 Decline", "408 Request Timeout", "404 Not Found") returns the status
`status_for_sip` gives; during `listen`, CALL_DTMF_START events collect digits, the speech
recogniser's text becomes `Heard.speech`, and CALL_CLOSED becomes `Heard.hangup()`.

Methods never raise for what the other side does (a hang-up is a `Heard`, a busy line a
`DialResult`). They raise `LineError` only when the line itself fails mid-call (lost
control socket); the caller then ends the call with what it has.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from fangkong.followup.questions import Question


class DialStatus(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"  # declined by the callee (or a call blocker)
    INVALID = "invalid"  # the number does not exist or cannot be called
    FAILED = "failed"  # our side or the carrier failed: worth another try later


@dataclass(frozen=True)
class DialResult:
    status: DialStatus
    reason: str = ""  # SIP-like status line, e.g. "486 Busy Here"; never personal data


_SIP_STATUS = {
    200: DialStatus.ANSWERED,
    486: DialStatus.BUSY,
    600: DialStatus.BUSY,
    603: DialStatus.REJECTED,
    403: DialStatus.REJECTED,
    408: DialStatus.NO_ANSWER,
    480: DialStatus.NO_ANSWER,
    487: DialStatus.NO_ANSWER,  # we cancelled after the ring timeout
    404: DialStatus.INVALID,
    484: DialStatus.INVALID,
    604: DialStatus.INVALID,
}


def status_for_sip(reason: str) -> DialStatus:
    """The dial status for a SIP final response ("486 Busy Here" -> BUSY). Anything not
    known, or not readable, is FAILED (a later try may work)."""
    head = str(reason).strip().split(" ", 1)[0]
    if not head.isdigit():
        return DialStatus.FAILED
    return _SIP_STATUS.get(int(head), DialStatus.FAILED)


class Purpose(StrEnum):
    """Why a prompt is played. A real line only needs `text` and `key`; the purpose lets a
    simulated resident (and the transcript reader) tell a question from small talk."""

    GREETING = "greeting"
    SUBJECT = "subject"  # a proxy call: whom the next questions are about
    QUESTION = "question"
    PROBLEM = "problem"  # why the last answer was not taken
    CONFIRM = "confirm"  # "is that right? 1 yes, 2 no"
    GOODBYE = "goodbye"


@dataclass(frozen=True)
class Prompt:
    """Something the robot says. `key` is stable for the same text, so the audio made for it
    (by a text-to-speech step, elsewhere) can be cached and reused across calls."""

    text: str
    key: str
    purpose: Purpose = Purpose.QUESTION
    question: Question | None = None  # QUESTION/CONFIRM: the question concerned
    confirming: Any = None  # CONFIRM: the value read back to the resident
    subject: int | None = None  # SUBJECT: the caller's key of the person named (Person.key)

    @classmethod
    def of(cls, text: str, purpose: Purpose = Purpose.QUESTION, *,
           question: Question | None = None, confirming: Any = None,
           subject: int | None = None) -> Prompt:
        key = "p-" + hashlib.sha256(text.encode()).hexdigest()[:20]
        return cls(text, key, purpose, question, confirming, subject)


class HeardKind(StrEnum):
    SPEECH = "speech"
    DTMF = "dtmf"
    SILENCE = "silence"  # nothing within the timeout
    HANGUP = "hangup"


@dataclass(frozen=True)
class Heard:
    """What `listen` returned. `text` is the recogniser's transcription for SPEECH ("" when
    it could not make anything out) and the digits pressed for DTMF (without the finishing
    key). `seconds` is how long the listening took: the dialogue adds it to the talk time."""

    kind: HeardKind
    text: str = ""
    seconds: float = 0.0

    @classmethod
    def speech(cls, text: str, seconds: float = 2.0) -> Heard:
        return cls(HeardKind.SPEECH, text, seconds)

    @classmethod
    def dtmf(cls, digits: str, seconds: float = 2.0) -> Heard:
        return cls(HeardKind.DTMF, digits, seconds)

    @classmethod
    def silence(cls, seconds: float = 8.0) -> Heard:
        return cls(HeardKind.SILENCE, "", seconds)

    @classmethod
    def hangup(cls, seconds: float = 0.0) -> Heard:
        return cls(HeardKind.HANGUP, "", seconds)


class LineError(Exception):
    """The line failed mid-call (not the resident's doing): the call ends with what it has."""


class Call(Protocol):
    def dial(self, number: str, *, caller_id: str, ring_timeout_s: float) -> DialResult:
        """Ring `number`; block until answered, refused or `ring_timeout_s` has passed."""
        ...

    def play(self, prompt: Prompt) -> None:
        """Say `prompt`; block until it has played (or the other side hung up: the next
        `listen` reports that)."""
        ...

    def listen(self, *, timeout_s: float, digits: int | None = None,
               finish_on: str = "#") -> Heard:
        """Wait for an answer: speech, or keys until `digits` keys were pressed or
        `finish_on` was; SILENCE after `timeout_s` without either; HANGUP when the other
        side has gone (then every later call returns HANGUP at once)."""
        ...

    def hangup(self) -> None:
        """End the call; harmless when it already ended or never started."""
        ...
