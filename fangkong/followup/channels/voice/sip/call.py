"""One robot call on one SIP line: `callcontrol.Call` over a baresip process.

    call = SipCall(line, prompts, dial_uri=lambda n: f"sip:{n}@trunk", recogniser=None)
    call.dial("13800001234", caller_id="02112345", ring_timeout_s=30)
    call.play(prompt); heard = call.listen(timeout_s=8, digits=1); call.hangup()

baresip's events become the interface's return values: CALL_RINGING keeps `dial` waiting,
CALL_ESTABLISHED is ANSWERED, CALL_CLOSED carries the SIP reason ("486 Busy Here"); after
`ring_timeout_s` the robot hangs up itself (the carrier sees a CANCEL) and the result is
NO_ANSWER. Keys arrive as CALL_DTMF_START (RFC 4733 events and SIP INFO alike) and are
kept from the moment they are pressed, so a resident who answers during a prompt is heard
(the prompt stops: barge-in). Speech is found by loudness in the far end's audio (see
`audio.py`), cut out per question, given to the recogniser when one is configured, and
kept in `recordings` for the resident's workers.

The control socket closing (baresip died) raises `LineError`; `line_lost` says so
afterwards, for the transport to give the attempt back rather than spend a try.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

from fangkong.followup.channels.voice.asr import Recogniser
from fangkong.followup.channels.voice.callcontrol import (
    DialResult,
    DialStatus,
    Heard,
    LineError,
    Prompt,
    Purpose,
    status_for_sip,
)
from fangkong.followup.channels.voice.sip.audio import Detector, Tape
from fangkong.followup.channels.voice.sip.baresip import Baresip
from fangkong.followup.channels.voice.sip.control import ControlError, Event
from fangkong.followup.channels.voice.sip.prompts import Own, PromptCache

log = logging.getLogger("fangkong.voice")
INTER_DIGIT_S = 3.0  # after a key, how long to wait for the next before taking what came
MAX_SPEECH_S = 15.0  # an answer longer than this is cut (nobody answers at that length)
PAD_S = 0.25  # kept before and after the speech found, so no syllable is clipped
MACHINE_SPEECH_S = 2.5  # talking on for this long over the greeting: an answering machine


@dataclass
class Piece:
    """What the resident said after one prompt: audio, the recogniser's text."""

    question_key: str
    subject: int | None
    wav: bytes
    heard: str
    seconds: float


class SipCall:
    def __init__(self, line: Baresip, prompts: PromptCache, *,
                 dial_uri: Callable[[str], str], recogniser: Recogniser | None = None,
                 on_state: Callable[[str], None] | None = None,
                 own: dict[str, Own] | None = None) -> None:
        self.line, self.prompts, self.dial_uri = line, prompts, dial_uri
        self.own = own or {}  # the community's recordings, by prompt key
        self.recogniser = recogniser
        self.on_state = on_state or (lambda state: None)
        self.active = False  # a call is up or ringing: hang-up must end it
        self.answered = False
        self.gone = False  # the far end has hung up (or the call ended otherwise)
        self.rang = False  # the far end sent 180/183: a trunk that does that is up
        self.line_lost = False
        self.machine = False  # an answering machine picked up (the robot hung up on it)
        self.refused = False  # the line would not dial: it is restarted
        self.once: list = []  # sound files made for this call only, deleted at its end
        self.keys: list[str] = []
        self.keys_sent = 0  # keys received over the whole call (for the DTMF count)
        self.tape: Tape | None = None
        self.started = 0.0
        self.asking: Prompt | None = None
        self.subject: int | None = None
        self.pieces: list[Piece] = []
        self.reason = ""
        # Seconds from the resident's last answer (or the pick-up) to the next prompt
        # starting: the robot's own pause, which must stay short under load.
        self.prompt_delays: list[float] = []
        self._ready_at: float | None = None

    # -- events -------------------------------------------------------------------------

    def _event(self, timeout: float) -> Event | None:
        control = self.line.control
        if control is None:
            self._lost()
        try:
            event = control.events.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None
        if event.type == "CONTROL_CLOSED":
            self._lost()
        if event.type == "CALL_DTMF_START" and event.param:
            self.keys.append(event.param[:1])
            self.keys_sent += 1
        elif event.type in ("CALL_RINGING", "CALL_PROGRESS"):
            self.rang = True
        elif event.type == "CALL_CLOSED":
            self.gone, self.active = True, False
            self.reason = event.param[:80]
        return event

    def _lost(self) -> None:
        self.line_lost, self.gone, self.active = True, True, False
        raise LineError("the line's control socket closed")

    def _command(self, command: str, params: str = "") -> str:
        control = self.line.control
        if control is None or control.closed.is_set():
            self._lost()
        try:
            return control.command(command, params)
        except ControlError as exc:
            if control.closed.is_set():
                self._lost()
            raise LineError(str(exc)) from exc

    # -- Call ---------------------------------------------------------------------------

    def dial(self, number: str, *, caller_id: str = "", ring_timeout_s: float = 30) -> DialResult:
        control = self.line.control
        while control is not None:  # events of an earlier call on this line
            try:
                if control.events.get_nowait().type == "CONTROL_CLOSED":
                    self._lost()
            except queue.Empty:
                break
        for old in self.line.recordings.glob("dump-*"):
            old.unlink(missing_ok=True)
        self.started = time.monotonic()
        try:
            self._command("dial", self.dial_uri(number))
        except LineError:
            if self.line_lost:
                raise
            self.refused = True  # a stuck line (a call it did not let go of, say)
            return DialResult(DialStatus.FAILED, "dial refused by the line")
        self.active = True
        self.on_state("ringing")
        deadline = self.started + ring_timeout_s
        while True:
            event = self._event(deadline - time.monotonic())
            if event is None:
                if time.monotonic() >= deadline:
                    self.hangup()
                    # Not even ringing: the trunk may not be answering at all.
                    return DialResult(DialStatus.NO_ANSWER, "487 ring timeout" if self.rang
                                      else "408 no ringing")
                continue
            if event.type == "CALL_ESTABLISHED":
                self.answered = True
                self._ready_at = time.monotonic()
                self.on_state("talking")
                return DialResult(DialStatus.ANSWERED, "200 OK")
            if event.type == "CALL_CLOSED":
                return DialResult(status_for_sip(event.param), event.param[:80])

    def play(self, prompt: Prompt) -> None:
        if self.gone:
            return
        if prompt.question is not None:
            self.asking = prompt
        if prompt.purpose == Purpose.SUBJECT:
            self.subject = prompt.subject
        if prompt.purpose == Purpose.SUBJECT:  # it names a person: not kept after the call
            sound = self.prompts.once(prompt)
            self.once.append(sound.path)
        else:
            sound = self.prompts.sound(prompt, own=self.own.get(prompt.key))
        if self.keys and prompt.purpose in (Purpose.QUESTION, Purpose.CONFIRM, Purpose.PROBLEM):
            return  # keys pressed ahead answer this prompt: no need to say it
        self._command("ausrc", f"aufile,{sound.path}")
        if self._ready_at is not None:
            self.prompt_delays.append(time.monotonic() - self._ready_at)
            self._ready_at = None
        end = time.monotonic() + sound.seconds
        greeting = prompt.purpose == Purpose.GREETING and not self.machine
        detector = Detector(at_s=self.tape.seconds() if self.tape else 0.0)
        while not self.gone and time.monotonic() < end:
            self._event(min(end - time.monotonic(), 0.05))
            if self.keys:  # barge-in: a key stops the prompt
                self._quiet()
                return
            chunk = self._follow_tape()
            if greeting and self._machine_heard(detector, chunk):
                self.machine = True
                self.hangup()
                return
        self._ready_at = time.monotonic()

    def _machine_heard(self, detector: Detector, chunk: bytes) -> bool:
        """An answering machine: talking on, unbroken, over the robot's greeting (a person
        says "喂？" and listens; a recorded greeting runs on for seconds)."""
        detector.feed(chunk)
        return (detector.started is not None and detector.ended is None
                and self.tape is not None
                and self.tape.seconds() - detector.started >= MACHINE_SPEECH_S)

    def listen(self, *, timeout_s: float, digits: int | None = None,
               finish_on: str = "#") -> Heard:
        heard = self._listen(timeout_s, digits, finish_on)
        self._ready_at = time.monotonic()
        return heard

    def _listen(self, timeout_s: float, digits: int | None, finish_on: str) -> Heard:
        began = time.monotonic()
        if self.gone:
            return Heard.hangup()
        self._follow_tape()
        detector = Detector(at_s=self.tape.seconds() if self.tape else 0.0)
        deadline = began + timeout_s
        # Keys pressed during the prompt count as typed just now.
        last_key = began if self.keys else 0.0
        while True:
            taken = self._take_keys(digits, finish_on, last_key)
            if taken is not None:
                return Heard.dtmf(taken, time.monotonic() - began)
            if self.gone:
                return Heard.hangup(time.monotonic() - began)
            before = len(self.keys)
            self._event(0.05)
            if len(self.keys) > before:
                last_key = time.monotonic()
                continue
            had_tape = self.tape is not None
            chunk = self._follow_tape()  # the far end's audio may start a moment late
            if had_tape:
                detector.feed(chunk)
            elif self.tape is not None:
                detector = Detector(at_s=self.tape.seconds() - len(chunk) / 2 / 8000)
                detector.feed(chunk)
            if detector.ended is not None or (
                    detector.started is not None
                    and self.tape is not None
                    and self.tape.seconds() - detector.started > MAX_SPEECH_S):
                return self._speech(detector, time.monotonic() - began)
            if time.monotonic() >= deadline and detector.started is None and not self.keys:
                return Heard.silence(time.monotonic() - began)
            if time.monotonic() >= deadline + MAX_SPEECH_S:
                return self._speech(detector, time.monotonic() - began)

    def hangup(self) -> None:
        if self.active and not self.gone and not self.line_lost:
            try:
                self._command("hangup")
                deadline = time.monotonic() + 3
                while not self.gone and time.monotonic() < deadline:
                    self._event(deadline - time.monotonic())
            except LineError:
                pass
        self.active = False
        self.on_state("idle")

    # -- helpers ------------------------------------------------------------------------

    def _take_keys(self, digits: int | None, finish_on: str, last_key: float) -> str | None:
        """The keys that make an answer, once they do: `digits` of them, or up to the
        finishing key, or what came before a pause after the last key."""
        if not self.keys:
            return None
        if finish_on and finish_on in self.keys:
            at = self.keys.index(finish_on)
            taken, self.keys = self.keys[:at], self.keys[at + 1:]
            return "".join(taken)
        if digits is not None and len(self.keys) >= digits:
            taken, self.keys = self.keys[:digits], self.keys[digits:]
            return "".join(taken)
        if last_key and time.monotonic() - last_key >= INTER_DIGIT_S:
            taken, self.keys = self.keys, []
            return "".join(taken)
        return None

    def _quiet(self) -> None:
        self._command("ausrc", f"aufile,{self.prompts.silence()}")

    def _follow_tape(self) -> bytes:
        """Read what the far end said since the last read (b"" before any audio)."""
        if self.tape is None and self.answered:
            found = sorted(self.line.recordings.glob("dump-*-dec.wav"))
            if found:
                self.tape = Tape(found[-1])
        return self.tape.read() if self.tape is not None else b""

    def _speech(self, detector: Detector, seconds: float) -> Heard:
        start = (detector.started or 0.0) - PAD_S
        end = (detector.ended if detector.ended is not None
               else (self.tape.seconds() if self.tape else 0.0)) + PAD_S
        wav = self.tape.cut(start, end) if self.tape else b""
        text = ""
        if self.recogniser is not None and wav:
            try:
                text = self.recogniser.transcribe(wav)[:200]
            except Exception:  # noqa: BLE001 - a recogniser fault costs one answer, not the call
                log.exception("speech recogniser failed")
        # Answers to a question (asked, or asked again) are kept; a yes or no to a
        # read-back is not filed under the question it confirms.
        asked = self.asking if self.asking and self.asking.purpose in (
            Purpose.QUESTION, Purpose.PROBLEM) else None
        question = asked.question.key if asked and asked.question else ""
        if wav and question:
            self.pieces.append(Piece(question, self.subject, wav, text, round(end - start, 2)))
        return Heard.speech(text, seconds)

    def cleanup(self) -> None:
        """Delete this call's raw audio from the line's folder (what is kept was cut out)."""
        for path in self.line.recordings.glob("dump-*"):
            path.unlink(missing_ok=True)
        for path in self.once:
            path.unlink(missing_ok=True)
        self.once = []

