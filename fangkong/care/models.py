"""Care for the workers: the difficulties (困难诉求) staff file, and the care officers
(关爱专员) of each street who hear them.

A difficulty belongs to the staff member who filed it and carries the areas of their
post (district, street, community when they work in one), so handlers and dashboards
find it with one indexed equality. A confidential difficulty is read only by its filer
and the care officers of its street; everyone else sees it only as a count. Every step
(filed, acknowledged, assigned, escalated, resolved, rated, reopened) is kept in
`DifficultyEvent`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fangkong.places.models import Area


class DifficultyKind(models.TextChoices):
    WORK = "work", _("Work")
    HEALTH = "health", _("Health")
    FAMILY = "family", _("Family")
    CHILDCARE = "childcare", _("Childcare")
    TRANSPORT = "transport", _("Transport")
    PROTECTIVE_EQUIPMENT = "ppe", _("Protective equipment")
    PAY = "pay", _("Pay")
    OTHER = "other", _("Other")


class Urgency(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")


class DifficultyStatus(models.TextChoices):
    OPEN = "open", _("Waiting")
    ACKNOWLEDGED = "acknowledged", _("Being handled")
    RESOLVED = "resolved", _("Resolved, waiting for your rating")
    CLOSED = "closed", _("Closed")


# Statuses in which a handler still owes the filer something.
PENDING = (DifficultyStatus.OPEN, DifficultyStatus.ACKNOWLEDGED)


class Level(models.TextChoices):
    """Who holds a difficulty: the community secretary, the street's care officer, or the
    district administrator (after escalation)."""

    COMMUNITY = "community", _("Community secretary")
    STREET = "street", _("Street care officer")
    DISTRICT = "district", _("District administrator")


LEVEL_ORDER = [Level.COMMUNITY, Level.STREET, Level.DISTRICT]


class CareOfficer(models.Model):
    """A staff member designated to hear the difficulties of a street, confidential ones
    included. A street may have several."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="care_posts", verbose_name=_("staff member"))
    street = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="care_officers",
                               verbose_name=_("street"))
    designated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                      null=True, related_name="+")
    designated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("care officer")
        verbose_name_plural = _("care officers")
        constraints = [
            models.UniqueConstraint(fields=["user", "street"], name="care_officer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.street}"


class Difficulty(models.Model):
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="difficulties")
    # The filer's post when filing: its path (for "everything under this area") and the
    # district, street and community above it (community is empty for street staff).
    area_path = models.CharField(max_length=255, db_index=True)
    district = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    street = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(Area, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=DifficultyKind.choices)
    details = models.TextField(_("details"), max_length=1000)
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices,
                               default=Urgency.NORMAL)
    confidential = models.BooleanField(_("confidential"), default=False)
    status = models.CharField(_("status"), max_length=12, choices=DifficultyStatus.choices,
                              default=DifficultyStatus.OPEN)
    level = models.CharField(_("held by"), max_length=10, choices=Level.choices)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")
    filed_at = models.DateTimeField()
    due_at = models.DateTimeField()  # the current deadline for a resolution
    deadline_hours = models.PositiveSmallIntegerField()  # by kind and urgency (services)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")
    resolution = models.CharField(_("what was done"), max_length=500, blank=True)
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    rating_comment = models.CharField(_("comment"), max_length=300, blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)
    times_reopened = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("difficulty")
        verbose_name_plural = _("difficulties")
        ordering = ["-filed_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "due_at"], name="difficulty_due"),
            models.Index(fields=["street", "status"], name="difficulty_street"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="difficulty_rating_1_to_5"),
            models.CheckConstraint(
                condition=~Q(confidential=True, level="community"),
                name="difficulty_confidential_not_at_community"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}"

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING

    @property
    def stars(self) -> str:
        return "★" * (self.rating or 0)


class DifficultyEvent(models.Model):
    difficulty = models.ForeignKey(Difficulty, on_delete=models.CASCADE,
                                   related_name="events")
    # filed / acknowledged / assigned / escalated / resolved / rated / reopened
    what = models.CharField(max_length=12)
    detail = models.CharField(max_length=200, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                           related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.what} {self.at:%Y-%m-%d %H:%M}"
