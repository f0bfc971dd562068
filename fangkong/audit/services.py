"""Writing to the audit log. Every function here appends; nothing updates or deletes."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from fangkong.audit.models import AuditEvent


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, for the audit log and the rate limits: the connection's,
    or behind a reverse proxy (FANGKONG_BEHIND_PROXY) the last X-Forwarded-For entry,
    the one our proxy added (earlier entries are the client's own claims)."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    by,  # noqa: ANN001 - a user, or None for the system
    action: str,
    object_type: str = "",
    object_id: Any = "",
    object_label: str = "",
    area_path: str = "",
    changes: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one event. Call inside the transaction of the change it records, so that
    the change and its record commit or roll back together."""
    return AuditEvent.objects.create(
        actor_id=getattr(by, "pk", None),
        actor_name=getattr(by, "username", "") or "system",
        actor_role=getattr(by, "role", "") or ("superuser" if getattr(by, "is_superuser", False)
                                                else ""),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_label=object_label[:120],
        area_path=area_path,
        changes=changes or {},
        ip=ip,
    )
