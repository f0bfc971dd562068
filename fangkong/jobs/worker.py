"""The worker loop: queue periodic jobs, claim due jobs, run them, sleep when idle."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

from fangkong.jobs.dispatch import run_due_jobs, worker_name
from fangkong.jobs.handlers import TICKS, enqueue_periodic

log = logging.getLogger("fangkong.worker")


def worker_loop(stop: threading.Event, *, owner: str | None = None,
                poll_seconds: float | None = None) -> None:
    """Run until `stop` is set. Safe to run in many processes against one database."""
    owner = owner or worker_name()
    poll = settings.WORKER_POLL_SECONDS if poll_seconds is None else poll_seconds
    log.info("worker %s started", owner)
    while not stop.is_set():
        try:
            close_old_connections()
            enqueue_periodic()
            ran = run_due_jobs(owner=owner, limit=20)
            for tick in TICKS:
                ran += tick(owner)
        except Exception:  # noqa: BLE001 - keep the worker alive through a database blip
            log.exception("worker %s: error while dispatching", owner)
            ran = 0
        if ran == 0:
            stop.wait(poll)
    close_old_connections()
    log.info("worker %s stopped", owner)


def start_embedded_worker() -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=worker_loop, args=(stop,), name="fangkong-worker",
                              kwargs={"owner": worker_name() + ":embedded"}, daemon=True)
    thread.start()
    return thread, stop
