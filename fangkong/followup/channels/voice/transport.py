"""The voice channel's transport: one robot call per task.

    transport = VoiceTransport(carrier_factory)       # carrier_factory(task) -> a Call
    results = transport.send(batch)                   # one Result per task, same order

The call factory is the outside boundary: the simulated carrier (`sim_voice_transport`) in
demos and tests, a SIP line later. Calls are made one after the other; the dispatcher
decides how many tasks go into a batch. A task without a number is "invalid" without a
call. `Result.answers` holds what the call gathered (Decimal values kept), also for a
partial call; `Result.detail` a short reason in English without personal data (a SIP
status line, the keys of unclear questions, the talk time). Questions answered earlier
in the round (`Task.answers`) are not asked again.
"""

from __future__ import annotations

from collections.abc import Callable

from fangkong.followup.channels.base import Batch, Result, Task
from fangkong.followup.channels.voice.callcontrol import Call
from fangkong.followup.channels.voice.dialogue import CallReport, run_call
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
        report = run_call(self.carrier_factory(task), spec, number=task.phone,
                          greeting=task.greeting, caller_id=self.caller_id,
                          ring_timeout_s=self.ring_timeout_s, earlier=task.answers)
        gathered = report.outcome in ("answered", "partial")
        return Result(task.key, report.outcome,
                      answers=dict(report.answers) if gathered else None,
                      detail=describe(report))


def describe(report: CallReport) -> str:
    """A short English line for the attempt's record: no names, no numbers but counts."""
    if report.outcome not in ("answered", "partial"):
        return report.reason or report.outcome
    parts = [f"{len(report.answers)} answered"]
    if report.unclear:
        parts.append("unclear: " + ",".join(report.unclear))
    if report.reason and not report.reason.startswith("unclear"):
        parts.append(report.reason)
    parts.append(f"{report.seconds:.0f}s")
    return "; ".join(parts)[:200]


def sim_voice_transport(seed: int, *, behaviour: Behaviour | None = None) -> VoiceTransport:
    """A VoiceTransport calling the simulated population of `seed` (which needs no clear
    number: it is keyed by resident)."""
    transport = VoiceTransport(SimCarrier(seed, behaviour=behaviour), caller_id="sim")
    transport.needs_phone = False
    return transport
