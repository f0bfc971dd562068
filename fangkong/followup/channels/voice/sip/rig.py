"""A telephone network on 127.0.0.1, for the SIP tests, the voice benchmark and an operator
trying a line machine without a carrier.

    rig = Rig(folder, port=25060)
    rig.start()                                   # Kamailio as the carrier
    phone = rig.phone("13800000001", keys=[(1.0, "2")])   # answers, presses 2 after 1 s
    rig.phone("13800000002", answer=False)        # rings until the caller gives up
    ... the robot dials sip:<number>@127.0.0.1:25060 ...
    rig.stop()                                    # kills everything it started, by PID

The carrier is Kamailio (Debian's `kamailio`): phones register with it under their
number and calls to a number are routed to its phone; a number nobody registered gets
"404 Not Found". Numbers starting 1990486 get "486 Busy Here", 1990603 "603 Decline",
1990503 "503 Service Unavailable" (a failing trunk), as a carrier's switch would answer.
The phones are baresip processes with auto-answer that play a WAV as their microphone
(`voice`) and press keys through their own control socket (`sndcode`) on a script timed
from the moment they answer.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fangkong.followup.channels.voice.sip.baresip import (
    RTP_PORTS_PER_LINE,
    Baresip,
    EngineError,
    Jack,
    stop_process,
)

log = logging.getLogger("fangkong.voice")
# A short questionnaire for calls to the rig's phones (tests, `bench voice`): short
# prompts keep a call to a few seconds. The keys a phone presses to answer it:
# no fever (one key), or a fever of 38.5 typed and confirmed (six keys).
SHORT_QUESTIONNAIRE = {
    "questions": [
        {"key": "fever", "kind": "yes_no", "label": "今天有没有发烧？",
         "voice": "发烧按1，没有按2。"},
        {"key": "temperature", "kind": "temperature", "label": "体温",
         "voice": "请输入体温，按井号。", "when": {"fever": True}},
    ],
    "rules": [
        {"key": "fever", "kind": "threshold", "question": "temperature", "op": ">=",
         "value": "37.3", "severity": "high", "title": "发热", "deadline_minutes": 120},
    ],
}
KEYS_NO_FEVER = [(0.6, "2")]
KEYS_FEVER = [(0.6, "1"), (0.4, "385#"), (0.4, "1")]
BUSY, DECLINE, TRUNK_FAULT = "1990486", "1990603", "1990503"
KAMAILIO_MODULES = ("/usr/lib/x86_64-linux-gnu/kamailio/modules/",
                    "/usr/lib/aarch64-linux-gnu/kamailio/modules/",
                    "/usr/lib/kamailio/modules/")

KAMAILIO_CFG = """#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children={children}
listen=udp:{host}:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_mode", 0)
modparam("tm", "fr_inv_timer", 120000)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{ save("location"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    t_check_trans();
    if ($rU =~ "^{busy}") {{ sl_send_reply("486", "Busy Here"); exit; }}
    if ($rU =~ "^{decline}") {{ sl_send_reply("603", "Decline"); exit; }}
    if ($rU =~ "^{fault}") {{ sl_send_reply("503", "Service Unavailable"); exit; }}
    if (is_method("INVITE")) {{ record_route(); }}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"""


@dataclass
class Phone:
    """A resident's phone in the rig. `keys`: (seconds after answering, keys) to press,
    one key every `key_gap` seconds; `pressed` counts the keys it sent."""

    number: str
    engine: Baresip
    keys: list[tuple[float, str]] = field(default_factory=list)
    key_gap: float = 0.25
    pressed: int = 0
    answered: int = 0
    thread: threading.Thread | None = None

    def watch(self) -> None:
        self.thread = threading.Thread(target=self._run, name=f"phone-{self.number}",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        control = self.engine.control
        while control is not None and not control.closed.is_set():
            event = control.events.get()
            if event.type == "CONTROL_CLOSED":
                return
            if event.type == "CALL_ESTABLISHED":
                self.answered += 1
                threading.Thread(target=self._press, daemon=True).start()

    def _press(self) -> None:
        began = time.monotonic()
        for at, keys in self.keys:
            time.sleep(max(began + at - time.monotonic(), 0))
            for key in keys:
                try:
                    self.engine.control.command("sndcode", key)
                    self.pressed += 1
                except Exception:  # noqa: BLE001 - the call ended: stop pressing
                    return
                time.sleep(self.key_gap)


class Rig:
    def __init__(self, folder: Path, *, port: int = 25060, phone_ports: int = 26000,
                 children: int = 4, host: str = "127.0.0.1") -> None:
        self.folder = Path(folder)
        self.host = host  # the carrier's and the phones' address
        self.port, self.phone_ports, self.children = port, phone_ports, children
        self.kamailio: subprocess.Popen | None = None
        self.jack = Jack(f"fk-rig-{port}", self.folder / "jack")
        self.phones: dict[str, Phone] = {}
        self._silence: Path | None = None

    @property
    def trunk(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.start_carrier()
        self.jack.start()

    def start_carrier(self) -> None:
        kamailio = shutil.which("kamailio")
        if kamailio is None:
            raise EngineError("kamailio is not installed (apt-get install kamailio)")
        modules = next((m for m in KAMAILIO_MODULES if Path(m).is_dir()), KAMAILIO_MODULES[0])
        config = self.folder / "kamailio.cfg"
        config.write_text(KAMAILIO_CFG.format(host=self.host, port=self.port, modules=modules,
                                              children=self.children, busy=BUSY,
                                              decline=DECLINE, fault=TRUNK_FAULT))
        log_file = (self.folder / "kamailio.log").open("ab")
        self.kamailio = subprocess.Popen(  # noqa: S603
            [kamailio, "-f", str(config), "-D", "-E", "-m", "64", "-M", "8",
             "-P", str(self.folder / "kamailio.pid")],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        log_file.close()
        time.sleep(0.5)
        if self.kamailio.poll() is not None:
            raise EngineError(f"kamailio exited: see {self.folder / 'kamailio.log'}")

    def stop_carrier(self) -> None:
        """The carrier goes down (a trunk outage); `start_carrier` brings it back (the
        phones must register again: `reregister`)."""
        stop_process(self.kamailio, wait=5)
        self.kamailio = None

    def silence(self) -> Path:
        if self._silence is None:
            path = self.folder / "silence.wav"
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16",  # noqa: S603,S607
                            str(path), "trim", "0", "3600"], check=True, capture_output=True)
            self._silence = path
        return self._silence

    def phone(self, number: str, *, answer: bool = True, voice: Path | None = None,
              keys: list[tuple[float, str]] | None = None, key_gap: float = 0.25,
              record: bool = False) -> Phone:
        """Start a phone registered under `number` and wait for its registration.
        `record`: keep what it hears (`engine.recordings`), for a test to listen to."""
        index = len(self.phones)
        params = "regint=3600" + (";answermode=auto" if answer else ";answermode=manual")
        engine = Baresip(self.folder / f"phone-{number}",
                         sip_port=self.phone_ports + 4 * index,
                         ctrl_port=self.phone_ports + 4 * index + 2,
                         rtp_port=self.phone_ports + 2000 + RTP_PORTS_PER_LINE * index,
                         account=f"<sip:{number}@{self.trunk}>;{params}",
                         jack=self.jack, source=voice or self.silence(), record=record,
                         listen=self.host, keep_log=True,
                         rtp_timeout=3)
        engine.start()
        if not engine.wait_registered(time.monotonic() + 10):
            raise EngineError("phone did not register with the rig's carrier")
        phone = Phone(number, engine, list(keys or []), key_gap)
        phone.watch()
        self.phones[number] = phone
        return phone

    def reregister(self) -> None:
        for phone in self.phones.values():
            phone.engine.control.command("uareg", "3600")

    def pids(self) -> list[int]:
        pids = [p.engine.process.pid for p in self.phones.values() if p.engine.process]
        if self.kamailio is not None:
            pids.append(self.kamailio.pid)
        if self.jack.process is not None:
            pids.append(self.jack.process.pid)
        return pids

    def stop(self) -> None:
        for phone in self.phones.values():
            phone.engine.stop()
        self.phones.clear()
        self.stop_carrier()
        self.jack.stop()

