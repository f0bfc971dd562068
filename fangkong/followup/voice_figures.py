"""Reads of the voice operations page: the line machines as their heartbeats left them,
the calls under way (no numbers, no names), and the robot's calls of the last 24 hours in
the user's area (per hour, answer rate, outcomes).

Machines and the trunk are the same for everyone who may see the page; the call figures
are scoped like every other list (the contact's district/street/community/grid columns).
Two queries, whatever the number of calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from fangkong.accounts.scope import grid_scope_q
from fangkong.followup.models import Attempt, ChannelName, LineMachine, Outcome

# A machine whose last heartbeat is older than this is shown offline.
OFFLINE_AFTER_SECONDS = 30
HOURS = 24
ANSWERED = frozenset({Outcome.ANSWERED, Outcome.PARTIAL})
# Attempts that never rang the resident's phone (our line or trunk, the carriers' daily
# cap, the carrier holding it back): they say nothing of whether residents pick up, so
# the answer rate leaves them out. They are in the outcome mix.
NOT_CALLS = frozenset({Outcome.SENDING, Outcome.NOT_PLACED, Outcome.CAPPED,
                       Outcome.THROTTLED})
LIVE_STATES = {"ringing": gettext_lazy("Ringing"), "talking": gettext_lazy("Talking")}


@dataclass(frozen=True)
class LiveCall:
    machine: str
    line: Any
    state: str
    seconds: int | None


@dataclass(frozen=True)
class MachineRow:
    machine: LineMachine
    age_seconds: int
    online: bool
    idle: int
    live: list[LiveCall] = field(default_factory=list)


def line_machines(*, now: datetime) -> list[MachineRow]:
    """Every line machine, by name, with its heartbeat's age and its calls under way
    (only the line, the state and how long: whatever else `live` might hold is not
    shown). One query."""
    rows = []
    for machine in LineMachine.objects.order_by("name"):
        age = max(int((now - machine.heartbeat_at).total_seconds()), 0)
        online = age <= OFFLINE_AFTER_SECONDS
        live = [_live_call(machine.name, item, now) for item in (machine.live or [])
                if isinstance(item, dict)] if online else []
        rows.append(MachineRow(machine=machine, age_seconds=age, online=online,
                               idle=max(machine.lines - machine.busy, 0), live=live))
    return rows


def _live_call(machine: str, item: dict[str, Any], now: datetime) -> LiveCall:
    state = str(item.get("state", ""))
    seconds = None
    try:
        since = datetime.fromisoformat(str(item.get("since", "")))
    except ValueError:
        since = None
    if since is not None:
        if timezone.is_naive(since):
            since = since.replace(tzinfo=UTC)
        seconds = max(int((now - since).total_seconds()), 0)
    line = item.get("line")
    return LiveCall(machine=machine, line=line if isinstance(line, int) else "",
                    state=str(LIVE_STATES.get(state, state[:20])), seconds=seconds)


@dataclass(frozen=True)
class CallFigures:
    hours: list[tuple[datetime, int, int]]  # (hour start, calls, answered)
    outcomes: list[tuple[str, str, int]]  # (outcome, label, calls), most first
    calls: int
    finished: int  # calls that rang and are over: the answer rate's denominator
    answered: int

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.finished if self.finished else None

    def chart(self) -> dict[str, Any]:
        """The numbers the page's charts draw (json_script)."""
        return {
            "hours": [timezone.localtime(h).strftime("%H:00") for h, _c, _a in self.hours],
            "calls": [c for _h, c, _a in self.hours],
            "answered": [a for _h, _c, a in self.hours],
            "outcomes": [{"name": label, "value": n} for _o, label, n in self.outcomes],
            "labels": {"calls": _("Calls"), "answered": pgettext("call", "Answered"),
                       "hour": _("Hour")},
        }


def voice_call_figures(user, *, now: datetime) -> CallFigures:  # noqa: ANN001
    """The robot's calls in the user's area over the last 24 hours (the current hour and
    the 23 before it), by the hour each call started. One query."""
    this_hour = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    first = this_hour.astimezone(UTC) - timedelta(hours=HOURS - 1)
    starts = [first + timedelta(hours=n) for n in range(HOURS)]
    # A call of the window belongs to a round that closed after the window began: that
    # lets the database start from the few recent rounds rather than every attempt.
    rows = (Attempt.objects
            .filter(grid_scope_q(user, "contact__"), channel=ChannelName.VOICE,
                    started_at__gte=first, started_at__lte=now,
                    contact__round__closes_at__gte=first)
            .annotate(hour=TruncHour("started_at"))
            .values("hour", "outcome").annotate(n=Count("pk")).order_by())
    per_hour = {start.timestamp(): [0, 0] for start in starts}
    per_outcome: dict[str, int] = {}
    finished = answered = 0
    for row in rows:
        bucket = per_hour.get(row["hour"].timestamp())
        n, outcome = row["n"], row["outcome"]
        if bucket is not None:
            bucket[0] += n
            bucket[1] += n if outcome in ANSWERED else 0
        per_outcome[outcome] = per_outcome.get(outcome, 0) + n
        if outcome not in NOT_CALLS:
            finished += n
        if outcome in ANSWERED:
            answered += n
    labels = dict(Outcome.choices)
    outcomes = sorted(((o, str(labels.get(o, o)), n) for o, n in per_outcome.items()),
                      key=lambda item: (-item[2], item[0]))
    return CallFigures(hours=[(s, *per_hour[s.timestamp()]) for s in starts],
                       outcomes=outcomes, calls=sum(per_outcome.values()), finished=finished,
                       answered=answered)
