"""Gates and passes.

- `Pass`: one per resident (or per household). The QR code of a pass carries only a
  signed token of its id and version (`fangkong.passes.tokens`); a new version (a pass
  re-issued after a phone was lost) makes the old codes invalid, and a revoked pass opens
  nothing.
- `Gate`: a community's gate (卡口), with the staff who may scan there (`guards`) and the
  devices (scanner kiosks, temperature terminals) that record passages through the API.
- `GatePolicy`: a community's rules for its gates: opening hours, outings per household,
  visitors, the fever threshold.
- `Passage`: every scan at a gate, passed or refused, with the reason.
- `Visitor`: a person from outside registered at a gate (外来人员登记), with a code of
  their own to scan when they leave.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fangkong.places.models import Area, Household
from fangkong.residents.models import Resident

FEVER_THRESHOLD = Decimal("37.3")


class Pass(models.Model):
    resident = models.OneToOneField(Resident, on_delete=models.CASCADE, null=True, blank=True,
                                    related_name="gate_pass")
    household = models.OneToOneField(Household, on_delete=models.CASCADE, null=True,
                                     blank=True, related_name="gate_pass")
    version = models.PositiveIntegerField(default=1)
    issued_at = models.DateTimeField()
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                  null=True, blank=True, related_name="+")
    expires_on = models.DateField(_("valid until"), null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(_("why revoked"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("pass")
        verbose_name_plural = _("passes")
        constraints = [
            models.CheckConstraint(
                condition=(Q(resident__isnull=False) & Q(household__isnull=True))
                | (Q(resident__isnull=True) & Q(household__isnull=False)),
                name="pass_of_a_resident_or_a_household"),
        ]

    def __str__(self) -> str:
        return f"pass {self.pk} v{self.version}"


class Gate(models.Model):
    community = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="gates")
    name = models.CharField(_("gate name"), max_length=40)
    # The staff who may scan at this gate (guards, volunteers, workers on gate duty).
    guards = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True,
                                    related_name="gates", verbose_name=_("on duty here"))
    active = models.BooleanField(_("in use"), default=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("gate")
        verbose_name_plural = _("gates")
        ordering = ["community_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["community", "name"], name="gate_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class GatePolicy(models.Model):
    """A community's rules at its gates. A community without a row has the defaults:
    always open, no limit on outings, visitors allowed, fever at 37.3 °C, everyone's
    temperature taken."""

    community = models.OneToOneField(Area, on_delete=models.CASCADE,
                                     related_name="gate_policy")
    # Both empty: open day and night. Outside the hours residents may come in, not go out.
    opens_at = models.TimeField(_("opens at"), null=True, blank=True)
    closes_at = models.TimeField(_("closes at"), null=True, blank=True)
    # "One person every two days": 1 outing per 2 days; 0 = no limit.
    outings_per_household = models.PositiveSmallIntegerField(
        _("outings per household"), default=0)
    outing_days = models.PositiveSmallIntegerField(_("every how many days"), default=1)
    visitors_allowed = models.BooleanField(_("visitors allowed"), default=True)
    fever_threshold = models.DecimalField(_("fever from (°C)"), max_digits=3,
                                          decimal_places=1, default=FEVER_THRESHOLD)
    temperature_for_all = models.BooleanField(
        _("take everyone's temperature"), default=True,
        help_text=_("Otherwise only people under health monitoring (yellow) and visitors."))
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("gate policy")
        verbose_name_plural = _("gate policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(opens_at__isnull=True, closes_at__isnull=True)
                | Q(opens_at__isnull=False, closes_at__isnull=False),
                name="gatepolicy_hours_both_or_none"),
            models.CheckConstraint(condition=Q(outing_days__gte=1),
                                   name="gatepolicy_outing_days_positive"),
            models.CheckConstraint(
                condition=Q(fever_threshold__gte=Decimal("36.0"))
                & Q(fever_threshold__lte=Decimal("39.0")),
                name="gatepolicy_threshold_range"),
        ]

    def __str__(self) -> str:
        return f"policy of {self.community_id}"


class GateDevice(models.Model):
    """A scanner kiosk or temperature terminal at one gate. It authenticates with a
    bearer token (`fkg_...`, only its SHA-256 stored, shown once) that can do one thing:
    verify a code and record a passage at its own gate."""

    gate = models.ForeignKey(Gate, on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(_("device name"), max_length=40)
    prefix = models.CharField(max_length=8)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("gate device")
        verbose_name_plural = _("gate devices")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class Visitor(models.Model):
    """A person from outside, registered at a gate. Phone and ID number are sealed with a
    blind index like a resident's. `left_at` is set when their code is scanned going out."""

    community = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    gate = models.ForeignKey(Gate, on_delete=models.PROTECT, related_name="visitors")
    name = models.CharField(_("full name"), max_length=40)
    phone_sealed = models.BinaryField(null=True)
    phone_index = models.CharField(max_length=32, null=True, db_index=True)
    phone_masked = models.CharField(_("phone"), max_length=24, blank=True)
    id_number_sealed = models.BinaryField(null=True)
    id_number_index = models.CharField(max_length=32, null=True, db_index=True)
    id_number_masked = models.CharField(_("ID number"), max_length=24, blank=True)
    came_from = models.CharField(_("coming from"), max_length=60)
    purpose = models.CharField(_("purpose of the visit"), max_length=60)
    host_household = models.ForeignKey(Household, on_delete=models.SET_NULL, null=True,
                                       blank=True, related_name="visitors",
                                       verbose_name=_("visiting household"))
    from_risk_area = models.BooleanField(_("returning from a risk area"), default=False)
    temperature = models.DecimalField(_("temperature"), max_digits=3, decimal_places=1)
    arrived_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                      null=True, blank=True, related_name="+")
    # Handed to home isolation: the resident registered for them and the period begun.
    isolation_resident = models.ForeignKey(Resident, on_delete=models.SET_NULL, null=True,
                                           blank=True, related_name="+")

    class Meta:
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")
        indexes = [models.Index(fields=["community", "arrived_at"], name="visitor_community")]

    def __str__(self) -> str:
        return f"visitor {self.pk}"


class Direction(models.TextChoices):
    IN = "in", pgettext_lazy("gate", "In")
    OUT = "out", pgettext_lazy("gate", "Out")


class Result(models.TextChoices):
    PASSED = "passed", _("Passed")
    REFUSED = "refused", _("Refused")


class Refusal(models.TextChoices):
    """Why a passage was refused (the guard's screen says it in one line)."""

    MALFORMED = "malformed", _("Not a pass code")
    FORGED = "forged", _("Forged code")
    UNKNOWN = "unknown", _("Unknown pass")
    OLD_VERSION = "old_version", _("Old code of a re-issued pass")
    REVOKED = "revoked", _("Pass revoked")
    EXPIRED = "expired", _("Pass expired")
    MOVED_OUT = "moved_out", _("No longer registered")
    OTHER_COMMUNITY = "other_community", _("Lives in another community")
    MAY_NOT_LEAVE = "may_not_leave", _("May not leave (isolation or fever)")
    FEVER = "fever", _("Fever at the gate")
    CLOSED = "closed", _("Outside opening hours")
    OUTINGS_USED = "outings_used", _("Household's outings used up")
    NO_VISITORS = "no_visitors", _("Visitors not allowed")
    REPLAYED = "replayed", _("Code just used")
    ALREADY_LEFT = "already_left", _("Visitor already left")


class Passage(models.Model):
    """One scan at a gate: who (a resident, a visitor, or an unreadable code), in or out,
    the temperature, passed or refused and why, by which guard or device. `client_id` is
    the scanning browser's or device's own id of the scan, so a scan sent again (a queue
    replayed after the network came back) is recorded once."""

    gate = models.ForeignKey(Gate, on_delete=models.PROTECT, related_name="passages")
    community = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    direction = models.CharField(max_length=3, choices=Direction.choices)
    pass_ref = models.ForeignKey(Pass, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="passages")
    resident = models.ForeignKey(Resident, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="passages")
    # The resident's grid and household when scanned: the grid worker's search, and the
    # outings of a household, without a join.
    grid = models.ForeignKey(Area, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")
    household = models.ForeignKey(Household, on_delete=models.SET_NULL, null=True,
                                  blank=True, related_name="+")
    visitor = models.ForeignKey(Visitor, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="passages")
    temperature = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    result = models.CharField(max_length=8, choices=Result.choices)
    refusal = models.CharField(max_length=16, choices=Refusal.choices, blank=True)
    colour = models.CharField(max_length=6, blank=True)  # fangkong.passes.status.Colour
    guard = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                              blank=True, related_name="+")
    device = models.ForeignKey(GateDevice, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    client_id = models.CharField(max_length=40, blank=True)
    received_at = models.DateTimeField()  # later than `at` for a scan queued offline

    class Meta:
        verbose_name = _("passage")
        verbose_name_plural = _("passages")
        indexes = [
            models.Index(fields=["gate", "at"], name="passage_gate_at"),
            models.Index(fields=["community", "at"], name="passage_community_at"),
            models.Index(fields=["grid", "at"], name="passage_grid_at"),
            models.Index(fields=["household", "at"], name="passage_household_at"),
            models.Index(fields=["pass_ref", "at"], name="passage_pass_at"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["gate", "client_id"], condition=~Q(client_id=""),
                                    name="passage_once_per_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.at:%Y-%m-%d %H:%M} {self.result}"
