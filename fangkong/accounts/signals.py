"""Failed logins go to the audit log (brute force and shared passwords show up there)."""

from __future__ import annotations

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record, client_ip


@receiver(user_login_failed)
def record_failed_login(sender, credentials, request=None, **kwargs) -> None:  # noqa: ANN001
    username = str(credentials.get("username", ""))[:150]
    audit_record(by=None, action=AuditAction.LOGIN_FAILED, object_type="user",
                 object_label=username,
                 ip=client_ip(request) if request is not None else None)
