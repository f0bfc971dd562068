"""Staff users: one role and one area each; API tokens for integrations."""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from fangkong.places.models import Area


class Role(models.TextChoices):
    ADMIN = "admin", _("City/district administrator")
    STREET_OFFICER = "street_officer", _("Street officer")
    COMMUNITY_SECRETARY = "community_secretary", _("Community secretary")
    COMMUNITY_WORKER = "community_worker", _("Community worker")
    GRID_WORKER = "grid_worker", _("Grid worker")
    GATE_GUARD = "gate_guard", _("Gate guard")
    VOLUNTEER = "volunteer", _("Volunteer")


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=24, choices=Role.choices, blank=True)
    area = models.ForeignKey(Area, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="staff", verbose_name=_("area"))
    full_name = models.CharField(_("full name"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_unique_username_any_case"),
        ]

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class ApiToken(models.Model):
    """A bearer token for an integration, acting as its user with the user's scope.

    Only a SHA-256 hash is stored; the token is shown once when created.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=64)
    prefix = models.CharField(max_length=8, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
