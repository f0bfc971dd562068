"""Fixed-window counters in Django's cache, for the rate limits of the public pages (wrong
building check-in tries, join forms, residents' requests). The cache is shared by every
process (a table of the shared database, or the one embedded process's memory)."""

from __future__ import annotations

from django.core.cache import cache


def window_count(key: str) -> int:
    """The events counted under `key` in its current window (0 when none)."""
    return int(cache.get(key, 0))


def window_add(key: str, *, window: int) -> int:
    """Count one event under `key`; the count in this window. The window (seconds) starts
    at the first event and is not extended by later ones."""
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1
