"""Passes for the community gates: one per resident (or per household). The QR code of a
pass carries only a signed token of its id and version (`fangkong.passes.tokens`); a new
version (a pass re-issued after a phone was lost) makes the old codes invalid, and a
revoked pass opens nothing.

Only the foundation of the gates is built so far: passes, their tokens and the status
behind them. The guard's page, visitors, the passage log and the device API come next
(issue 5).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fangkong.places.models import Household
from fangkong.residents.models import Resident


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
