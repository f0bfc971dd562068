"""A line machine's phone lines: one baresip process per line, one JACK server, the trunk's
health and the dialling rate.

    lines = Lines(SipConfig.from_settings(), prompts)
    lines.start()
    index = lines.acquire()          # an idle, living line (blocks until one is free)
    ... SipCall(lines.line(index), ...) ...
    lines.release(index)             # a line whose process died is started again here
    lines.supervise()                # now and then: restart dead idle lines (and JACK)

The trunk: a call that fails without the far end ever ringing, with a trunk's own failure
(no response at all, 5xx, the network refusing), counts against the trunk; after
`trunk_failures` of them in a row the trunk is down: calls are not placed (the attempt is
given back, no try spent) except one probe every `probe_seconds`, and the operator is told
(log, the operations page). Any answer from a phone brings it back up.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings

from fangkong.followup.channels.voice.sip.baresip import RTP_PORTS_PER_LINE, Baresip, Jack
from fangkong.lib import clock

log = logging.getLogger("fangkong.voice")
# Final responses and local errors that say the trunk (not the resident's phone) failed.
_TRUNK_TROUBLE = re.compile(r"^(401|403|407|408|500|502|503|504)\b|refused|unreachable|"
                            r"timed? ?out|no route|network|registration|invalid argument",
                            re.IGNORECASE)


def trunk_trouble(reason: str, *, rang: bool) -> bool:
    """True when a call that never rang failed in a way that blames the trunk: no answer
    from it, its own failure (5xx), refused credentials (401, 407) or a refusal before any
    phone rang (403: no credit, a caller ID or address it does not allow), or the network
    refusing to carry the INVITE at all."""
    return not rang and bool(_TRUNK_TROUBLE.search(reason.strip()))


@dataclass(frozen=True)
class SipConfig:
    trunk: str  # host[:port]
    user: str = "fangkong"
    display_name: str = ""
    password: str = ""
    register: bool = False
    lines: int = 8
    calls_per_second: float = 5.0
    ring_seconds: float = 30.0
    port_base: int = 21000
    trunk_failures: int = 3
    probe_seconds: float = 30.0
    register_seconds: float = 15.0  # how long the lines wait for their registration
    listen: str = ""  # local address for SIP and RTP; "" = loopback for a trunk on this
    # machine, every interface (0.0.0.0) otherwise
    keep_log: bool = False  # keep baresip's own logs (they name the numbers dialled)
    folder: Path = field(default_factory=lambda: Path(settings.VAR_DIR) / "voice")

    @classmethod
    def from_settings(cls, **changes) -> SipConfig:  # noqa: ANN003
        values = dict(trunk=settings.SIP_TRUNK, user=settings.SIP_USER,
                      display_name=settings.SIP_DISPLAY_NAME, password=settings.SIP_PASSWORD,
                      register=settings.SIP_REGISTER, lines=settings.SIP_LINES,
                      calls_per_second=settings.SIP_CALLS_PER_SECOND,
                      ring_seconds=settings.SIP_RING_SECONDS,
                      port_base=settings.SIP_PORT_BASE,
                      trunk_failures=settings.SIP_TRUNK_FAILURES,
                      listen=settings.SIP_LISTEN_ADDRESS, keep_log=settings.SIP_DEBUG_LOG)
        values.update(changes)
        return cls(**values)

    @property
    def host(self) -> str:
        return re.sub(r"^sips?:", "", self.trunk.strip()).strip("/")

    def listen_address(self) -> str:
        """Where the lines bind: as configured, else loopback when the trunk is on this
        machine (a socket bound to 127.0.0.1 cannot reach another host) and every
        interface otherwise."""
        if self.listen:
            return self.listen
        name = self.host.rsplit(":", 1)[0].strip("[]") if self.host.count(":") <= 1 \
            else self.host.strip("[]")
        try:
            loopback = ipaddress.ip_address(socket.gethostbyname(name)).is_loopback
        except (OSError, ValueError):
            loopback = False
        return "127.0.0.1" if loopback else "0.0.0.0"  # noqa: S104 - a trunk elsewhere

    def dial_uri(self, number: str) -> str:
        digits = re.sub(r"[^0-9+*#]", "", number)
        return f"sip:{digits}@{self.host}"

    def account(self) -> str:
        name = self.display_name.replace('"', "")
        aor = f"<sip:{self.user}@{self.host}>"
        params = [f"regint={3600 if self.register else 0}"]
        if self.password:
            params += [f"auth_user={self.user}", f"auth_pass={self.password}"]
        return (f'"{name}" ' if name else "") + aor + ";" + ";".join(params)


@dataclass
class LineState:
    state: str = "idle"  # idle | ringing | talking | restarting
    since: datetime | None = None
    busy: bool = False
    generation: int = 0  # JACK's generation the line's process was started in


class Promise:
    """Lines promised to one claim of the line machine, given back one by one as its calls
    take their lines (or end without one), so free lines are counted once."""

    def __init__(self, lines: Lines, count: int) -> None:
        self.lines, self.left, self._lock = lines, count, threading.Lock()
        lines.promise(count)

    def settle(self, count: int = 1) -> None:
        with self._lock:
            count = min(count, self.left)
            self.left -= count
        if count:
            self.lines.unpromise(count)

    def settle_all(self) -> None:
        self.settle(self.left)


class Lines:
    def __init__(self, config: SipConfig, *, silence: Path, name: str = "lines") -> None:
        self.config = config
        self.folder = Path(config.folder) / name
        self.jack = Jack(f"fk-{name}-{config.port_base}", self.folder / "jack")
        self._lines = [
            Baresip(self.folder / f"line{i:03d}", sip_port=config.port_base + 4 * i,
                    ctrl_port=config.port_base + 4 * i + 2,
                    rtp_port=config.port_base + 1000 + RTP_PORTS_PER_LINE * i,
                    account=config.account(), jack=self.jack, source=silence,
                    listen=config.listen_address(), keep_log=config.keep_log)
            for i in range(config.lines)]
        self.states = [LineState() for _ in self._lines]
        self._free = threading.Condition()
        self.promised = 0  # lines claimed work will need, not taken yet (see Promise)
        self.stopping = False  # shutting down: a dead line is not started again
        self._generation = 0  # JACK's restarts: a line older than JACK is restarted
        self._pace = threading.Lock()
        self._next_dial = 0.0
        self.restarts = 0
        # The trunk's health.
        self._trunk = threading.Lock()
        self.trunk_up = True
        self.trunk_detail = ""
        self.trunk_down_since: datetime | None = None
        self._failures = 0
        self._last_probe = 0.0

    # -- processes ----------------------------------------------------------------------

    def start(self) -> None:
        """Start JACK and every line; on a failure, stop what was started and raise."""
        _warn_about_ports(self.config)
        self.jack.start()
        try:
            for line in self._lines:
                line.start()
        except Exception:
            self.stop()
            raise
        if self.config.register:
            self.registered(self.config.register_seconds)

    def registered(self, timeout: float = 15.0) -> bool:
        """Wait until every line's registration with the trunk is accepted. One that is
        not counts as a trunk failure, worded for the operations page."""
        deadline = time.monotonic() + timeout
        waiting = [line for line in self._lines if not line.wait_registered(deadline)]
        if waiting:
            detail = f"registration with {self.config.host} failed for {len(waiting)} lines"
            log.error("%s: check FANGKONG_SIP_USER and FANGKONG_SIP_PASSWORD", detail)
            for _ in range(self.config.trunk_failures):
                self.trunk_result(detail, rang=False, answered=False)
            return False
        return True

    def stop(self) -> None:
        self.stopping = True
        for line in self._lines:
            line.stop()
        self.jack.stop()

    def line(self, index: int) -> Baresip:
        return self._lines[index]

    def pids(self) -> list[int]:
        return [line.process.pid for line in self._lines if line.process is not None]

    def supervise(self) -> None:
        """Start again what died: JACK (and then every line, each once it is idle), and
        idle dead lines. A busy line is restarted when its call gives it back."""
        if self.stopping:
            return
        if not self.jack.alive():
            log.error("JACK died: restarting it, then every line")
            self.jack.stop()
            self.jack.start()
            with self._free:
                self._generation += 1
        with self._free:
            dead = [i for i, line in enumerate(self._lines)
                    if not self.states[i].busy and (
                        not line.alive() or self.states[i].generation != self._generation)]
            for index in dead:
                self.states[index] = LineState("restarting", clock.now(), True,
                                               self._generation)
        for index in dead:
            self._restart(index)

    def _restart(self, index: int) -> None:
        """Start a line's process again, outside the lock (it takes seconds); the line is
        marked busy meanwhile, so no call takes it."""
        line = self._lines[index]
        log.warning("line %d: its baresip process died; starting it again", index)
        line.stop()
        try:
            if not self.stopping:
                line.start()
                self.restarts += 1
        except Exception:  # noqa: BLE001 - tried again at the next supervision
            log.exception("line %d did not start again", index)
        with self._free:
            self.states[index] = LineState(generation=self._generation)
            self._free.notify_all()

    # -- lines --------------------------------------------------------------------------

    def _usable(self, index: int) -> bool:
        state = self.states[index]
        return (not state.busy and state.generation == self._generation
                and self._lines[index].alive())

    def idle(self) -> int:
        with self._free:
            return sum(1 for i in range(len(self._lines)) if self._usable(i))

    def free(self) -> int:
        """Idle lines that no claim has been promised."""
        with self._free:
            return sum(1 for i in range(len(self._lines)) if self._usable(i)) - self.promised

    def promise(self, count: int) -> None:
        with self._free:
            self.promised += count

    def unpromise(self, count: int) -> None:
        with self._free:
            self.promised = max(self.promised - count, 0)

    def busy(self) -> int:
        with self._free:
            return sum(1 for s in self.states if s.busy)

    def acquire(self, timeout: float | None = None) -> int | None:
        """An idle living line, marked busy; None after `timeout` without one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._free:
            while True:
                for index, state in enumerate(self.states):
                    if self._usable(index):
                        state.busy, state.state, state.since = True, "idle", clock.now()
                        return index
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._free.wait(timeout=1.0 if remaining is None else min(remaining, 1.0))

    def release(self, index: int) -> None:
        """Give a line back; one whose process died (or that belongs to a JACK that was
        restarted) is started again first."""
        with self._free:
            stale = (not self._lines[index].alive()
                     or self.states[index].generation != self._generation)
            if stale and not self.stopping:
                self.states[index] = LineState("restarting", clock.now(), True,
                                               self._generation)
            else:
                self.states[index] = LineState(generation=self._generation)
                self._free.notify_all()
                return
        self._restart(index)

    def mark(self, index: int, state: str) -> None:
        with self._free:
            current = self.states[index]
            if current.state != state:
                current.state, current.since = state, clock.now()

    def live(self) -> list[dict]:
        with self._free:
            return [{"line": i, "state": s.state,
                     "since": s.since.isoformat() if s.since else ""}
                    for i, s in enumerate(self.states)
                    if s.busy and s.state in ("ringing", "talking")]

    def pace(self) -> None:
        """Wait for this call's turn at the dialling rate."""
        gap = 1.0 / max(self.config.calls_per_second, 0.01)
        with self._pace:
            now = time.monotonic()
            start = max(now, self._next_dial)
            self._next_dial = start + gap
        if start > now:
            time.sleep(start - now)

    # -- the trunk ----------------------------------------------------------------------

    def may_dial(self) -> bool:
        """True when a call may be placed: the trunk is up, or it is time for a probe."""
        with self._trunk:
            if self.trunk_up:
                return True
            if time.monotonic() - self._last_probe >= self.config.probe_seconds:
                self._last_probe = time.monotonic()
                return True
            return False

    def probe_due(self) -> bool:
        with self._trunk:
            return self.trunk_up or (
                time.monotonic() - self._last_probe >= self.config.probe_seconds)

    def trunk_result(self, reason: str, *, rang: bool, answered: bool) -> None:
        """Count a call's ending for or against the trunk."""
        with self._trunk:
            if answered or rang or not trunk_trouble(reason, rang=rang):
                if not self.trunk_up:
                    log.warning("SIP trunk %s is up again", self.config.host)
                self.trunk_up, self._failures = True, 0
                self.trunk_down_since = None
                return
            self._failures += 1
            self.trunk_detail = reason[:200]
            if self.trunk_up and self._failures >= self.config.trunk_failures:
                self.trunk_up = False
                self.trunk_down_since = clock.now()
                self._last_probe = time.monotonic()
                log.error("SIP trunk %s is down (%s): calls are paused, their attempts given "
                          "back; probing every %.0f s", self.config.host, reason,
                          self.config.probe_seconds)


def ports_used(config: SipConfig) -> tuple[int, int]:
    """The lowest and highest local port the lines of `config` bind."""
    return config.port_base, config.port_base + 1000 + RTP_PORTS_PER_LINE * config.lines


def _warn_about_ports(config: SipConfig) -> None:
    """Ports in the kernel's ephemeral range may be taken at random by outgoing
    connections (the database's, say), and a line would then fail to start."""
    low, high = ports_used(config)
    try:
        first, last = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return
    if high >= first and low <= last:
        log.warning("the lines' ports %d-%d overlap the ephemeral ports %d-%d: set "
                    "FANGKONG_SIP_PORT_BASE lower (e.g. 21000)", low, high, first, last)
