"""The voice channel's transport: one robot call per task.

    transport = VoiceTransport(carrier_factory)       # carrier_factory(task) -> a Call
    results = transport.send(batch)                   # one Result per task, same order

The call factory is the outside boundary: the simulated carrier (`sim_voice_transport`) in
demos and tests, a SIP line later. Calls are made one after the other; the dispatcher
decides how many tasks go into a batch. A task without a number is "invalid" without a
call. `Result.answers` holds what the call gathered (Decimal values kept), also for a
partial call; `Result.detail` a short reason in English without personal data (a SIP
status line, the counts and keys of unclear questions). Questions answered earlier
in the round (`Task.answers`) are not asked again.

A proxy session (`Task.subjects`) is one call about everyone in it, named masked (see
`dialogue.run_call`); `Result.answers` is then the task's own resident's, and
`Result.more_answers` the others' by contact id (those the call got anything for). The
outcome is "answered" only when everyone's answers are complete, else "partial".
"""

from __future__ import annotations

from collections.abc import Callable

from fangkong.followup.answers import decode_answers
from fangkong.followup.channels.base import Batch, Result, Task
from fangkong.followup.channels.voice.callcontrol import Call
from fangkong.followup.channels.voice.dialogue import CallReport, Person, run_call
from fangkong.followup.channels.voice.simcarrier import Behaviour, SimCarrier
from fangkong.followup.questions import Spec

CallFactory = Callable[[Task], Call]


class VoiceTransport:
    needs_phone = True  # a real line dials the clear number

    def __init__(self, carrier_factory: CallFactory, *, caller_id: str = "",
                 ring_timeout_s: float = 30) -> None:
        self.carrier_factory = carrier_factory
        self.caller_id = caller_id
        self.ring_timeout_s = ring_timeout_s

    def send(self, batch: Batch) -> list[Result]:
        """Call every task's number in turn; never raises for one resident's call (a
        factory that cannot make calls at all raises: an operator must fix it)."""
        return [self.call(batch.spec, task) for task in batch.tasks]

    def call(self, spec: Spec, task: Task) -> Result:
        if not task.phone.strip():
            return Result(task.key, "invalid", detail="no number")
        return result_of(task, self.converse(self.carrier_factory(task), spec, task))

    def converse(self, call: Call, spec: Spec, task: Task) -> CallReport:
        """Hold the task's call on `call` (dial, the questions, hang up)."""
        # Task answers come as stored ({key: [value, channel]}); conditions need values.
        people = [Person(s.contact_id, s.name, decode_answers(s.answers, spec))
                  for s in task.subjects]
        return run_call(call, spec, number=task.phone, greeting=task.greeting,
                        caller_id=self.caller_id, ring_timeout_s=self.ring_timeout_s,
                        earlier=decode_answers(task.answers, spec), people=people)


def result_of(task: Task, report: CallReport) -> Result:
    """The dispatcher's Result for a call's report."""
    if report.outcome not in ("answered", "partial"):
        return Result(task.key, report.outcome, detail=describe(report))
    if not report.people:
        return Result(task.key, report.outcome, answers=dict(report.answers),
                      detail=describe(report))
    own = {p.key: dict(p.answers) for p in report.people}
    more = {key: answers for key, answers in own.items()
            if key != task.contact_id and answers}
    return Result(task.key, report.outcome, answers=own.get(task.contact_id, {}),
                  more_answers=more or None, detail=describe(report))


def describe(report: CallReport) -> str:
    """A short English line for the attempt's record: no names, no numbers but counts."""
    if report.outcome not in ("answered", "partial"):
        return report.reason or report.outcome
    if report.people:
        # Unclear questions by the person's place in the call: "unclear: 2.fever".
        answered = sum(len(p.answers) for p in report.people)
        unclear = [f"{n}.{key}" for n, p in enumerate(report.people, start=1)
                   for key in p.unclear]
        parts = [f"{len(report.people)} people", f"{answered} answered"]
    else:
        unclear = report.unclear
        parts = [f"{len(report.answers)} answered"]
    if unclear:
        parts.append("unclear: " + ",".join(unclear))
    if report.reason and not report.reason.startswith("unclear"):
        parts.append(report.reason)
    # The talk time is left out: the same outcome reads the same, so a batch's attempts are
    # recorded with a few statements rather than one each.
    return "; ".join(parts)[:200]


def sim_voice_transport(seed: int, *, behaviour: Behaviour | None = None) -> VoiceTransport:
    """A VoiceTransport calling the simulated population of `seed` (which needs no clear
    number: it is keyed by resident)."""
    transport = VoiceTransport(SimCarrier(seed, behaviour=behaviour), caller_id="sim")
    transport.needs_phone = False
    return transport
