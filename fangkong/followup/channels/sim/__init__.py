"""The simulated channels for the demo, tests and benchmarks: the population
(population.py) answering web links and SMS here, and phone calls through the simulated
carrier (voice/simcarrier.py).

A simulated resident answers a text at once when they answer at all: the delay a real
resident takes is not modelled, so the round table counts them under the channel that
reached them.
"""

from __future__ import annotations

from fangkong.followup.channels.base import Batch, Result
from fangkong.followup.channels.sim.population import Behaviour, SimResident, _rng


class SimTextTransport:
    """Transport for the web and sms channels on the simulated population."""

    # A simulated resident is keyed by id; the clear number is never needed (a benchmark
    # of a city need not decrypt ten million phones to pretend to text them).
    needs_phone = False

    def __init__(self, *, seed: int, channel: str, behaviour: Behaviour | None = None) -> None:
        self.seed = seed
        self.channel = channel
        self.behaviour = behaviour or Behaviour()

    def send(self, batch: Batch) -> list[Result]:
        b = self.behaviour
        share = b.answers_web if self.channel == "web" else b.answers_sms
        results = []
        for task in batch.tasks:
            resident = SimResident(self.seed, str(task.resident_id), b)
            if resident.invalid_number or not task.phone:
                results.append(Result(task.key, "invalid", detail="sim: no such number"))
                continue
            draw = _rng(self.seed, "text", task.resident_id, task.round_id, self.channel)
            if draw.random() < b.opt_out:
                results.append(Result(task.key, "opted_out", detail="sim: TD"))
                continue
            if resident.never_texts or draw.random() >= share:
                results.append(Result(task.key, "delivered", detail="sim"))
                continue
            channel = "sms" if self.channel == "sms" else "web"
            round_key = str(task.round_id)
            # The proxy answers truthfully for each of the others: the population is keyed
            # by resident, the answers by contact.
            more = {s.contact_id: SimResident(self.seed, str(s.resident_id), b).answers_for(
                batch.spec, round_key, channel=channel) for s in task.subjects[1:]}
            results.append(Result(task.key, "answered",
                                  answers=resident.answers_for(batch.spec, round_key,
                                                               channel=channel),
                                  more_answers=more or None, detail="sim"))
        return results
