"""baresip processes: the media engines of the phone lines (and of the test rig's phones).

    jack = Jack("fangkong-lines", folder)            # one JACK server (dummy driver)
    jack.start()
    line = Baresip(folder, sip_port=16000, ctrl_port=17000, account="<sip:...>;regint=0",
                   jack=jack.name)
    line.start()                                     # returns once its control socket answers
    line.control.command("dial", "sip:13800001234@trunk.example.com")

baresip 1.0 (Debian's baresip-core) acts on its current call only, so one process carries
one call: a line is a process. Its audio goes out of a WAV file (the `aufile` source,
switched per prompt) and what it hears is written by the `sndfile` module to
`rec/dump-<time>-dec.wav` (the far end) while the call lasts. The player is JACK's dummy
driver: the ALSA null player busy-loops a core per call. Ports are spaced: baresip binds
its SIP port and the one after it (TCP), and each line gets its own RTP port range.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from fangkong.followup.channels.voice.sip.control import Control, ControlError

log = logging.getLogger("fangkong.voice")
MODULES = "/usr/lib/baresip/modules"
RTP_PORTS_PER_LINE = 10


class EngineError(RuntimeError):
    """baresip or JACK is missing or would not start."""


def _need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise EngineError(f"{program} is not installed (apt-get install baresip-core jackd2 "
                          "espeak-ng sox)")
    return path


class Jack:
    """A JACK server with the dummy driver at 8 kHz, named so that the lines of one
    machine (or the rig's phones) share it without touching anyone else's."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.folder = name, Path(folder)
        self.process: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1",
                "JACK_NO_START_SERVER": "1"}

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _kill_stale(self.folder / "jackd.pid", "jackd")
        log_file = (self.folder / "jackd.log").open("wb")
        # -r: no real-time scheduling (needs no privileges); the dummy driver keeps time.
        self.process = subprocess.Popen(  # noqa: S603
            [_need("jackd"), "-r", "-n", self.name, "-d", "dummy", "-r", "8000", "-p", "160"],
            stdout=log_file, stderr=subprocess.STDOUT, env=self.env(),
            start_new_session=True)
        log_file.close()
        (self.folder / "jackd.pid").write_text(str(self.process.pid))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineError(f"jackd exited: see {self.folder / 'jackd.log'}")
            if self._ready():
                return
            time.sleep(0.1)
        raise EngineError("jackd did not start within 10 s")

    def _ready(self) -> bool:
        # The server's shared-memory segment appears once it accepts clients.
        return any(Path("/dev/shm").glob(f"jack_{self.name}_*"))  # noqa: S108

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


class Baresip:
    def __init__(self, folder: Path, *, sip_port: int, ctrl_port: int, rtp_port: int,
                 account: str, jack: Jack, source: Path, record: bool = True,
                 rtp_timeout: int = 10, listen: str = "127.0.0.1",
                 keep_log: bool = False) -> None:
        self.folder = Path(folder)
        self.sip_port, self.ctrl_port, self.rtp_port = sip_port, ctrl_port, rtp_port
        self.account, self.jack, self.source = account, jack, Path(source)
        self.record = record
        # Seconds without audio from the far end before the call is ended: a peer that
        # died never sends its BYE.
        self.rtp_timeout = rtp_timeout
        # The address SIP and RTP are bound to: loopback reaches only a trunk on this
        # machine; 0.0.0.0 any other.
        self.listen = listen
        # baresip's own log names every number it dials: kept only when asked for.
        self.keep_log = keep_log
        self.process: subprocess.Popen | None = None
        self.control: Control | None = None

    @property
    def recordings(self) -> Path:
        return self.folder / "rec"

    def write_config(self) -> None:
        # The folder holds the account (a password, maybe) and a call's raw audio while it
        # lasts: the owner's only. Audio a crash left behind is deleted here.
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        self.recordings.mkdir(exist_ok=True)
        for stale in self.recordings.glob("dump-*"):
            stale.unlink(missing_ok=True)
        modules = ["g711.so", "aufile.so", "jack.so"] + (["sndfile.so"] if self.record else [])
        lines = [
            "poll_method epoll",
            f"sip_listen {self.listen}:{self.sip_port}",
            "sip_trans_def udp",
            "call_local_timeout 120",
            "call_max_calls 1",
            "audio_player jack,default",
            f"audio_source aufile,{self.source}",
            "audio_alert none,none",
            "ausrc_srate 8000", "auplay_srate 8000",
            "ausrc_channels 1", "auplay_channels 1",
            "auplay_format float",
            "audio_buffer 20-160",
            f"rtp_timeout {self.rtp_timeout}",
            f"rtp_ports {self.rtp_port}-{self.rtp_port + RTP_PORTS_PER_LINE - 1}",
            "jack_connect_ports no",
            f"module_path {MODULES}",
            *(f"module {m}" for m in modules),
            "module_app account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            f"snd_path {self.recordings}",
        ]
        _write_private(self.folder / "config", "\n".join(lines) + "\n")
        _write_private(self.folder / "accounts", self.account + "\n")

    def start(self, *, timeout: float = 10.0) -> None:
        _kill_stale(self.folder / "baresip.pid", "baresip")
        self.write_config()
        log_path = self.folder / "baresip.log"
        log_file = log_path.open("wb") if self.keep_log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(  # noqa: S603
                [_need("baresip"), "-f", str(self.folder)], stdin=subprocess.DEVNULL,
                stdout=log_file, stderr=subprocess.STDOUT, env=self.jack.env(),
                start_new_session=True)
        finally:
            if self.keep_log:
                log_file.close()
                log_path.chmod(0o600)
        (self.folder / "baresip.pid").write_text(str(self.process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineError(f"baresip exited at start ({self.folder}); run with "
                                  "FANGKONG_SIP_DEBUG_LOG=1 and see baresip.log there")
            try:
                self.control = Control(self.ctrl_port, timeout=1.0)
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise EngineError(f"baresip did not open its control port {self.ctrl_port}")

    def registered(self) -> bool:
        """True when baresip says its account's registration was accepted."""
        if self.control is None:
            return False
        try:
            info = self.control.command("reginfo", timeout=2.0)
        except ControlError:
            return False
        return re.search(r"\bOK\b", re.sub(r"\x1b\[[0-9;]*m", "", info)) is not None

    def wait_registered(self, deadline: float) -> bool:
        """Ask until the registration is accepted or `deadline` (time.monotonic()) has
        passed (it may be over before the control socket is connected, so the event
        cannot be waited for)."""
        while True:
            if self.registered():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def alive(self) -> bool:
        return (self.process is not None and self.process.poll() is None
                and self.control is not None and not self.control.closed.is_set())

    def stop(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None
        stop_process(self.process)
        self.process = None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    path.chmod(0o600)


def _kill_stale(pid_file: Path, program: str) -> None:
    """Stop what an earlier run that crashed left running (it holds the ports)."""
    try:
        pid = int(pid_file.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except (OSError, ValueError):
        return
    if Path(command.decode(errors="replace")).name != program:
        return  # the number was reused by another program: not ours
    log.warning("stopping a %s left running by an earlier run (pid %d)", program, pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + 3
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def stop_process(process: subprocess.Popen | None, *, wait: float = 3.0) -> None:
    """Stop a process started in a session of its own, with everything it started: TERM,
    then KILL after `wait` seconds."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait(timeout=wait)
