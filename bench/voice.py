"""`fangkong bench voice --lines N --calls M`: robot calls over real SIP on this machine.

The rig (fangkong/followup/channels/voice/sip/rig.py) is the far end: Kamailio as the
carrier and one baresip phone per resident called, with auto-answer, pressing keys on a
script (half say "no fever" with one key, half type a fever of 38.5 and confirm it: six
keys). The phones run on the same cores as the lines, so the figures are those of a
machine that also plays every resident.

For each number of lines (`--lines 10,20,40` runs each in turn):
- **warm-up**: one short silent call to every phone first (a phone opens its JACK client
  on its first call; cold phones made the first run slower and lose keys);
- **floor**: the same lines call the same phones with the same prompts, driven by the
  simplest loop that can (a fixed prompt order per script on `SipCall`: no dialogue, no
  answer understanding, no database);
- **product**: a line machine (`LineMachineLoop`, as `fangkong lines` runs it) calls a
  round's contacts from the scratch database (`--db`): claims, the dialogue, recording
  the outcomes and answers, alerts.

Figures per level: calls completed per hour; CPU seconds per call (this process, the line
processes and their JACK server; the phones' CPU is reported apart); DTMF keys lost (keys
the phones pressed that the robot never got: must be 0); answers wrong (must be 0); the
robot's pause before each prompt (p50/p99; "late" above 300 ms). Then the most lines
carried with no key lost, no wrong answer and no late prompt. Target (issue 8): at least
40 lines on this 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import emit, percentile, run_child, say, scratch_environment
from fangkong.followup.channels.voice.sip.rig import (
    KEYS_FEVER,
    KEYS_NO_FEVER,
    SHORT_QUESTIONNAIRE,
)

BENCH = "voice"
TARGET_LINES = 40
LATE_S = 0.3
NO_FEVER = KEYS_NO_FEVER
FEVER = KEYS_FEVER
SPEC = SHORT_QUESTIONNAIRE
PURPOSE = "健康随访"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fangkong bench voice")
    parser.add_argument("--lines", default="10,20,40",
                        help="lines at once; several levels comma-separated")
    parser.add_argument("--calls", type=int, default=0,
                        help="calls per level (default: twice the lines)")
    parser.add_argument("--size", type=int, default=0, help="same as --calls")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="2 lines, 4 calls (CI)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.lines, args.calls = "2", 4
    args.calls = args.calls or args.size
    if args.child:
        return child(args)
    missing = [t for t in ("baresip", "jackd", "kamailio", "espeak-ng", "sox")
               if shutil.which(t) is None]
    if missing:
        say(f"[voice] needs {', '.join(missing)}: apt-get install baresip-core jackd2 "
            "kamailio espeak-ng sox")
        return 1
    with scratch_environment(args.db) as env:
        env = {**env, "FANGKONG_VOICE_CALLS_PER_NUMBER": "1000"}
        child_args = ["--lines", args.lines, "--calls", str(args.calls), "--db", args.db,
                      "--child"]
        return run_child("bench.voice", child_args, env)


def levels(text: str) -> list[int]:
    return sorted({max(int(x), 1) for x in text.split(",") if x.strip()})


def child(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from fangkong.followup.channels.voice.sip.rig import Rig

    folder = Path(tempfile.mkdtemp(prefix="fangkong-bench-voice-"))
    # Every port below the kernel's ephemeral range (32768 on): a port taken at random by
    # an outgoing connection would stop a line or a phone from starting. The phones start
    # at 26000, clear of RabbitMQ's 25672 (the 168th phone once landed on it).
    rig = Rig(folder / "rig", port=24060, phone_ports=26000)
    rig.start()
    results = []
    # One community with a resident for every call of every level.
    city_for(sum(args.calls or 2 * lines for lines in levels(args.lines)))
    try:
        for lines in levels(args.lines):
            calls = args.calls or 2 * lines
            results.append(level(args, rig, folder, lines, calls))
    finally:
        rig.stop()
        shutil.rmtree(folder, ignore_errors=True)
    clean = [r for r in results if r["clean"]]
    best = max((r["lines"] for r in clean), default=0)
    emit(bench=BENCH, metric="max_clean_lines", value=best, unit="lines", db=args.db,
         size=max(levels(args.lines)), target=f">= {TARGET_LINES} lines with 0 keys lost, "
         "0 wrong answers, 0 late prompts", meets_target=best >= TARGET_LINES,
         levels=[r["lines"] for r in results])
    return 0


def level(args, rig, folder: Path, lines: int, calls: int) -> dict:  # noqa: ANN001
    """Both runs at one number of lines; emits their figures."""
    from fangkong.followup.channels.voice.sip.lines import SipConfig
    from fangkong.followup.channels.voice.sip.machine import LineMachineLoop

    numbers = [f"1380{lines:03d}{i:04d}" for i in range(calls)]
    scripts = {n: (FEVER if i % 2 else NO_FEVER) for i, n in enumerate(numbers)}
    say(f"[voice] {lines} lines: starting {calls} phones and {lines} lines ...")
    for number in numbers:
        rig.phone(number, keys=scripts[number])
    config = SipConfig(trunk=rig.trunk, user="02112345", lines=lines, ring_seconds=20,
                       calls_per_second=50, port_base=21000, folder=folder / f"lines{lines}")
    machine = LineMachineLoop(config, name=f"bench-{lines}")
    try:
        machine.lines.start()
        warm_up(machine, numbers, rig)
        floor = floor_run(machine, numbers, scripts, rig)
        for phone in rig.phones.values():
            phone.pressed = 0
        product = product_run(machine, numbers, scripts, rig)
    finally:
        machine.lines.stop()
        for number in numbers:
            rig.phones.pop(number).engine.stop()
    base = dict(bench=BENCH, db=args.db, size=calls, lines=lines)
    emit(metric="calls_per_hour", value=product["per_hour"], unit="1/h",
         floor_value=floor["per_hour"], ratio=floor["per_hour"] / max(product["per_hour"], 1e-9),
         **base)
    emit(metric="cpu_s_per_call", value=product["cpu"], unit="s",
         floor_value=floor["cpu"], ratio=product["cpu"] / max(floor["cpu"], 1e-9),
         phones_cpu_s_per_call=round(product["phones_cpu"], 3), **base)
    emit(metric="dtmf_lost", value=product["lost"], unit="keys", floor_value=floor["lost"],
         target="0 keys lost", meets_target=product["lost"] == 0,
         keys_pressed=product["pressed"], **base)
    emit(metric="answers_wrong", value=product["wrong"], unit="calls", target="0",
         meets_target=product["wrong"] == 0, completed=product["completed"], **base)
    for name in ("p50", "p99"):
        emit(metric=f"prompt_pause_{name}_ms", value=product[name] * 1000, unit="ms",
             floor_value=floor[name] * 1000,
             ratio=product[name] / max(floor[name], 1e-9), **base)
    emit(metric="late_prompts", value=product["late"], unit="prompts",
         floor_value=floor["late"], target=f"0 pauses over {LATE_S * 1000:.0f} ms",
         meets_target=product["late"] == 0, prompts=product["prompts"], **base)
    clean = (product["lost"] == 0 and product["wrong"] == 0 and product["late"] == 0
             and product["completed"] == calls)
    say(f"[voice] {lines} lines: {product['per_hour']:.0f} calls/h (floor "
        f"{floor['per_hour']:.0f}), {product['cpu']:.2f} CPU s/call (floor "
        f"{floor['cpu']:.2f}), keys lost {product['lost']}, wrong {product['wrong']}, "
        f"late prompts {product['late']}/{product['prompts']}")
    return {"lines": lines, "clean": clean}


def _cpu_of(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            continue
    return total


class CpuMeter:
    """CPU seconds of this process, the line processes and their JACK server, and apart
    of the rig's phones."""

    def __init__(self, machine, rig) -> None:  # noqa: ANN001
        self.machine, self.rig = machine, rig

    def read(self) -> tuple[float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        lines = self.machine.lines
        pids = lines.pids() + ([lines.jack.process.pid] if lines.jack.process else [])
        phones = [p.engine.process.pid for p in self.rig.phones.values() if p.engine.process]
        return own.ru_utime + own.ru_stime + _cpu_of(pids), _cpu_of(phones)


def floor_run(machine, numbers: list[str], scripts: dict, rig) -> dict:  # noqa: ANN001
    """The same calls with a fixed prompt order and nothing else."""
    from fangkong.followup.channels.voice.callcontrol import Prompt, Purpose
    from fangkong.followup.channels.voice.sip.call import SipCall

    lines, prompts = machine.lines, machine.prompts
    texts = [("这里是社区：" + PURPOSE, Purpose.GREETING), (SPEC["questions"][0]["voice"],
                                                          Purpose.QUESTION)]
    fever = [(SPEC["questions"][1]["voice"], Purpose.QUESTION),
             ("您的体温是三十八度五，对吗？对请按1，不对请按2。", Purpose.CONFIRM)]
    bye = ("谢谢您的回答，再见。", Purpose.GOODBYE)
    keys = {"lost": 0, "delays": []}
    lock = threading.Lock()
    # Made into sound before the clock starts, as the line machine does for a batch.
    prompts.warm([Prompt.of(*item) for item in (*texts, *fever, bye)])

    def one(number: str) -> int:
        index = lines.acquire()
        try:
            call = SipCall(lines.line(index), prompts, dial_uri=lines.config.dial_uri)
            if call.dial(number, ring_timeout_s=20).status != "answered":
                return 0
            call.play(Prompt.of(*texts[0]))
            call.play(Prompt.of(*texts[1]))
            first = call.listen(timeout_s=8, digits=1)
            if first.text == "1":
                call.play(Prompt.of(*fever[0]))
                call.listen(timeout_s=8)
                call.play(Prompt.of(*fever[1]))
                call.listen(timeout_s=8, digits=1)
            call.play(Prompt.of(*bye))
            call.hangup()
            call.cleanup()
            with lock:
                keys["delays"].extend(call.prompt_delays)
            return call.keys_sent
        finally:
            lines.release(index)

    return _timed(machine, rig, numbers, lambda: _pool(one, numbers, len(lines._lines)),
                  keys)


def warm_up(machine, numbers: list[str], rig) -> None:  # noqa: ANN001
    """One short silent call to every phone before anything is measured: a baresip phone
    opens its JACK client on its first call, which made the first run of a level (the
    floor) slower and lose keys on cold phones."""
    from fangkong.followup.channels.voice.sip.call import SipCall

    lines = machine.lines
    scripts = {n: rig.phones[n].keys for n in numbers}
    for number in numbers:
        rig.phones[number].keys = []

    def one(number: str) -> int:
        index = lines.acquire()
        try:
            call = SipCall(lines.line(index), machine.prompts, dial_uri=lines.config.dial_uri)
            call.dial(number, ring_timeout_s=10)
            time.sleep(0.5)
            call.hangup()
            call.cleanup()
        finally:
            lines.release(index)
        return 0

    _pool(one, numbers, len(lines._lines))
    time.sleep(1.0)
    for number in numbers:
        rig.phones[number].keys = scripts[number]
        rig.phones[number].pressed = 0


def _pool(one, numbers: list[str], width: int) -> int:  # noqa: ANN001
    with ThreadPoolExecutor(max_workers=width) as pool:
        return sum(pool.map(one, numbers))


def _timed(machine, rig, numbers, work, keys) -> dict:  # noqa: ANN001
    meter = CpuMeter(machine, rig)
    cpu0, phones0 = meter.read()
    started = time.perf_counter()
    heard = work()
    seconds = time.perf_counter() - started
    cpu1, phones1 = meter.read()
    pressed = sum(rig.phones[n].pressed for n in numbers)
    delays = keys["delays"]
    return {"per_hour": len(numbers) / seconds * 3600, "cpu": (cpu1 - cpu0) / len(numbers),
            "phones_cpu": (phones1 - phones0) / len(numbers), "pressed": pressed,
            "lost": max(pressed - heard, 0), "p50": percentile(delays, 50) if delays else 0.0,
            "p99": percentile(delays, 99) if delays else 0.0,
            "late": sum(1 for d in delays if d > LATE_S), "prompts": len(delays)}


def product_run(machine, numbers: list[str], scripts: dict, rig) -> dict:  # noqa: ANN001
    """The same calls as a line machine makes them for a round of the scratch database."""
    from fangkong.followup.channels.voice.sip import call as call_module
    from fangkong.followup.models import Contact, ContactState

    round_ = open_round(numbers)
    delays: list[float] = []
    lock = threading.Lock()
    original = call_module.SipCall.cleanup

    def cleanup(self) -> None:  # noqa: ANN001 - gathers the pauses of every call
        with lock:
            delays.extend(self.prompt_delays)
        original(self)

    call_module.SipCall.cleanup = cleanup
    heard0 = machine.transport.keys_heard

    def work() -> int:
        stop = threading.Event()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            claimed = machine.step()
            if not claimed and not any(t.is_alive() for t in machine.threads) and not \
                    Contact.objects.filter(round=round_, state=ContactState.PENDING,
                                           step=0, due_at__isnull=False).exists():
                break
            stop.wait(0.2)
        return machine.transport.keys_heard - heard0

    try:
        figures = _timed(machine, rig, numbers, work, {"delays": delays})
    finally:
        call_module.SipCall.cleanup = original
    wrong = completed = 0
    phone_of = phones_by_resident(numbers)
    for contact in Contact.objects.filter(round=round_):
        number = phone_of[contact.resident_id]
        fever = scripts[number] is FEVER
        answers = {k: v[0] for k, v in contact.answers.items()}
        if contact.state == ContactState.ANSWERED:
            completed += 1
        expected = {"fever": True, "temperature": "38.5"} if fever else {"fever": False}
        if answers != expected:
            wrong += 1
    figures.update(wrong=wrong, completed=completed)
    return figures


_PHONES: dict[int, str] = {}


def phones_by_resident(numbers: list[str]) -> dict[int, str]:
    return dict(_PHONES)


def city_for(calls: int) -> None:
    """A synthetic community with residents enough for `calls` (half of them spare: not
    every resident is active and without a proxy)."""
    from fangkong.synth.city import CitySpec
    from fangkong.synth.load import load_city

    load_city(CitySpec(residents=max(400, 2 * calls), seed=8, districts=1, streets=1,
                       communities=1))


def open_round(numbers: list[str]):  # noqa: ANN201
    """A community with one resident per number, a running campaign calling them now."""
    from fangkong.accounts.models import User
    from fangkong.followup.models import Questionnaire
    from fangkong.followup.rounds import round_open
    from fangkong.followup.services import CampaignInput, campaign_create, campaign_start
    from fangkong.lib import clock
    from fangkong.lib.phone import parse_phone
    from fangkong.places.models import Area, AreaKind
    from fangkong.residents.models import Resident, ResidentStatus, Tag
    from fangkong.residents.personal import PHONE_FIELDS, seal_phone

    community = Area.objects.filter(kind=AreaKind.COMMUNITY).order_by("pk").first()
    secretary, _new = User.objects.get_or_create(
        username="bench-secretary", defaults={"role": "community_secretary", "area": community})
    tag, _new = Tag.objects.get_or_create(slug=f"voice{len(_PHONES)}",  # one per level
                                          defaults={"name": "voice"})
    residents = list(Resident.objects.filter(community=community, status=ResidentStatus.ACTIVE,
                                             proxies__isnull=True)
                     .exclude(tags__slug__startswith="voice").order_by("pk")[:len(numbers)])
    for resident, number in zip(residents, numbers, strict=True):
        for name, value in seal_phone(parse_phone(number)).fields().items():
            setattr(resident, name, value)
        _PHONES[resident.pk] = number
    Resident.objects.bulk_update(residents, PHONE_FIELDS)
    tag.residents.add(*residents)
    questionnaire = Questionnaire.objects.create(name=f"bench voice {len(numbers)}")
    version = questionnaire.versions.create(number=1, spec=SPEC)
    now = clock.now()
    campaign = campaign_create(by=secretary, data=CampaignInput(
        name=f"bench {len(numbers)}", purpose=PURPOSE, area=community, version=version,
        times=[f"{now:%H:%M}"], starts_on=now.date(), round_minutes=120,
        plan=[{"channel": "voice", "at": 0}], quiet_calls=[], quiet_sms=[],
        capacity={"voice": 1000}, proxy_answering=False, target={"tags": [tag.slug]}))
    campaign = campaign_start(by=secretary, campaign=campaign)
    return round_open(campaign=campaign, scheduled_for=now, now=now)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
