"""Deleting health answers when their purpose has ended (PIPL; GB/T 35273 minimum retention).

A campaign's answers serve its purpose while it runs and for a short while after (alerts
are followed up, tables are reported). `FANGKONG_FOLLOWUP_KEEP_DAYS` after a campaign has
finished, or after a round closed for a running campaign, the answers and the texts of SMS
replies are erased. What the tables count stays: each contact's state, channel and
severity, and the alerts with their title and outcome (not the reason, which quotes the
answer), so the figures of past days still add up but
no longer say what anyone answered.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from fangkong.followup.models import (
    Alert,
    Attempt,
    CallRecording,
    Contact,
    RoundStatus,
    SmsInbound,
)
from fangkong.lib import clock


def answers_purge(*, now: datetime | None = None, batch: int = 20_000) -> dict[str, int]:
    """Erase the answers of rounds closed more than KEEP_DAYS ago (deleting their call
    recordings) and the SMS reply texts received before then. Idempotent; runs daily."""
    now = now or clock.now()
    cutoff = now - timedelta(days=settings.FOLLOWUP_KEEP_DAYS)
    old = Contact.objects.filter(round__status=RoundStatus.CLOSED, round__closes_at__lt=cutoff)
    erased = 0
    while True:
        ids = list(old.exclude(answers={}).values_list("pk", flat=True)[:batch])
        if not ids:
            break
        erased += Contact.objects.filter(pk__in=ids).update(answers={})
    # What a call understood or a gateway said may quote the resident.
    details = Attempt.objects.filter(contact__in=old).exclude(detail="").update(detail="")
    texts = SmsInbound.objects.filter(received_at__lt=cutoff).exclude(
        Q(text="") & Q(reply="")).update(text="", reply="")
    # An alert's reason quotes the answer ("体温 38.2 °C ≥ 37.3 °C"); its title and outcome
    # are what the tables and the resident's history need.
    reasons = Alert.objects.filter(contact__in=old).exclude(reason="").update(reason="")
    # What residents said on the calls goes with the answers it gave (usually long before:
    # recordings are kept FANGKONG_VOICE_RECORDINGS_KEEP_DAYS, see recordings.py).
    recordings = CallRecording.objects.filter(contact__in=old).delete()[0]
    return {"answers": erased, "attempt_details": details, "sms_texts": texts,
            "alert_reasons": reasons, "recordings": recordings}


def number_dials_purge(*, now: datetime | None = None) -> int:
    """Forget robot calls placed more than two days ago: the per-number cap looks back 24
    hours only (`NumberDial`)."""
    from fangkong.followup.models import NumberDial

    now = now or clock.now()
    deleted, _ = NumberDial.objects.filter(at__lt=now - timedelta(hours=48)).delete()
    return deleted
