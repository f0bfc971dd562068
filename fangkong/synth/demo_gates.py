"""The gates in the demo: the first community's east and north gates with the guard and
the volunteer on duty, its gate policy, a pass for every resident, and the last day's
passages at its gates (recorded through the same service the guard's page uses, so the
log, the figures and the refusals are real)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from fangkong.accounts.models import User
from fangkong.lib import clock
from fangkong.passes.models import Direction, Gate, GatePolicy, Pass
from fangkong.passes.scan import passage_record
from fangkong.passes.tokens import pass_token
from fangkong.residents.models import Resident, ResidentStatus

GATES = ("东门", "北门")
# A morning and an evening rush, quieter in between, nothing at night.
HOURLY = {6: 2, 7: 12, 8: 18, 9: 10, 10: 6, 11: 6, 12: 5, 13: 4, 14: 4, 15: 5, 16: 8,
          17: 14, 18: 12, 19: 6, 20: 3, 21: 2}
TEMPERATURES = ("36.2", "36.3", "36.4", "36.5", "36.5", "36.6", "36.7", "36.8", "37.0")


@dataclass
class GatesDemo:
    gates: int
    passes: int
    passages: int
    refused: int


@transaction.atomic
def demo_gates_create(*, secretary: User, guards: list[User], seed: int = 2020) -> GatesDemo:
    """Gates, policy and passes of the secretary's community, and about 20 hours of
    passages ending now."""
    rng = random.Random(seed)
    community = secretary.area
    now = clock.now()
    gates = [Gate.objects.create(community=community, name=name, created_at=now)
             for name in GATES]
    gates[0].guards.add(*guards)
    gates[1].guards.add(guards[0])
    GatePolicy.objects.create(community=community, opens_at=time(6, 0), closes_at=time(22, 0),
                              outings_per_household=2, outing_days=1,
                              fever_threshold="37.3", updated_at=now, updated_by=secretary)
    residents = list(Resident.objects.filter(community=community,
                                             status=ResidentStatus.ACTIVE).order_by("pk"))
    Pass.objects.bulk_create([Pass(resident=r, issued_at=now - timedelta(days=3),
                                   issued_by=secretary) for r in residents],
                             batch_size=1000)
    passes = list(Pass.objects.filter(resident__community=community))
    start = now - timedelta(hours=20)
    recorded = refused = 0
    for hour_offset in range(20):
        moment = start + timedelta(hours=hour_offset)
        for _ in range(HOURLY.get(timezone.localtime(moment).hour, 0)):
            pass_ = rng.choice(passes)
            at = moment + timedelta(seconds=rng.randrange(3600))
            if at > now:
                continue
            try:
                outcome = passage_record(
                    gate=rng.choice(gates), guard=rng.choice(guards),
                    direction=rng.choice((Direction.IN, Direction.OUT)),
                    code=pass_token(pass_.pk, pass_.version),
                    temperature=rng.choice(TEMPERATURES), at=at)
            except ValidationError:
                continue
            recorded += 1
            refused += not outcome.passed
    return GatesDemo(gates=len(gates), passes=len(passes), passages=recorded, refused=refused)
