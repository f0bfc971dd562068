"""When a campaign's rounds open. Pure, in the installation's local time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext as _

MAX_TIMES = 6


def parse_times(raw: Any) -> list[time]:
    """["09:00", "16:00"] -> sorted times; ValueError with the reason in words."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(_("Give at least one time of day, like 09:00."))
    if len(raw) > MAX_TIMES:
        raise ValueError(_("At most %(n)d rounds a day.") % {"n": MAX_TIMES})
    times = []
    for value in raw:
        try:
            times.append(time.fromisoformat(str(value).strip()))
        except ValueError as exc:
            raise ValueError(_("%(value)r is not a time of day like 09:00.")
                             % {"value": value}) from exc
    if len(set(times)) != len(times):
        raise ValueError(_("The same time of day is given twice."))
    return sorted(times)


def overlapping(times: list[time], round_minutes: int) -> bool:
    """True when a round would still be open at the next round's start (that day or the
    next morning): two rounds of one campaign must not ask the same people at once."""
    moments = [t.hour * 60 + t.minute for t in times]
    for i, start in enumerate(moments):
        nxt = moments[i + 1] if i + 1 < len(moments) else moments[0] + 24 * 60
        if start + round_minutes > nxt:
            return True
    return False


def next_round_at(*, times: list[time], weekdays: list[int], starts_on: date,
                  ends_on: date | None, after: datetime) -> datetime | None:
    """The first round start strictly after `after`, or None when the campaign is over."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local = after.astimezone(zone)
    day = max(local.date(), starts_on)
    for _offset in range(0, 8 + (0 if ends_on is None else 0)):
        if ends_on is not None and day > ends_on:
            return None
        if not weekdays or day.weekday() in weekdays:
            for t in times:
                moment = datetime.combine(day, t, tzinfo=zone)
                if moment > after:
                    return moment
        day += timedelta(days=1)
    return None
