"""Alerts after they are raised: resolving them, and escalating the overdue up the tree."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from fangkong.accounts.roles import Can, can
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.followup.models import Alert, AlertEvent, AlertOutcome, AlertStatus
from fangkong.lib import clock
from fangkong.places.models import Area, AreaKind

# Up to which kind of area an overdue alert climbs (grid -> community -> street).
TOP_KIND = AreaKind.STREET


@transaction.atomic
def alert_resolve(*, alert: Alert, by, outcome: str, note: str = "") -> Alert:  # noqa: ANN001
    """Close an alert with what was done. The caller has passed the access gate; the role
    must be able to handle alerts. Idempotent refusal: a resolved alert stays as it was."""
    if not can(by, Can.HANDLE_ALERTS):
        raise PermissionDenied(_("Your role cannot resolve alerts."))
    if outcome not in AlertOutcome.values:
        raise ValidationError({"outcome": [_("Choose what was done.")]})
    note = (note or "").strip()
    if len(note) > 300:
        raise ValidationError({"note": [_("Keep the note under 300 characters.")]})
    if outcome == AlertOutcome.OTHER and not note:
        raise ValidationError({"note": [_("Say in a few words what was done.")]})
    locked = Alert.objects.select_for_update().get(pk=alert.pk)
    if locked.status == AlertStatus.RESOLVED:
        raise ValidationError({"outcome": [_("This alert was already resolved by someone else.")]})
    now = clock.now()
    locked.status = AlertStatus.RESOLVED
    locked.outcome = outcome
    locked.note = note
    locked.resolved_by = by
    locked.resolved_at = now
    locked.save(update_fields=["status", "outcome", "note", "resolved_by", "resolved_at"])
    AlertEvent.objects.create(alert=locked, what="resolved", by=by, at=now,
                              detail=str(AlertOutcome(outcome).label)[:200])
    audit_record(by=by, action=AuditAction.ALERT_RESOLVE, object_type="alert",
                 object_id=locked.pk, object_label=locked.title,
                 area_path=locked.grid.path, changes={"outcome": ["", outcome]})
    return locked


def alerts_escalate(*, now: datetime | None = None) -> int:
    """Hand each open alert whose deadline has passed to the area above (grid ->
    community -> street), with a new deadline of the same length. Idempotent."""
    now = now or clock.now()
    moved = 0
    overdue = (Alert.objects.filter(status=AlertStatus.OPEN, due_at__lte=now)
               .select_related("assigned_area"))
    for alert in overdue.iterator(chunk_size=500):
        area = alert.assigned_area
        with transaction.atomic():
            if area.kind == TOP_KIND or area.parent_id is None:
                # At the top: it stays overdue there, with no further deadline.
                if Alert.objects.filter(pk=alert.pk, due_at=alert.due_at).update(due_at=None):
                    AlertEvent.objects.create(alert=alert, what="overdue", at=now,
                                              detail=area.name[:200])
                continue
            parent = Area.objects.get(pk=area.parent_id)
            updated = Alert.objects.filter(pk=alert.pk, due_at=alert.due_at).update(
                assigned_area=parent, level=alert.level + 1,
                due_at=now + timedelta(minutes=max(alert.deadline_minutes, 30)))
            if updated:
                AlertEvent.objects.create(alert=alert, what="escalated", at=now,
                                          detail=parent.name[:200])
                moved += 1
    return moved
