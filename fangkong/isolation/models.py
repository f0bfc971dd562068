"""Home isolation (居家隔离) and home health monitoring (居家健康监测) periods.

A period belongs to one resident; while it is open the resident is a target of the
campaigns that ask for residents "in isolation" or "in monitoring", and a gate will show
them red or yellow. Every change (start, extension, early end, automatic end) is kept in
`IsolationEvent`, so the history of a period can be read back.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fangkong.residents.models import Resident


class PeriodKind(models.TextChoices):
    ISOLATION = "isolation", _("Home isolation")
    MONITORING = "monitoring", _("Home health monitoring")


class PeriodStatus(models.TextChoices):
    OPEN = "open", _("Under way")
    ENDED = "ended", _("Ended")


class EndReason(models.TextChoices):
    COMPLETED = "completed", _("Period completed")
    EARLY = "early", _("Ended early")
    HOSPITAL = "hospital", _("Sent to hospital")
    MOVED = "moved", _("Moved to a designated site")
    ERROR = "error", _("Recorded by mistake")


class IsolationPeriod(models.Model):
    resident = models.ForeignKey(Resident, on_delete=models.CASCADE,
                                 related_name="isolation_periods")
    kind = models.CharField(_("kind"), max_length=12, choices=PeriodKind.choices)
    starts_on = models.DateField(_("starts on"))
    planned_end = models.DateField(_("planned end"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    end_reason = models.CharField(_("why it ended"), max_length=12, choices=EndReason.choices,
                                  blank=True)
    status = models.CharField(_("status"), max_length=8, choices=PeriodStatus.choices,
                              default=PeriodStatus.OPEN)
    reason = models.CharField(_("reason"), max_length=200)  # "密接", "武汉返回"
    place = models.CharField(_("place"), max_length=100, blank=True)  # "家中", "XX酒店"
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("isolation period")
        verbose_name_plural = _("isolation periods")
        indexes = [models.Index(fields=["status", "planned_end"], name="isolation_due")]
        constraints = [
            models.CheckConstraint(condition=Q(planned_end__gte=F("starts_on")),
                                   name="isolation_end_after_start"),
            # One open period per resident: a second one is an extension or a new kind
            # after the first has ended.
            models.UniqueConstraint(fields=["resident"], condition=Q(status="open"),
                                    name="isolation_one_open_period"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.starts_on}–{self.planned_end}"


class IsolationEvent(models.Model):
    period = models.ForeignKey(IsolationPeriod, on_delete=models.CASCADE, related_name="events")
    what = models.CharField(max_length=12)  # started / extended / ended / expired
    detail = models.CharField(max_length=200, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                           related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.what} {self.at:%Y-%m-%d}"
