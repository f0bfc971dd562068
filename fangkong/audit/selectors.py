"""Reads of the audit log, scoped to the reader's area."""

from __future__ import annotations

from django.db.models import QuerySet

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import path_scope_q
from fangkong.audit.models import AuditEvent


def audit_events_for_user(user, *, action: str | None = None) -> QuerySet[AuditEvent]:  # noqa: ANN001
    if not can(user, Can.VIEW_AUDIT):
        return AuditEvent.objects.none()
    qs = AuditEvent.objects.filter(path_scope_q(user, "area_path"))
    if action:
        qs = qs.filter(action=action)
    return qs.order_by("-at", "-id")
