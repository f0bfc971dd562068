"""Errands (代购, 跑腿, 维修) for residents who cannot go out, and the volunteers who run
them.

An errand belongs to a resident and carries the area columns of their grid (a community's
queue is one indexed equality). Its status moves only along `TRANSITIONS` (services), and
every change is kept in `ErrandEvent`. Medicine is asked for in structured lines
(`ErrandItem`: name, strength, quantity, prescription); batching groups the lines of open
errands by the pharmacy or supplier they are bought at. Garbage pickups are a standing
service of a household, collected on a daily round per building at a fixed time.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fangkong.places.models import Area, Building, Household, ScopedToGrid
from fangkong.residents.models import Resident


class ErrandKind(models.TextChoices):
    GROCERIES = "groceries", _("Groceries")
    MEDICINE = "medicine", _("Medicine")
    GARBAGE = "garbage", _("Garbage")
    REPAIR = "repair", _("Repair")
    OTHER = "other", pgettext_lazy("errand", "Other")


class Urgency(models.TextChoices):
    URGENT = "urgent", _("Urgent (within 2 hours)")
    TODAY = "today", _("Today")
    NORMAL = "normal", _("Within a day")


# Most urgent first: the queue orders by this rank, then by waiting time.
URGENCY_RANK = {Urgency.URGENT: 0, Urgency.TODAY: 1, Urgency.NORMAL: 2}


class Payment(models.TextChoices):
    RESIDENT = "resident", _("Paid by the resident")
    ACCOUNT = "account", _("On account (settled later)")
    FREE = "free", _("Free")


class ErrandStatus(models.TextChoices):
    NEW = "new", pgettext_lazy("errand", "New")
    ASSIGNED = "assigned", pgettext_lazy("errand", "Assigned")
    BUYING = "buying", _("Buying")
    DELIVERING = "delivering", _("On the way")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", pgettext_lazy("errand", "Cancelled")
    FAILED = "failed", pgettext_lazy("errand", "Could not be done")


OPEN = (ErrandStatus.NEW, ErrandStatus.ASSIGNED, ErrandStatus.BUYING,
        ErrandStatus.DELIVERING)
CLOSED = (ErrandStatus.DELIVERED, ErrandStatus.CANCELLED, ErrandStatus.FAILED)


class Source(models.TextChoices):
    RESIDENT = "resident", _("The resident, on their page")
    PROXY = "proxy", _("Their proxy, on the resident's page")
    SMS = "sms", _("By SMS")
    PHONE = "phone", _("A worker, after a phone call")
    VISIT = "visit", _("A worker, at a door visit")


class Errand(ScopedToGrid):
    resident = models.ForeignKey(Resident, on_delete=models.PROTECT, related_name="errands")
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="errands")
    kind = models.CharField(_("kind"), max_length=10, choices=ErrandKind.choices)
    details = models.TextField(_("what is needed"), max_length=1000, blank=True)
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices,
                               default=Urgency.NORMAL)
    urgency_rank = models.PositiveSmallIntegerField(default=2)  # URGENCY_RANK, for the queue
    preferred_time = models.CharField(_("preferred time"), max_length=60, blank=True)
    payment = models.CharField(_("payment"), max_length=8, choices=Payment.choices,
                               default=Payment.RESIDENT)
    # Where it is bought (a pharmacy, a supermarket): the batching groups by it.
    supplier = models.CharField(_("where to buy"), max_length=60, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=ErrandStatus.choices,
                              default=ErrandStatus.NEW)
    source = models.CharField(_("asked by"), max_length=8, choices=Source.choices)
    # Marked in the queue: an elderly person living alone, a household in isolation.
    vulnerable = models.BooleanField(default=False)
    isolated = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField()
    due_at = models.DateTimeField()  # by urgency; past it an open errand is overdue
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="errands")
    assigned_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)  # the helper took it on
    closed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(_("why it could not be done"), max_length=200,
                                      blank=True)
    # The resident tells the helper this code at the door (contactless hand-over).
    handover_code = models.CharField(max_length=6)
    handover = models.CharField(max_length=8, blank=True)  # "code" | "photo" | "worker"
    handover_misses = models.PositiveSmallIntegerField(default=0)  # wrong codes typed
    hours = models.DecimalField(_("hours spent"), max_digits=4, decimal_places=1, null=True,
                                blank=True)
    flagged = models.BooleanField(default=False)  # an item asks for an unusual quantity

    class Meta:
        verbose_name = _("errand")
        verbose_name_plural = _("errands")
        indexes = [
            # The community queue: its open errands, most urgent and longest waiting first.
            models.Index(fields=["community", "urgency_rank", "created_at", "id"],
                         name="errand_queue", condition=Q(status__in=["new", "assigned",
                                                                      "buying", "delivering"])),
            models.Index(fields=["assigned_to", "status"], name="errand_helper"),
            models.Index(fields=["resident", "created_at"], name="errand_resident"),
            models.Index(fields=["status", "due_at"], name="errand_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(status="failed") | ~Q(failure_reason=""),
                                   name="errand_failed_with_reason"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


class ErrandItem(models.Model):
    """A line of a shopping list; medicine lines carry strength and prescription."""

    errand = models.ForeignKey(Errand, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(_("item"), max_length=60)
    strength = models.CharField(_("strength"), max_length=30, blank=True)  # "0.25g"
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    unit = models.CharField(_("unit"), max_length=10, blank=True)  # 盒, 瓶, 斤
    prescription = models.BooleanField(_("needs a prescription"), default=False)
    flag = models.CharField(max_length=100, blank=True)  # why the quantity looks wrong

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1) & Q(quantity__lte=999),
                                   name="errand_item_quantity_sane"),
        ]

    def __str__(self) -> str:
        return f"{self.name} × {self.quantity}"


class ErrandEvent(models.Model):
    errand = models.ForeignKey(Errand, on_delete=models.CASCADE, related_name="events")
    # created / assigned / accepted / status / cancelled / failed / delivered / note
    what = models.CharField(max_length=12)
    status = models.CharField(max_length=10, blank=True)  # the status after it
    detail = models.CharField(max_length=200, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                           blank=True, related_name="+")
    by_resident = models.BooleanField(default=False)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.what} {self.at:%Y-%m-%d %H:%M}"


class HandoverPhoto(models.Model):
    """A photo of the delivery left at the door, kept with the errand (a JPEG or PNG of at
    most 3 MB, checked by its bytes)."""

    errand = models.OneToOneField(Errand, on_delete=models.CASCADE, related_name="photo")
    data = models.BinaryField()
    content_type = models.CharField(max_length=20)
    taken_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"photo of errand {self.errand_id}"


class ResidentLinkReset(models.Model):
    """The resident's errands links signed before `reset_at` no longer open their page (a
    link forwarded to a group chat, a proxy who no longer looks after them)."""

    resident = models.OneToOneField(Resident, on_delete=models.CASCADE, primary_key=True,
                                    related_name="errand_link_reset")
    reset_at = models.DateTimeField()
    reset_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                 null=True, related_name="+")

    def __str__(self) -> str:
        return f"links of {self.resident_id} reset {self.reset_at:%Y-%m-%d %H:%M}"


# Volunteers -------------------------------------------------------------------------------


class Skill(models.TextChoices):
    DRIVER = "driver", _("Driver")
    MEDICAL = "medical", _("Medical")
    REPAIR = "repair", _("Repairs")
    LANGUAGE = "language", _("Languages or dialects")


class VolunteerStatus(models.TextChoices):
    APPLIED = "applied", _("Waiting for verification")
    VERIFIED = "verified", _("Verified")
    REFUSED = "refused", pgettext_lazy("volunteer", "Not accepted")
    SUSPENDED = "suspended", _("Suspended")


class Volunteer(models.Model):
    """A person who offered to help a community. The community verifies them; a verified
    volunteer signs in as a staff user with the volunteer role (`user`)."""

    community = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="volunteers")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                null=True, blank=True, related_name="volunteer")
    name = models.CharField(_("full name"), max_length=64)
    phone_sealed = models.BinaryField()
    phone_index = models.CharField(max_length=32, db_index=True)
    phone_masked = models.CharField(max_length=24)
    skills = models.JSONField(_("skills"), default=list, blank=True)  # [Skill]
    availability = models.CharField(_("when they can help"), max_length=200, blank=True)
    note = models.CharField(_("about them"), max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=VolunteerStatus.choices,
                              default=VolunteerStatus.APPLIED)
    applied_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("volunteer")
        verbose_name_plural = _("volunteers")
        ordering = ["community", "name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["community", "phone_index"],
                                    name="volunteer_once_per_community"),
        ]

    def __str__(self) -> str:
        return self.name


# Garbage rounds ---------------------------------------------------------------------------


class GarbageRound(models.Model):
    """A building's daily garbage pickup at a fixed time, by a helper."""

    building = models.OneToOneField(Building, on_delete=models.CASCADE,
                                    related_name="garbage_round")
    community = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+")
    at = models.TimeField(_("pickup time"))
    helper = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                               blank=True, related_name="+", verbose_name=_("collected by"))

    def __str__(self) -> str:
        return f"{self.building} {self.at:%H:%M}"


class GarbageService(models.Model):
    """A household's garbage is collected on its building's round from `starts_on` until
    `ends_on` (empty: until stopped), asked for by an errand of kind garbage."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE,
                                  related_name="garbage_services")
    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="+")
    community = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+")
    errand = models.OneToOneField(Errand, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="garbage_service")
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["building", "ends_on"], name="garbage_building")]
        constraints = [
            models.UniqueConstraint(fields=["household"], condition=Q(ends_on__isnull=True),
                                    name="garbage_one_standing_service"),
        ]

    def __str__(self) -> str:
        return f"{self.household} from {self.starts_on}"


class GarbagePickup(models.Model):
    service = models.ForeignKey(GarbageService, on_delete=models.CASCADE,
                                related_name="pickups")
    day = models.DateField()
    done_at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                           related_name="+")
    missed = models.BooleanField(default=False)  # nobody put it out

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "day"], name="garbage_pickup_once"),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.day}"
