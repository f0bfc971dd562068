"""`fangkong lines`: a line machine, the robot's phone lines on a SIP trunk (docs/voice.md)."""

from __future__ import annotations

import shutil
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fangkong.followup.channels.voice import asr


class Command(BaseCommand):
    help = ("Run a line machine: FANGKONG_SIP_LINES phone lines (one baresip each) that call "
            "the residents due a robot call, through the trunk FANGKONG_SIP_TRUNK. Run one "
            "per machine; all share the database.")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--lines", type=int, help="lines on this machine "
                            "(default FANGKONG_SIP_LINES)")
        parser.add_argument("--name", help="this machine's name on the operations page")

    def handle(self, *args, **options) -> None:
        from fangkong.followup.channels.voice.sip.baresip import EngineError
        from fangkong.followup.channels.voice.sip.lines import SipConfig
        from fangkong.followup.channels.voice.sip.machine import LineMachineLoop

        if not settings.SIP_TRUNK:
            raise CommandError("FANGKONG_SIP_TRUNK is not set: give the address of your SIP "
                               "trunk or PBX (host:port); see docs/voice.md")
        changes = {"lines": options["lines"]} if options["lines"] else {}
        config = SipConfig.from_settings(**changes)
        try:
            recogniser = asr.configured()
        except asr.RecogniserError as exc:
            raise CommandError(str(exc)) from exc
        missing = [tool for tool in ("baresip", "jackd", "espeak-ng", "sox")
                   if shutil.which(tool) is None]
        if missing:
            raise CommandError(f"{', '.join(missing)} not installed: apt-get install "
                               "baresip-core jackd2 espeak-ng sox")
        self.stdout.write(f"line machine: {config.lines} lines to {config.host} as "
                          f"{config.user}, {config.calls_per_second} calls/s at most")
        self.stdout.write(asr.describe())
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            LineMachineLoop(config, name=options["name"], recogniser=recogniser).run(stop)
        except EngineError as exc:
            raise CommandError(str(exc)) from exc
