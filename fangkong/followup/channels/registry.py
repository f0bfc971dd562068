"""Which transport carries each channel in this installation.

With no SMS gateway configured (the demo, tests, benchmarks) every channel goes through
the simulated carrier and population, deterministic from FANGKONG_SIM_SEED. With
FANGKONG_SMS_GATEWAY_URL set, web links and SMS go out through the gateway; the voice
channel stays simulated until a telephony channel is configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from fangkong.followup.channels.base import Transport

_overrides: dict[str, Transport] = {}
_cache: dict[str, Transport] = {}


def _build(channel: str) -> Transport:
    if channel in ("web", "sms") and settings.SMS_GATEWAY_URL:
        from fangkong.followup.channels.sms.transport import gateway_transport

        return gateway_transport(channel)
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
