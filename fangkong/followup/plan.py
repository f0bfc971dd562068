"""The channel plan of a campaign and what the dispatcher does after each outcome. Pure.

A plan is an ordered fallback, e.g. web link at the round's start, a voice call 90 minutes
later for those who have not answered, a door visit after 5 hours:

    [{"channel": "web", "at": 0},
     {"channel": "voice", "at": 90, "retries": 2, "spacing": 30, "busy_spacing": 5},
     {"channel": "visit", "at": 300}]

`at` is minutes after the round opens; `retries` is how many more tries after the first;
`spacing` the minutes between tries after no answer or a failure, `busy_spacing` after a
busy line (a busy person is there and will be free soon).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.utils.translation import gettext as _

CHANNELS = ("web", "sms", "voice", "visit")
PHONE_CHANNELS = frozenset({"web", "sms", "voice"})  # all need a working phone number
TEXT_CHANNELS = frozenset({"web", "sms"})  # a web link travels by SMS
MAX_STEPS = 6


@dataclass(frozen=True)
class Step:
    channel: str
    at: int = 0  # minutes after the round opens
    retries: int = 0
    spacing: int = 30
    busy_spacing: int = 5


@dataclass(frozen=True)
class Next:
    """Where a contact goes after an outcome."""

    state: str  # pending | answered | opted_out
    step: int
    tries: int
    due_at: datetime | None  # None: wait (for an answer, a door visit or the round's end)


class PlanError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_plan(raw: Any, *, round_minutes: int) -> tuple[Step, ...]:
    """Check a plan; PlanError lists every problem in words for the secretary."""
    problems: list[str] = []
    if not isinstance(raw, list) or not raw:
        raise PlanError([_("Choose at least one channel.")])
    if len(raw) > MAX_STEPS:
        problems.append(_("A plan has at most %(n)d steps.") % {"n": MAX_STEPS})
    steps: list[Step] = []
    for number, item in enumerate(raw, start=1):
        where = _("Step %(n)d") % {"n": number}
        if not isinstance(item, dict) or item.get("channel") not in CHANNELS:
            problems.append(_("%(where)s: choose a channel.") % {"where": where})
            continue
        try:
            step = Step(channel=item["channel"], at=int(item.get("at", 0)),
                        retries=int(item.get("retries", 0)),
                        spacing=int(item.get("spacing", 30)),
                        busy_spacing=int(item.get("busy_spacing", 5)))
        except (TypeError, ValueError):
            problems.append(_("%(where)s: times and counts must be whole numbers.")
                            % {"where": where})
            continue
        if not 0 <= step.at < round_minutes:
            problems.append(_("%(where)s starts after the round has closed.") % {"where": where})
        if not 0 <= step.retries <= 5:
            problems.append(_("%(where)s: retry at most 5 times.") % {"where": where})
        if not 1 <= step.spacing <= 240 or not 1 <= step.busy_spacing <= 240:
            problems.append(_("%(where)s: wait between 1 and 240 minutes between tries.")
                            % {"where": where})
        if steps and step.at < steps[-1].at:
            problems.append(_("%(where)s starts before the step it falls back from.")
                            % {"where": where})
        if steps and steps[-1].channel == "visit":
            problems.append(_("A door visit is the last resort: no step can follow it."))
        steps.append(step)
    if problems:
        raise PlanError(problems)
    return tuple(steps)


def step_start(plan: tuple[Step, ...], index: int, opened: datetime) -> datetime:
    return opened + timedelta(minutes=plan[index].at)


def _move_on(plan: tuple[Step, ...], index: int, *, now: datetime, opened: datetime,
             closes: datetime, skip: frozenset[str] = frozenset()) -> Next:
    """Fall back to the next usable step (not before its start time)."""
    for nxt in range(index + 1, len(plan)):
        if plan[nxt].channel in skip:
            continue
        start = max(now, step_start(plan, nxt, opened))
        if start >= closes:
            break
        # A door visit waits on the worker's list; it is not dispatched.
        due = None if plan[nxt].channel == "visit" else start
        return Next("pending", nxt, 0, due)
    return Next("pending", len(plan), 0, None)  # nothing left: unreached at the close


def fall_back(plan: tuple[Step, ...], index: int, *, now: datetime, opened: datetime,
              closes: datetime) -> Next:
    """Where a contact on `plan[index]` goes when that step cannot be tried at all."""
    return _move_on(plan, index, now=now, opened=opened, closes=closes)


def after_outcome(plan: tuple[Step, ...], *, step: int, tries: int, outcome: str,
                  now: datetime, opened: datetime, closes: datetime) -> Next:
    """The contact's next state after an attempt on `plan[step]` ended with `outcome`
    (`tries` counts that attempt). Retries stay on the step; otherwise fall back."""
    current = plan[step]
    if outcome == "answered":
        return Next("answered", step, tries, None)
    if outcome == "opted_out":
        # Refusing messages is not refusing a worker at the door.
        moved = _move_on(plan, step, now=now, opened=opened, closes=closes,
                         skip=PHONE_CHANNELS)
        return Next("opted_out" if moved.step >= len(plan) else "pending", moved.step,
                    moved.tries, moved.due_at)
    if outcome == "invalid":  # no number, or one not in service: only a visit can help
        return _move_on(plan, step, now=now, opened=opened, closes=closes, skip=PHONE_CHANNELS)
    if outcome == "no_mobile":  # a landline takes no texts, but a call may reach it
        return _move_on(plan, step, now=now, opened=opened, closes=closes, skip=TEXT_CHANNELS)
    if outcome == "delivered":
        # A link or message arrived: the resident answers when they can; the next channel
        # takes over at its own start time.
        return _move_on(plan, step, now=now, opened=opened, closes=closes)
    if outcome == "capped":
        # The number was called as often today as carriers allow: redialling would be
        # blocked (or annoy), so the next channel that is not a call takes over.
        return _move_on(plan, step, now=now, opened=opened, closes=closes,
                        skip=frozenset({"voice"}))
    if outcome in ("throttled", "not_placed"):
        # The carrier held it back, or our line or trunk failed before the resident's
        # phone rang: not the resident's doing, so no try is spent. Not past the next
        # step's start, though: a trunk that stays down must not hold up the fallback.
        due = now + timedelta(minutes=1)
        nxt_start = step_start(plan, step + 1, opened) if step + 1 < len(plan) else closes
        if due < closes and due < nxt_start:
            return Next("pending", step, max(tries - 1, 0), due)
        return _move_on(plan, step, now=now, opened=opened, closes=closes)
    if tries <= current.retries:
        wait = current.busy_spacing if outcome == "busy" else current.spacing
        due = now + timedelta(minutes=wait)
        if due < closes:
            nxt_start = (step_start(plan, step + 1, opened) if step + 1 < len(plan) else closes)
            # Retrying past the next channel's start would hold up the fallback.
            if due < nxt_start or step + 1 >= len(plan):
                return Next("pending", step, tries, due)
    return _move_on(plan, step, now=now, opened=opened, closes=closes)


def in_quiet_hours(window: list[str] | tuple[str, ...], local_time: time) -> bool:
    """True when `local_time` lies in the ["HH:MM", "HH:MM"] window (wrapping midnight
    when the start is later than the end)."""
    if not window or len(window) != 2:
        return False
    start, end = (time.fromisoformat(w) for w in window)
    if start == end:
        return False
    if start < end:
        return start <= local_time < end
    return local_time >= start or local_time < end
