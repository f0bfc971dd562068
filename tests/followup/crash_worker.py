"""A `fangkong worker` process for tests/followup/test_worker_crash.py, whose channels
write every message they send to a file.

    python -m tests.followup.crash_worker NAME RECORD_FILE [--stall-after N]
                                          [--ready PATH --go PATH]

runs the real `fangkong worker` command (Django configured from the environment, as in
production) with a transport on web, sms and voice that stands in for the gateways: for
each task it appends "NAME BATCH CHANNEL KEY" to RECORD_FILE (O_APPEND, one line per
message, fsync'd before going on, so a line is on disk before the outcome is reported
back and survives a kill -9), and answers with an outcome that depends only on the task.
Unlike a real gateway it keeps no memory of keys: a message sent twice shows as two lines.

With --stall-after N the "gateway" stops answering right after the Nth message, in the
middle of a batch, so the test can kill the worker while it holds its leases. With
--ready and --go the worker starts up, creates the file READY and waits for the file GO
before it looks for work, so that workers can be let loose at the same moment.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import ExitStack
from pathlib import Path

from fangkong.followup.channels.base import Batch, Result, Task

# One message per task takes this long: a batch lasts long enough for a kill to land in it,
# and far less than the lease the test gives the workers.
SEND_SECONDS = 0.004
# What each channel answers. SMS to a contact with no number, or to one whose id is a
# multiple of 7 (a number not in service), is "invalid", which skips every phone channel.
OUTCOMES = {"sms": "delivered", "voice": "no_answer", "web": "delivered"}


def outcome_for(channel: str, *, contact_id: int, has_phone: bool) -> str:
    """The outcome of one message; the test computes what to expect from the same rule."""
    if channel == "sms" and (not has_phone or contact_id % 7 == 0):
        return "invalid"
    return OUTCOMES[channel]


class RecordingGateway:
    """Transport for every channel: record, pause a little, answer by `outcome_for`."""

    needs_phone = True  # the phone is decrypted, so a wrong data key fails the test

    def __init__(self, *, name: str, record_path: str, stall_after: int | None) -> None:
        self.name = name
        self.fd = os.open(record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.stall_after = stall_after
        self.batches = 0
        self.sent = 0

    def _record(self, channel: str, task: Task) -> None:
        os.write(self.fd, f"{self.name} {self.batches} {channel} {task.key}\n".encode())
        os.fsync(self.fd)
        self.sent += 1

    def send(self, batch: Batch) -> list[Result]:
        self.batches += 1
        results = []
        for task in batch.tasks:
            self._record(batch.channel, task)
            if self.stall_after is not None and self.sent >= self.stall_after:
                time.sleep(3600)  # the gateway hangs: the test kills this worker now
            time.sleep(SEND_SECONDS)
            outcome = outcome_for(batch.channel, contact_id=task.contact_id,
                                  has_phone=bool(task.phone))
            results.append(Result(key=task.key, outcome=outcome, detail="crash test"))
        return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("record")
    parser.add_argument("--stall-after", type=int, default=None)
    parser.add_argument("--ready", type=Path)
    parser.add_argument("--go", type=Path)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    from fangkong.followup.channels import registry

    gateway = RecordingGateway(name=args.name, record_path=args.record,
                               stall_after=args.stall_after)
    with ExitStack() as stack:
        for channel in ("web", "sms", "voice"):
            stack.enter_context(registry.override(channel, gateway))
        if args.ready and args.go:
            args.ready.touch()
            while not args.go.exists():
                time.sleep(0.01)
        call_command("worker")  # returns on SIGTERM, after the pass under way


if __name__ == "__main__":
    main()
