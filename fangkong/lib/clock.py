"""The clock that all scheduling reads, so tests and `fangkong simulate` can move time.

`now()` is the real time unless the clock was set: `clock.set(dt)` pins it (and
`clock.advance(minutes=30)` moves the pinned time on), `clock.reset()` goes back to the
real time. It is process-wide on purpose: the simulation drives the dispatcher in its own
process, and a web server never sets it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from django.utils import timezone

_lock = threading.Lock()
_pinned: datetime | None = None


def now() -> datetime:
    pinned = _pinned
    return pinned if pinned is not None else timezone.now()


def set(moment: datetime) -> None:  # noqa: A001 - clock.set reads well at the call site
    if timezone.is_naive(moment):
        raise ValueError("the clock needs a timezone-aware datetime")
    global _pinned
    with _lock:
        _pinned = moment


def advance(**delta: float) -> datetime:
    """Move a pinned clock on by a timedelta's keyword arguments; returns the new time."""
    global _pinned
    with _lock:
        if _pinned is None:
            raise RuntimeError("advance() needs a pinned clock: call clock.set() first")
        _pinned = _pinned + timedelta(**delta)
        return _pinned


def reset() -> None:
    global _pinned
    with _lock:
        _pinned = None


def is_pinned() -> bool:
    return _pinned is not None


@contextmanager
def pinned(moment: datetime) -> Iterator[None]:
    """`with clock.pinned(dt):` for the length of a block (tests)."""
    global _pinned
    before = _pinned
    set(moment)
    try:
        yield
    finally:
        with _lock:
            _pinned = before


def local_today() -> date:
    """Today in the installation's time zone, by this clock."""
    return timezone.localdate(now())
