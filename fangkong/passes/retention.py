"""Deleting the gates' records when their purpose has ended (PIPL).

The passage log and the visitors' registrations serve tracing: who went in and out, who
visited whom, while an outbreak could still be traced back to that day.
`FANGKONG_GATES_KEEP_DAYS` (30 unless set) after a passage it is deleted; a visitor's
registration (name, phone, ID number, where from) is deleted that long after they left,
or after they arrived when they were never seen leaving. A visitor handed to home
isolation is by then a resident of the registry; their visitor row goes the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from fangkong.lib import clock
from fangkong.passes.models import Passage, Visitor


def keep_days() -> int:
    return int(getattr(settings, "GATES_KEEP_DAYS", 30))


def gates_purge(*, now: datetime | None = None, batch: int = 20_000) -> dict[str, int]:
    """Delete passages and visitors older than the keeping time. Idempotent; runs daily,
    in batches so a city's month of scans does not hold one long transaction."""
    now = now or clock.now()
    cutoff = now - timedelta(days=keep_days())
    passages = 0
    while True:
        ids = list(Passage.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            break
        passages += Passage.objects.filter(pk__in=ids).delete()[0]
    gone = Q(left_at__lt=cutoff) | Q(left_at__isnull=True, arrived_at__lt=cutoff)
    # Their passages went above (they are older still); any left are unlinked by SET_NULL.
    visitors = Visitor.objects.filter(gone).delete()[1].get("passes.Visitor", 0)
    return {"passages": passages, "visitors": visitors}
