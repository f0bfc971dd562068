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

A proxy call (a task with `subjects`) reaches the phone of the task's own resident, who
stands in for the proxy: their traits decide whether the call is picked up and how
answers are given (keys or speech). After each SUBJECT prompt the answers are the true
ones of the resident it names, keyed by resident id like everywhere in the population.
"""

from __future__ import annotations

from fangkong.followup.channels.base import Task
from fangkong.followup.channels.sim.population import Behaviour, SimResident, _rng
from fangkong.followup.channels.voice.callcontrol import (
    DialResult,
    DialStatus,
    Heard,
    Prompt,
    Purpose,
)

__all__ = ["Behaviour", "SimCall", "SimCarrier", "SimResident"]


class SimCall:
    """One call to a simulated resident in one round; implements callcontrol.Call.
    `prompts` records what the robot said."""

    def __init__(self, resident: SimResident, round_key: str, *,
                 about: dict[int, SimResident] | None = None) -> None:
        self.resident, self.round_key = resident, round_key
        # A proxy call: the residents answered for, by the key of their SUBJECT prompt.
        self.about = about or {}
        self.subject = resident
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
        if prompt.purpose == Purpose.SUBJECT and prompt.subject in self.about:
            self.subject = self.about[prompt.subject]
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
        truth = self.subject.truth(asked.question, self.round_key)
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
    off `Task.resident_id` and `Task.round_id`, and a proxy call's people off
    `Task.subjects` (contact id -> the resident of that id)."""

    def __init__(self, seed: int, *, behaviour: Behaviour | None = None) -> None:
        self.seed, self.behaviour = seed, behaviour or Behaviour()

    def resident(self, key: str) -> SimResident:
        return SimResident(self.seed, str(key), self.behaviour)

    def call(self, resident_key: str, round_key: str, *,
             about: dict[int, str] | None = None) -> SimCall:
        """`about`: a proxy call's people, Prompt.subject -> resident key."""
        return SimCall(self.resident(resident_key), str(round_key),
                       about={k: self.resident(v) for k, v in (about or {}).items()})

    def __call__(self, task: Task) -> SimCall:
        return self.call(str(task.resident_id), str(task.round_id),
                         about={s.contact_id: str(s.resident_id) for s in task.subjects})
