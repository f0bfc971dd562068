"""Starting, extending and ending isolation periods; ending them when they run out."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from fangkong.accounts.roles import Can, can
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.isolation.models import (
    EndReason,
    IsolationEvent,
    IsolationPeriod,
    PeriodKind,
    PeriodStatus,
)
from fangkong.lib import clock
from fangkong.residents.models import Resident

DEFAULT_DAYS = 14
MAX_DAYS = 60


def _require(by) -> None:  # noqa: ANN001
    if not can(by, Can.HANDLE_ALERTS):
        raise PermissionDenied(_("Your role cannot record isolation periods."))


@transaction.atomic
def isolation_start(*, resident: Resident, kind: str, starts_on: date, reason: str,
                    by, planned_end: date | None = None,  # noqa: ANN001
                    place: str = "") -> IsolationPeriod:
    """Open a period for a resident the caller may see (passed the access gate).
    The planned end defaults to 14 days on; one open period per resident."""
    _require(by)
    errors: dict[str, list[str]] = {}
    if kind not in PeriodKind.values:
        errors["kind"] = [_("Choose home isolation or home health monitoring.")]
    planned_end = planned_end or starts_on + timedelta(days=DEFAULT_DAYS - 1)
    if planned_end < starts_on:
        errors["planned_end"] = [_("The end lies before the start.")]
    elif (planned_end - starts_on).days >= MAX_DAYS:
        errors["planned_end"] = [_("A period lasts at most %(n)d days.") % {"n": MAX_DAYS}]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [_("Say why (for example: close contact, returned from a risk area).")]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            period = IsolationPeriod.objects.create(
                resident=resident, kind=kind, starts_on=starts_on, planned_end=planned_end,
                reason=reason[:200], place=(place or "").strip()[:100], created_by=by)
    except IntegrityError as exc:
        raise ValidationError({"kind": [_("This resident is already in a period: extend or "
                                          "end that one.")]}) from exc
    IsolationEvent.objects.create(period=period, what="started", by=by, at=clock.now(),
                                  detail=f"{starts_on} – {planned_end}")
    _audit(by, period, "started", f"{starts_on} – {planned_end}")
    return period


def _audit(by, period: IsolationPeriod, what: str, detail: str) -> None:  # noqa: ANN001
    audit_record(by=by, action=AuditAction.ISOLATION_CHANGE, object_type="isolation",
                 object_id=period.pk, object_label=period.resident.name,
                 area_path=period.resident.grid.path, changes={what: ["", detail]})


@transaction.atomic
def isolation_extend(*, period: IsolationPeriod, until: date, reason: str,
                     by) -> IsolationPeriod:  # noqa: ANN001
    _require(by)
    locked = IsolationPeriod.objects.select_for_update().get(pk=period.pk)
    if locked.status != PeriodStatus.OPEN:
        raise ValidationError({"planned_end": [_("This period has ended.")]})
    if until <= locked.planned_end:
        raise ValidationError({"planned_end": [_("Choose a day after the planned end.")]})
    if (until - locked.starts_on).days >= MAX_DAYS:
        raise ValidationError({"planned_end": [_("A period lasts at most %(n)d days.")
                                               % {"n": MAX_DAYS}]})
    before = locked.planned_end
    locked.planned_end = until
    locked.save(update_fields=["planned_end"])
    IsolationEvent.objects.create(period=locked, what="extended", by=by, at=clock.now(),
                                  detail=f"{before} → {until}: {reason}"[:200])
    _audit(by, locked, "extended", f"{before} → {until}")
    return locked


@transaction.atomic
def isolation_end(*, period: IsolationPeriod, on: date, end_reason: str, by,  # noqa: ANN001
                  note: str = "") -> IsolationPeriod:
    """End a period early (or record why it ended)."""
    _require(by)
    if end_reason not in EndReason.values:
        raise ValidationError({"end_reason": [_("Choose why the period ends.")]})
    locked = IsolationPeriod.objects.select_for_update().get(pk=period.pk)
    if locked.status != PeriodStatus.OPEN:
        raise ValidationError({"end_reason": [_("This period has ended already.")]})
    if on < locked.starts_on:
        raise ValidationError({"ended_on": [_("The end lies before the start.")]})
    locked.status = PeriodStatus.ENDED
    locked.ended_on = on
    locked.end_reason = end_reason
    locked.save(update_fields=["status", "ended_on", "end_reason"])
    IsolationEvent.objects.create(period=locked, what="ended", by=by, at=clock.now(),
                                  detail=f"{EndReason(end_reason).label} {note}"[:200])
    _audit(by, locked, "ended", f"{on} {end_reason}")
    return locked


def isolation_expire(*, today: date | None = None) -> int:
    """End every open period whose planned end has passed, and tell the grid worker (an
    alert for their information). Idempotent; runs hourly."""
    from fangkong.followup.channels.sms.transport import sms_notify
    from fangkong.followup.notices import notice_raise

    today = today or clock.local_today()
    ended = 0
    due = IsolationPeriod.objects.filter(status=PeriodStatus.OPEN, planned_end__lt=today)
    for period in due.select_related("resident").iterator(chunk_size=500):
        with transaction.atomic():
            updated = IsolationPeriod.objects.filter(pk=period.pk, status=PeriodStatus.OPEN)\
                .update(status=PeriodStatus.ENDED, ended_on=period.planned_end,
                        end_reason=EndReason.COMPLETED)
            if not updated:
                continue
            IsolationEvent.objects.create(period=period, what="expired", at=clock.now(),
                                          detail=str(period.planned_end))
            told = sms_notify(resident=period.resident, key=f"isolation-end-{period.pk}",
                              text=_("Your %(kind)s ended on %(end)s. Thank you for your "
                                     "patience. Reply TD to unsubscribe.") % {
                                  "kind": period.get_kind_display(), "end": period.planned_end})
            notice_raise(resident=period.resident, title=_("Isolation period ended"),
                         reason=_("%(kind)s %(start)s – %(end)s ended as planned; resident "
                                  "told by SMS: %(told)s.") % {
                             "kind": period.get_kind_display(), "start": period.starts_on,
                             "end": period.planned_end, "told": _told(told)})
            ended += 1
    return ended


def _told(result: str) -> str:
    """sms_notify's result in words for the grid worker."""
    words = {"sent": pgettext("sms", "sent"), "no gateway": _("no SMS gateway is set up"),
             "no mobile": _("no mobile number"), "opted out": _("the resident unsubscribed")}
    return str(words.get(result, _("not sent (%(reason)s)") % {"reason": result}))
