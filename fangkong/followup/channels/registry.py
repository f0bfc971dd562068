"""Which transport carries each channel in this installation.

With FANGKONG_SMS_GATEWAY_URL set, web links and SMS go out through the gateway; with
FANGKONG_SIP_TRUNK set, robot calls are made by the line machines (`fangkong lines`,
voice/sip/machine.py). A channel with nothing real behind it (web and SMS without a
gateway; robot calls without a trunk) goes to the simulated carrier and population, deterministic from
FANGKONG_SIM_SEED, when FANGKONG_SIMULATE_CHANNELS is on (the default for the embedded
database: the demo, tests, benchmarks). Otherwise it is `Unconfigured`: every attempt
fails with the reason, and the plan falls back to its next step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from fangkong.followup.channels.base import Batch, Result, Transport

_overrides: dict[str, Transport] = {}
_cache: dict[str, Transport] = {}


class Unconfigured:
    """A channel with nothing behind it: each attempt ends "failed" at once, saying why, so
    the contact moves on to the next step of the plan."""

    needs_phone = False

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def send(self, batch: Batch) -> list[Result]:
        detail = ("no SMS gateway is configured (FANGKONG_SMS_GATEWAY_URL)"
                  if self.channel in ("web", "sms") else "no telephony channel is configured")
        return [Result(key=task.key, outcome="failed", detail=detail) for task in batch.tasks]


class LineMachinesOnly:
    """Robot calls with a SIP trunk configured: the line machines (`fangkong lines`) make
    them, never a worker. A worker that gets calls anyway gives them back unspent."""

    needs_phone = False

    def send(self, batch: Batch) -> list[Result]:
        return [Result(key=task.key, outcome="not_placed",
                       detail="robot calls are made by the line machines (fangkong lines)")
                for task in batch.tasks]


def is_real(channel: str) -> bool:
    """True when the channel reaches real people in this installation."""
    return (channel == "visit" or (channel in ("web", "sms") and bool(settings.SMS_GATEWAY_URL))
            or (channel == "voice" and bool(settings.SIP_TRUNK)))


def is_simulated(channel: str) -> bool:
    return not is_real(channel) and settings.SIMULATE_CHANNELS


def _build(channel: str) -> Transport:
    if channel in ("web", "sms") and settings.SMS_GATEWAY_URL:
        from fangkong.followup.channels.sms.transport import gateway_transport

        return gateway_transport(channel)
    if channel == "voice" and settings.SIP_TRUNK:
        return LineMachinesOnly()
    if not settings.SIMULATE_CHANNELS:
        return Unconfigured(channel)
    if channel == "voice":
        from fangkong.followup.channels.voice.transport import sim_voice_transport

        return sim_voice_transport(settings.SIM_SEED)
    from fangkong.followup.channels.sim import SimTextTransport

    return SimTextTransport(seed=settings.SIM_SEED, channel=channel)


def reset() -> None:
    """Forget the transports built so far: the next send builds them from the settings of
    that moment (tests that change SMS_GATEWAY_URL and friends call this)."""
    _cache.clear()


def transport_for(channel: str) -> Transport:
    if channel in _overrides:
        return _overrides[channel]
    if channel not in _cache:
        _cache[channel] = _build(channel)
    return _cache[channel]


@contextmanager
def override(channel: str, transport: Transport) -> Iterator[Transport]:
    """Use `transport` for `channel` within a block (tests plug fakes in here)."""
    before = _overrides.get(channel)
    _overrides[channel] = transport
    try:
        yield transport
    finally:
        if before is None:
            _overrides.pop(channel, None)
        else:
            _overrides[channel] = before
