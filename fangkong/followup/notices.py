"""Notices: alerts that only inform the grid worker (a period ended, a resident opted out).
They need no response within a deadline; the worker marks them as noted."""

from __future__ import annotations

from fangkong.followup.models import Alert, AlertEvent, AlertKind
from fangkong.lib import clock
from fangkong.residents.models import Resident


def notice_raise(*, resident: Resident, title: str, reason: str = "") -> Alert:
    now = clock.now()
    alert = Alert(resident=resident, kind=AlertKind.NOTICE, severity="low", title=title[:60],
                  reason=reason[:200], assigned_area_id=resident.grid_id, created_at=now)
    alert.copy_scope_from(resident)
    alert.save()
    AlertEvent.objects.create(alert=alert, what="raised", at=now, detail=reason[:200])
    return alert
