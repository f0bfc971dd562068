from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone
from django.utils.translation import gettext as _

from fangkong.audit.models import AuditAction, AuditEvent


def recent_failed_logins(username: str) -> int:
    """Failed logins for `username` within the lockout window (read from the audit log)."""
    since = timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    return AuditEvent.objects.filter(at__gte=since, action=AuditAction.LOGIN_FAILED,
                                     object_label=username[:120]).count()


class LoginForm(AuthenticationForm):
    """Django's login form, with inputs sized and labelled for phones, and a pause after
    too many wrong passwords for one user name (guessing is slowed, not helped)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(
            {"autocomplete": "username", "autocapitalize": "none", "autofocus": True})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})

    def clean(self) -> dict:
        username = (self.cleaned_data.get("username") or "").strip()
        if username and recent_failed_logins(username) >= settings.LOGIN_MAX_FAILURES:
            raise forms.ValidationError(
                _("Too many wrong passwords for this user name. Wait %(minutes)d minutes and "
                  "try again, or ask your community secretary to check your account.")
                % {"minutes": settings.LOGIN_LOCKOUT_MINUTES}, code="locked")
        return super().clean()
