"""A line machine: `fangkong lines` runs this loop, on as many machines as needed, all
sharing one database.

    machine = LineMachineLoop(SipConfig.from_settings(), name="lines-1")
    machine.run(stop)                   # until `stop` is set

Each pass (twice a second): restart dead lines, write the heartbeat row (`LineMachine`),
and, while lines are free and the trunk is up, claim due robot calls (the dispatcher's
`due_claims` on the voice channel: each campaign's capacity of concurrent calls holds
across all machines, quiet hours are kept) for as many lines as are free. Each claim is
attempted on a thread of its own, each of its calls on a line of its own; the outcomes are
recorded by the dispatcher's `process_claimed` as for any channel. A machine that stops
(or dies) leaves its claims leased; when the lease runs out another machine calls them
again under the same attempt keys.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.db import close_old_connections, connections

from fangkong.followup.channels.voice import asr
from fangkong.followup.channels.voice.sip.lines import Lines, Promise, SipConfig
from fangkong.followup.channels.voice.sip.prompts import PromptCache
from fangkong.followup.channels.voice.sip.transport import SipTransport
from fangkong.lib import clock

log = logging.getLogger("fangkong.voice")
HEARTBEAT_SECONDS = 2.0


class _ClaimTransport:
    """The line machine's transport as one claim sees it: with the lines set aside for
    that claim."""

    needs_phone = True

    def __init__(self, transport: SipTransport, promise: Promise) -> None:
        self.transport, self.promise = transport, promise

    def send(self, batch):  # noqa: ANN001, ANN201
        return self.transport.send(batch, promise=self.promise)


class LineMachineLoop:
    def __init__(self, config: SipConfig, *, name: str | None = None,
                 recogniser: asr.Recogniser | None = None) -> None:
        self.config = config
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.prompts = PromptCache(config.folder / "prompts")
        self.lines = Lines(config, silence=self.prompts.silence(), name="lines")
        self.transport = SipTransport(self.lines, self.prompts, recogniser=recogniser)
        self.threads: list[threading.Thread] = []
        self.started_at = clock.now()
        self._last_beat = 0.0

    def start(self) -> None:
        self.lines.start()
        self.heartbeat(force=True)

    def run(self, stop: threading.Event, *, poll: float = 0.5) -> None:
        self.start()
        try:
            while not stop.is_set():
                self.step()
                stop.wait(poll)
        finally:
            self.shutdown()

    def step(self) -> int:
        """One pass; returns how many contacts were claimed. Never raises: a pass that
        fails (the database away for a moment, JACK not restarting) is logged and the
        next one tries again."""
        try:
            return self._step()
        except Exception:  # noqa: BLE001 - the line machine must keep running
            log.exception("line machine pass failed; trying again")
            return 0
        finally:
            close_old_connections()

    def _step(self) -> int:
        from fangkong.followup.dispatch import due_claims

        self.lines.supervise()
        self.heartbeat()
        self.threads = [t for t in self.threads if t.is_alive()]
        free = self.lines.free()
        if not self.lines.trunk_up:  # down: one call at a time, as the probe
            free = min(free, 1) if self.lines.probe_due() else 0
        if free <= 0:
            return 0
        now = clock.now()
        claimed = 0
        for claim in due_claims(owner=self.name, now=now, limit=free,
                                channels=frozenset({"voice"}), total=free):
            claimed += len(claim.contacts)
            promise = Promise(self.lines, len(claim.contacts))
            thread = threading.Thread(target=self._attempt, args=(claim, now, promise),
                                      name=f"claim-{claim.lease}", daemon=True)
            self.threads.append(thread)
            thread.start()
        return claimed

    def _attempt(self, claim, now, promise: Promise) -> None:  # noqa: ANN001
        from fangkong.followup.dispatch import claim_process

        try:
            claim_process(claim, now=now, transport=_ClaimTransport(self.transport, promise))
        finally:
            promise.settle_all()
            connections.close_all()

    def heartbeat(self, *, force: bool = False) -> None:
        from fangkong.followup.models import LineMachine

        if not force and time.monotonic() - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = time.monotonic()
        now = clock.now()
        try:
            LineMachine.objects.update_or_create(name=self.name, defaults=dict(
                lines=self.config.lines, busy=self.lines.busy(), live=self.lines.live(),
                trunk_up=self.lines.trunk_up, trunk_detail=self.lines.trunk_detail,
                trunk_down_since=self.lines.trunk_down_since,
                restarts=self.lines.restarts, started_at=self.started_at, heartbeat_at=now))
        except Exception:  # noqa: BLE001 - the calls go on without the operations page
            log.exception("line machine heartbeat failed")

    def shutdown(self, *, wait: float = 60.0) -> None:
        """Let the calls under way finish (up to `wait` seconds: less than a service
        manager waits before it kills), then stop the lines. Calls still going then end
        with the line, and are given back ("not placed") to be made again."""
        deadline = time.monotonic() + wait
        for thread in self.threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))
        self.lines.stop()
        from fangkong.followup.models import LineMachine

        try:
            LineMachine.objects.filter(name=self.name).delete()
        except Exception:  # noqa: BLE001
            log.exception("could not remove the line machine's row")
