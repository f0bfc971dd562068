from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from fangkong.jobs.dispatch import run_due_jobs, worker_name
from fangkong.jobs.handlers import TICKS, enqueue_periodic
from fangkong.jobs.worker import worker_loop


class Command(BaseCommand):
    help = "Run a background worker (claims due jobs from the database; run several)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--once", action="store_true",
                            help="run the jobs and the due work (follow-up contacts) due "
                                 "now, then exit")

    def handle(self, *args, **options) -> None:
        if options["once"]:
            enqueue_periodic()
            owner = worker_name()
            ran = run_due_jobs(owner=owner, limit=1000)
            handled = 0
            for tick in TICKS:
                while done := tick(owner):
                    handled += done
            self.stdout.write(f"ran {ran} job(s), handled {handled} due item(s)")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        worker_loop(stop)
