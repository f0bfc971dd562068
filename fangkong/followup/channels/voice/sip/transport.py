"""The voice channel over SIP: each task of a batch is called on a line of its own.

    transport = SipTransport(lines, prompts)
    results = transport.send(batch)        # the calls run at once, one line each

Before a call: the trunk must be up (else "not_placed": the attempt is given back and no
try is spent), and the number must not have been called `VOICE_CALLS_PER_NUMBER` times in
the last 24 hours (else "capped": carriers block numbers that redial, so the plan's next
channel takes over). Then the dialling rate, then the call (`dialogue.run_call` on a
`SipCall`). A line that dies under a call gives the attempt back the same way (what the
resident answered before is kept). What residents said is returned as recordings, those
of questions the robot gave up on marked for a worker to check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections

from fangkong.followup.channels.base import Batch, Recording, Result, Task
from fangkong.followup.channels.voice import asr
from fangkong.followup.channels.voice.callcontrol import Prompt, Purpose
from fangkong.followup.channels.voice.dialogue import CallReport
from fangkong.followup.channels.voice.sip.call import SipCall
from fangkong.followup.channels.voice.sip.lines import Lines, Promise, trunk_trouble
from fangkong.followup.channels.voice.sip.prompts import Own, PromptCache
from fangkong.followup.channels.voice.transport import VoiceTransport, result_of
from fangkong.followup.questions import Spec
from fangkong.lib import clock
from fangkong.lib.crypto import blind_index
from fangkong.residents.personal import PHONE

log = logging.getLogger("fangkong.voice")


class SipTransport(VoiceTransport):
    needs_phone = True

    def __init__(self, lines: Lines, prompts: PromptCache, *,
                 recogniser: asr.Recogniser | None = None) -> None:
        super().__init__(self._unused_factory, caller_id=lines.config.user,
                         ring_timeout_s=lines.config.ring_seconds)
        self.lines, self.prompts, self.recogniser = lines, prompts, recogniser
        self.lease_seconds = max(settings.FOLLOWUP_LEASE_SECONDS,
                                 settings.FOLLOWUP_CALL_LEASE_SECONDS)
        self.stats_lock = threading.Lock()
        self.keys_heard = 0  # DTMF keys received, over all calls (the benchmark reads it)
        self.calls = 0

    @staticmethod
    def _unused_factory(task: Task) -> SipCall:  # pragma: no cover - calls come from lines
        raise RuntimeError("SipTransport places its calls on its lines")

    def send(self, batch: Batch, *, promise: Promise | None = None) -> list[Result]:
        """Call the batch's tasks at once, each on a line of its own. `promise`: the lines
        the line machine set aside for this claim, given back as calls take theirs."""
        if promise is not None:
            promise.settle(promise.left - len(batch.tasks))  # a proxy's people: one call
        if not batch.tasks:
            return []
        own = community_recordings(batch.campaign_id)
        # The greeting and the questions are made into sound before any call is placed.
        self.prompts.warm([Prompt.of(text, purpose) for text, purpose in
                           {(t.greeting, Purpose.GREETING) for t in batch.tasks}
                           | {(q.voice, Purpose.QUESTION) for q in batch.spec.questions
                              if q.voice}], own)
        # This thread holds no database connection while the calls last (a pooled one
        # would be kept from the other lines for minutes).
        if not connection.in_atomic_block:
            connection.close()
        with ThreadPoolExecutor(max_workers=len(batch.tasks),
                                thread_name_prefix="call") as pool:
            return list(pool.map(lambda task: self._guarded(batch.spec, task, own, promise),
                                 batch.tasks))

    def _guarded(self, spec: Spec, task: Task, own: dict[str, Own] | None,
                 promise: Promise | None) -> Result:
        # Each task gives back its one promised line once: when it takes a line, or when
        # it ends without one.
        settle = _Once(promise.settle if promise is not None else None)
        try:
            return self.call(spec, task, own, took_line=settle)
        except Exception:  # noqa: BLE001 - one call's fault must not lose the batch's others
            log.exception("a call failed before it was dialled; its attempt is given back")
            return Result(task.key, "not_placed", detail="line fault")
        finally:
            settle()
            connections.close_all()

    def call(self, spec: Spec, task: Task, own: dict[str, Own] | None = None, *,
             took_line: Callable[[], None] | None = None) -> Result:
        if not task.phone.strip():
            return Result(task.key, "invalid", detail="no number")
        if not self.lines.may_dial():
            return Result(task.key, "not_placed",
                          detail=f"trunk down: {self.lines.trunk_detail}"[:200])
        if not number_may_be_called(task.phone):
            return Result(task.key, "capped", detail="number called too often in 24 h")
        connection.close()  # no connection held while waiting for a line and calling
        # Not past the claim's lease: another machine may call the resident after it.
        index = self.lines.acquire(timeout=max(self.lease_seconds - 120, 30))
        if took_line is not None:
            took_line()
        if index is None:
            return Result(task.key, "not_placed", detail="no line free in time")
        call = SipCall(self.lines.line(index), self.prompts,
                       dial_uri=self.lines.config.dial_uri, recogniser=self.recogniser,
                       on_state=lambda state: self.lines.mark(index, state), own=own)
        try:
            self.lines.pace()
            report = self.converse(call, spec, task)
        except Exception:  # noqa: BLE001 - the call must end, and the try counts
            log.exception("a call failed in the middle; it is hung up and counted as failed")
            return Result(task.key, "failed" if call.active or call.answered else "not_placed",
                          detail="robot fault during the call")
        finally:
            call.hangup()
            call.cleanup()
            if call.refused:
                self.lines.line(index).stop()  # started afresh when it is given back
            self.lines.release(index)
        with self.stats_lock:
            self.calls += 1
            self.keys_heard += call.keys_sent
        if call.rang or call.answered:
            number_dialled(task.phone)  # only a call that reached the phone counts
        if call.refused:
            return Result(task.key, "not_placed", detail="the line refused to dial; restarted")
        if call.line_lost and not (report.answers or any(p.answers for p in report.people)):
            return Result(task.key, "not_placed", detail="line process died; called again")
        self.lines.trunk_result(report.reason if not call.answered else "200",
                                rang=call.rang, answered=call.answered)
        if not call.answered and trunk_trouble(report.reason, rang=call.rang):
            # The trunk failed, not the resident's phone: no try is spent.
            state = "trunk down" if not self.lines.trunk_up else "trunk failed"
            return Result(task.key, "not_placed", detail=f"{state}: {report.reason}"[:200])
        if call.machine:
            return Result(task.key, "no_answer", detail="answering machine")
        result = result_of(task, report)
        recordings = _recordings(task, report, call)
        if recordings:
            result = Result(result.key, result.outcome, result.answers, result.more_answers,
                            result.provider_id, result.detail, recordings)
        return result


class _Once:
    def __init__(self, action: Callable[[], None] | None) -> None:
        self.action = action

    def __call__(self) -> None:
        action, self.action = self.action, None
        if action is not None:
            action()


def _recordings(task: Task, report: CallReport, call: SipCall) -> tuple[Recording, ...]:
    unclear = ({(p.key, key) for p in report.people for key in p.unclear} if report.people
               else {(task.contact_id, key) for key in report.unclear})
    out = []
    last = {}  # a question answered twice (asked again): only the last answer is checked
    for n, piece in enumerate(call.pieces):
        contact = piece.subject if piece.subject is not None else task.contact_id
        last[(contact, piece.question_key)] = n
    for n, piece in enumerate(call.pieces):
        contact = piece.subject if piece.subject is not None else task.contact_id
        key = (contact, piece.question_key)
        out.append(Recording(contact_id=contact, question_key=piece.question_key,
                             wav=piece.wav, heard=piece.heard, seconds=piece.seconds,
                             unclear=key in unclear and last[key] == n))
    return tuple(out)


def _number_index(number: str) -> str:
    return blind_index("".join(ch for ch in number if ch.isdigit()), purpose=PHONE + ".dial")


def number_may_be_called(number: str) -> bool:
    from fangkong.followup.models import NumberDial

    since = clock.now() - timedelta(hours=24)
    made = NumberDial.objects.filter(number_index=_number_index(number), at__gte=since).count()
    return made < settings.VOICE_CALLS_PER_NUMBER


def number_dialled(number: str) -> None:
    from fangkong.followup.models import NumberDial

    NumberDial.objects.create(number_index=_number_index(number), at=clock.now())


def community_recordings(campaign_id: int) -> dict[str, Own]:
    """The recordings the campaign's community (or an area above it) made of the robot's
    sentences, by prompt key: played instead of the synthesised voice."""
    from fangkong.followup.models import Campaign
    from fangkong.followup.voice_prompts import voice_prompts_for

    campaign = Campaign.objects.select_related("area").filter(pk=campaign_id).first()
    if campaign is None:
        return {}
    return {key: Own(f"own-{found.pk}-{found.uploaded_at:%Y%m%d%H%M%S%f}", bytes(found.audio))
            for key, found in voice_prompts_for(campaign.area).items()}
