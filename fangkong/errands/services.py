"""Writes of errands: asking for one (a resident on their page, their proxy, a worker on
their behalf), assigning a helper, the helper taking it on and moving it along, the
hand-over at the door, cancelling and failing. Every write is atomic, moves only along
`TRANSITIONS`, records an `ErrandEvent`, and refuses with the reason in words a worker
understands. A resident outside the worker's area is refused (PermissionDenied: the
views answer 404, as for every object outside one's area).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fangkong.accounts.models import User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import grid_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.errands.models import (
    OPEN,
    URGENCY_RANK,
    Errand,
    ErrandEvent,
    ErrandItem,
    ErrandKind,
    ErrandStatus,
    GarbageService,
    HandoverPhoto,
    Payment,
    ResidentLinkReset,
    Source,
    Urgency,
    Volunteer,
    VolunteerStatus,
)
from fangkong.errands.selectors import helpers_q_for
from fangkong.isolation.models import IsolationPeriod, PeriodStatus
from fangkong.lib import clock, crypto
from fangkong.lib.fields import clean_text
from fangkong.residents.models import Resident, ResidentStatus

MAX_DETAILS = 1000
MAX_ITEMS = 30
# Per line: above these a line is flagged for the worker to check with the resident (a
# typo, or stockpiling); it is not refused.
SENSIBLE_QUANTITY = {ErrandKind.MEDICINE: 6, ErrandKind.GROCERIES: 30}
SENSIBLE_QUANTITY_OTHER = 20
MAX_PHOTO_BYTES = 3 * 1024 * 1024
# Wrong hand-over codes tried on one errand before only a photo or a worker confirms it.
MAX_CODE_MISSES = 5
# The same request from the same resident within this time is taken as a second tap.
DOUBLE_TAP = timedelta(minutes=2)

# Where each status may go next. Garbage and repairs have nothing to buy: they go from
# assigned straight to "on the way".
TRANSITIONS: dict[str, tuple[str, ...]] = {
    ErrandStatus.NEW: (ErrandStatus.ASSIGNED, ErrandStatus.CANCELLED, ErrandStatus.FAILED),
    ErrandStatus.ASSIGNED: (ErrandStatus.NEW, ErrandStatus.BUYING, ErrandStatus.DELIVERING,
                            ErrandStatus.CANCELLED, ErrandStatus.FAILED),
    ErrandStatus.BUYING: (ErrandStatus.DELIVERING, ErrandStatus.CANCELLED,
                          ErrandStatus.FAILED),
    ErrandStatus.DELIVERING: (ErrandStatus.DELIVERED, ErrandStatus.FAILED),
}
NOTHING_TO_BUY = (ErrandKind.GARBAGE, ErrandKind.REPAIR)


@dataclass
class ItemInput:
    name: str
    quantity: int = 1
    strength: str = ""
    unit: str = ""
    prescription: bool = False


@dataclass
class ErrandInput:
    kind: str
    details: str = ""
    items: list[ItemInput] = field(default_factory=list)
    urgency: str = Urgency.NORMAL
    preferred_time: str = ""
    payment: str = Payment.RESIDENT
    supplier: str = ""


def _text(value: str, *, field_name: str, limit: int, multiline: bool = False) -> str:
    return clean_text(value, field=field_name, limit=limit, multiline=multiline)


def due_at(urgency: str, now: datetime) -> datetime:
    """The deadline of an errand asked for at `now`: 2 hours when urgent, the end of the
    day (at least 4 hours) for today, else a day."""
    if urgency == Urgency.URGENT:
        return now + timedelta(hours=2)
    if urgency == Urgency.TODAY:
        local = timezone.localtime(now)
        end = datetime.combine(local.date(), time(22, 0), tzinfo=local.tzinfo)
        return max(end, now + timedelta(hours=4))
    return now + timedelta(days=1)


def _flag(kind: str, item: ItemInput) -> str:
    limit = SENSIBLE_QUANTITY.get(kind, SENSIBLE_QUANTITY_OTHER)
    if item.quantity > limit:
        return _("%(n)d is more than usual (over %(limit)d): check with the resident.") % {
            "n": item.quantity, "limit": limit}
    return ""


def _clean_items(kind: str, items: list[ItemInput]) -> list[ErrandItem]:
    if len(items) > MAX_ITEMS:
        raise ValidationError({"items": [_("At most %(n)d lines in one request.") % {
            "n": MAX_ITEMS}]})
    rows, errors = [], []
    for n, item in enumerate(items, start=1):
        name = (item.name or "").strip()
        if not name:
            continue
        try:
            name = _text(name, field_name="items", limit=60)
            strength = _text(item.strength, field_name="items", limit=30)
            unit = _text(item.unit, field_name="items", limit=10)
        except ValidationError as exc:
            errors.append(_("Line %(n)d: %(why)s") % {"n": n, "why": " ".join(exc.messages)})
            continue
        if not 1 <= item.quantity <= 999:
            errors.append(_("Line %(n)d: the quantity is a whole number from 1 to 999.") % {
                "n": n})
            continue
        rows.append(ErrandItem(name=name, strength=strength, quantity=item.quantity,
                               unit=unit, prescription=bool(item.prescription),
                               flag=_flag(kind, item)))
    if errors:
        raise ValidationError({"items": errors})
    return rows


def _isolated(resident: Resident) -> bool:
    return IsolationPeriod.objects.filter(resident__household_id=resident.household_id,
                                          status=PeriodStatus.OPEN).exists()


def _event(errand: Errand, what: str, *, by: User | None, detail: str = "",
           by_resident: bool = False) -> None:
    ErrandEvent.objects.create(errand=errand, what=what, status=errand.status, detail=detail,
                               by=by, by_resident=by_resident, at=clock.now())


def may_handle(user, errand: Errand) -> bool:  # noqa: ANN001
    """Workers with the errands capability whose area holds the errand's resident."""
    return (can(user, Can.HANDLE_ERRANDS)
            and Errand.objects.filter(grid_scope_q(user), pk=errand.pk).exists())


@transaction.atomic
def errand_create(*, resident: Resident, data: ErrandInput, source: str,
                  by: User | None = None) -> Errand:
    """Ask for an errand for `resident`: by a worker of their area (`by`, a phone call or
    a door visit), or by the resident or their proxy on the resident's page (`by` None).
    A garbage errand also starts the household's daily pickup. Refused: a resident outside
    the worker's area, one who no longer lives here, an empty request."""
    if by is not None:
        if not can(by, Can.HANDLE_ERRANDS) or not Resident.objects.filter(
                grid_scope_q(by), pk=resident.pk).exists():
            raise PermissionDenied(_("This resident is not in your area."))
        if source not in (Source.PHONE, Source.VISIT):
            raise ValidationError({"source": [_("Say how the request came: a phone call or a "
                                                "door visit.")]})
    elif source not in (Source.RESIDENT, Source.PROXY, Source.SMS):
        raise ValidationError({"source": [_("Unknown source.")]})
    if resident.status != ResidentStatus.ACTIVE:
        raise ValidationError({"__all__": [_("This resident is no longer registered here.")]})
    errors: dict[str, list[str]] = {}
    if data.kind not in ErrandKind.values:
        errors["kind"] = [_("Choose what is needed.")]
    if data.urgency not in Urgency.values:
        errors["urgency"] = [_("Choose how urgent it is.")]
    if data.payment not in Payment.values:
        errors["payment"] = [_("Choose how it is paid.")]
    if errors:
        raise ValidationError(errors)
    details = _text(data.details, field_name="details", limit=MAX_DETAILS, multiline=True)
    items = _clean_items(data.kind, data.items)
    # A medicine request needs its lines (what to buy), except by SMS: free text only, and
    # the worker adds the lines when they call back.
    if data.kind == ErrandKind.MEDICINE and not items and source != Source.SMS:
        raise ValidationError({"items": [_(
            "Write at least one medicine: its name, and the strength and quantity if known.")]})
    if not details and not items and data.kind not in (ErrandKind.GARBAGE,):
        raise ValidationError({"details": [_("Write what is needed.")]})
    now = clock.now()
    if by is None:
        # A second tap on a slow phone (or the same SMS sent twice) asks for nothing new.
        same = (Errand.objects.filter(resident=resident, kind=data.kind, details=details,
                                      source=source, created_at__gte=now - DOUBLE_TAP)
                .order_by("-pk").first())
        if same is not None and same.is_open:
            return same
    vulnerable = resident.tags.filter(vulnerable=True).exists()
    errand = Errand(
        resident=resident, household_id=resident.household_id, kind=data.kind,
        details=details, urgency=data.urgency, urgency_rank=URGENCY_RANK[data.urgency],
        preferred_time=_text(data.preferred_time, field_name="preferred_time", limit=60),
        payment=data.payment,
        supplier=clean_text(data.supplier, field="supplier", limit=60, collapse_spaces=True),
        source=source, vulnerable=vulnerable, isolated=_isolated(resident), created_by=by,
        created_at=now, due_at=due_at(data.urgency, now),
        handover_code=f"{secrets.randbelow(10_000):04d}",
        flagged=any(item.flag for item in items))
    errand.copy_scope_from(resident)
    errand.save()
    for item in items:
        item.errand = errand
    ErrandItem.objects.bulk_create(items)
    _event(errand, "created", by=by, by_resident=by is None,
           detail=Source(source).label if by is None else "")
    if data.kind == ErrandKind.GARBAGE:
        # One standing service per household (a unique index: two requests at once
        # cannot put the household on the round twice).
        try:
            with transaction.atomic():
                GarbageService.objects.get_or_create(
                    household_id=resident.household_id, ends_on=None,
                    defaults={"building_id": resident.household.building_id,
                              "community_id": resident.community_id, "errand": errand,
                              "starts_on": clock.local_today()})
        except IntegrityError:
            pass
    return errand


def _check_open(errand: Errand, to: str) -> None:
    if to not in TRANSITIONS.get(errand.status, ()):
        raise ValidationError({"status": [_(
            "It cannot go from “%(now)s” to “%(to)s”.") % {
            "now": ErrandStatus(errand.status).label, "to": ErrandStatus(to).label}]})


def _locked(errand: Errand) -> Errand:
    fresh = Errand.objects.select_for_update().get(pk=errand.pk)
    for name in ("status", "assigned_to_id", "assigned_at", "accepted_at", "closed_at"):
        setattr(errand, name, getattr(fresh, name))
    return errand


@transaction.atomic
def errand_assign(*, errand: Errand, to: User, by: User) -> Errand:
    """Give an open, not yet started errand to a helper (or to another one)."""
    if not may_handle(by, errand):
        raise PermissionDenied
    errand = _locked(errand)
    if errand.status not in (ErrandStatus.NEW, ErrandStatus.ASSIGNED):
        raise ValidationError({"to": [_(
            "It is already “%(now)s”: it can no longer be given to someone else.") % {
            "now": ErrandStatus(errand.status).label}]})
    if not User.objects.filter(helpers_q_for(errand), pk=to.pk).exists():
        raise ValidationError({"to": [_(
            "%(name)s cannot take it: choose a verified volunteer of the community or a "
            "worker of the resident's grid or community.") % {"name": to.display_name}]})
    errand.status, errand.assigned_to, errand.assigned_at = (ErrandStatus.ASSIGNED, to,
                                                             clock.now())
    errand.accepted_at = None
    errand.save(update_fields=["status", "assigned_to", "assigned_at", "accepted_at"])
    _event(errand, "assigned", by=by, detail=to.display_name)
    return errand


@transaction.atomic
def errand_accept(*, errand: Errand, by: User) -> Errand:
    """The helper takes the errand on: from now until it is closed they see the
    resident's full phone (each look audited)."""
    errand = _locked(errand)
    if not _still_helper(by, errand):
        raise PermissionDenied
    if errand.status != ErrandStatus.ASSIGNED or errand.accepted_at is not None:
        raise ValidationError({"status": [_("It has already been taken on.")]})
    errand.accepted_at = clock.now()
    errand.save(update_fields=["accepted_at"])
    _event(errand, "accepted", by=by)
    return errand


@transaction.atomic
def errand_decline(*, errand: Errand, by: User, reason: str = "") -> Errand:
    """The helper it was given to turns it down before taking it on: back to the queue."""
    errand = _locked(errand)
    if errand.assigned_to_id != by.pk:
        raise PermissionDenied
    if errand.status != ErrandStatus.ASSIGNED or errand.accepted_at is not None:
        raise ValidationError({"status": [_(
            "You have taken it on already: if it cannot be done, say why with “not "
            "possible”.")]})
    errand.status = ErrandStatus.NEW
    errand.assigned_to = errand.assigned_at = None
    errand.save(update_fields=["status", "assigned_to", "assigned_at"])
    _event(errand, "declined", by=by, detail=_text(reason, field_name="reason", limit=200))
    return errand


def errands_release(*, helper_id: int, by: User) -> int:
    """Every open errand of a helper who can no longer help (a suspended volunteer) back
    to the queue, new and unassigned, whatever step it was at; one event each. Call inside
    the transaction of the decision. The count released."""
    errands = list(Errand.objects.select_for_update()
                   .filter(assigned_to_id=helper_id, status__in=OPEN).order_by("pk"))
    for errand in errands:
        errand.status = ErrandStatus.NEW
        errand.assigned_to = errand.assigned_at = errand.accepted_at = None
    Errand.objects.bulk_update(errands, ["status", "assigned_to", "assigned_at",
                                         "accepted_at"])
    detail = _("Back in the queue: the helper can no longer take it.")
    now = clock.now()
    ErrandEvent.objects.bulk_create([
        ErrandEvent(errand=errand, what="released", status=ErrandStatus.NEW, detail=detail,
                    by=by, at=now) for errand in errands])
    return len(errands)


def _still_helper(by: User, errand: Errand) -> bool:
    """The errand is given to `by`, who may still take errands of its community (a
    volunteer still verified, a worker still posted there)."""
    return (errand.assigned_to_id == by.pk
            and User.objects.filter(helpers_q_for(errand), pk=by.pk).exists())


def _may_move(by: User, errand: Errand) -> bool:
    return _still_helper(by, errand) or may_handle(by, errand)


@transaction.atomic
def errand_advance(*, errand: Errand, to: str, by: User, note: str = "") -> Errand:
    """Move an errand to buying or on the way (its helper once they took it on, or a
    worker of its area)."""
    errand = _locked(errand)
    if not _may_move(by, errand):
        raise PermissionDenied
    if to not in (ErrandStatus.BUYING, ErrandStatus.DELIVERING):
        raise ValidationError({"status": [_("Use the buttons for delivered, cancelled or "
                                            "failed.")]})
    _check_open(errand, to)
    if to == ErrandStatus.BUYING and errand.kind in NOTHING_TO_BUY:
        raise ValidationError({"status": [_("There is nothing to buy for this errand.")]})
    if errand.assigned_to_id is None:
        raise ValidationError({"status": [_("Give it to someone first.")]})
    if errand.accepted_at is None:
        if errand.assigned_to_id != by.pk:
            raise ValidationError({"status": [_(
                "The helper has not taken it on yet: wait for them, or give it to someone "
                "else.")]})
        errand.accepted_at = clock.now()
    errand.status = to
    errand.save(update_fields=["status", "accepted_at"])
    _event(errand, "status", by=by, detail=_text(note, field_name="note", limit=200))
    return errand


def _photo_type(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


def errand_deliver(*, errand: Errand, by: User, code: str = "", photo: bytes | None = None,
                   hours: float | None = None) -> Errand:
    """Delivered, confirmed without contact: the code the resident says at the door, or
    a photo of the delivery left there. A worker of the area may also confirm it (a
    resident who cannot say the code). `hours` spent count as volunteer hours. Wrong
    codes are counted (kept even though the delivery is refused); after
    MAX_CODE_MISSES only a photo or a worker can confirm it."""
    if code:
        with transaction.atomic():
            locked = _locked(errand)
            if not _may_move(by, locked):
                raise PermissionDenied
            misses = Errand.objects.get(pk=locked.pk).handover_misses
            wrong = code.strip() != locked.handover_code
            if wrong and misses < MAX_CODE_MISSES:
                Errand.objects.filter(pk=locked.pk).update(handover_misses=misses + 1)
        if misses >= MAX_CODE_MISSES:
            raise ValidationError({"code": [_(
                "Too many wrong codes: add a photo of the delivery at the door, or ask the "
                "worker to confirm it.")]})
        if wrong:
            raise ValidationError({"code": [_("The code is not right: ask the resident for "
                                              "the 4 digits on their page again.")]})
    return _errand_deliver(errand=errand, by=by, code=code, photo=photo, hours=hours)


@transaction.atomic
def _errand_deliver(*, errand: Errand, by: User, code: str, photo: bytes | None,
                    hours: float | None) -> Errand:
    errand = _locked(errand)
    if not _may_move(by, errand):
        raise PermissionDenied
    _check_open(errand, ErrandStatus.DELIVERED)
    if code:
        handover = "code"  # checked by errand_deliver
    elif photo:
        kind = _photo_type(photo)
        if kind is None or len(photo) > MAX_PHOTO_BYTES:
            raise ValidationError({"photo": [_("Send a photo (JPEG or PNG) of at most 3 MB.")]})
        HandoverPhoto.objects.update_or_create(errand=errand, defaults={
            "data": photo, "content_type": kind, "taken_at": clock.now()})
        handover = "photo"
    elif may_handle(by, errand) and errand.assigned_to_id != by.pk:
        handover = "worker"
    else:
        raise ValidationError({"code": [_("Type the resident's code, or add a photo of the "
                                          "delivery at the door.")]})
    if hours is not None and not 0 < hours <= 24:
        raise ValidationError({"hours": [_("Hours spent: more than 0, at most 24.")]})
    errand.status, errand.handover, errand.closed_at = (ErrandStatus.DELIVERED, handover,
                                                        clock.now())
    errand.hours = None if hours is None else round(hours, 1)
    errand.save(update_fields=["status", "handover", "closed_at", "hours"])
    _event(errand, "delivered", by=by, detail=handover)
    return errand


@transaction.atomic
def errand_cancel(*, errand: Errand, by: User | None, reason: str = "",
                  by_resident: bool = False) -> Errand:
    """Cancelled by the resident on their page (before it is on the way) or by a worker
    of the area."""
    if by_resident:
        if by is not None:
            raise PermissionDenied
    elif by is None or not may_handle(by, errand):
        raise PermissionDenied
    errand = _locked(errand)
    _check_open(errand, ErrandStatus.CANCELLED)
    errand.status, errand.closed_at = ErrandStatus.CANCELLED, clock.now()
    errand.save(update_fields=["status", "closed_at"])
    _event(errand, "cancelled", by=by, by_resident=by_resident,
           detail=_text(reason, field_name="reason", limit=200))
    _garbage_stop(errand)
    return errand


@transaction.atomic
def errand_fail(*, errand: Errand, by: User, reason: str) -> Errand:
    """Could not be done. A worker of the area closes it as failed (the pharmacy had none,
    nobody at home...), the reason shown to the resident. The helper it was given to
    gives it back instead: it returns to the queue with their reason, for the worker to
    find another way."""
    reason = _text(reason, field_name="reason", limit=200)
    if not reason:
        raise ValidationError({"reason": [_("Say why, for the resident and the worker.")]})
    errand = _locked(errand)
    if may_handle(by, errand):
        _check_open(errand, ErrandStatus.FAILED)
        errand.status, errand.closed_at, errand.failure_reason = (ErrandStatus.FAILED,
                                                                  clock.now(), reason)
        errand.save(update_fields=["status", "closed_at", "failure_reason"])
        _event(errand, "failed", by=by, detail=reason)
        _garbage_stop(errand)
        return errand
    if not _may_move(by, errand):
        raise PermissionDenied
    if errand.status not in OPEN:
        raise ValidationError({"reason": [_("It is already closed.")]})
    errand.status = ErrandStatus.NEW
    errand.assigned_to = errand.assigned_at = errand.accepted_at = None
    errand.save(update_fields=["status", "assigned_to", "assigned_at", "accepted_at"])
    _event(errand, "gave_back", by=by, detail=reason)
    return errand


def _garbage_stop(errand: Errand) -> None:
    GarbageService.objects.filter(errand=errand, ends_on__isnull=True).update(
        ends_on=clock.local_today())


def errand_phone_reveal(*, errand: Errand, by: User, ip: str | None = None) -> str:
    """The resident's full phone for the helper who took the errand on, while it is open;
    audited. Before they accept it, and after it closes, it stays masked."""
    if not _still_helper(by, errand):
        raise PermissionDenied
    if errand.status not in OPEN or errand.accepted_at is None:
        raise ValidationError({"phone": [_("The full number is shown only while you have "
                                           "taken the errand on.")]})
    resident = errand.resident
    if not resident.phone_sealed:
        raise ValidationError({"phone": [_("The resident has no phone on record.")]})
    clear = crypto.unseal(resident.phone_sealed, purpose="phone")
    audit_record(by=by, action=AuditAction.REVEAL_PHONE, object_type="errand",
                 object_id=errand.pk, object_label=f"{resident.name} (#{errand.pk})",
                 area_path=errand.grid.path, ip=ip)
    return clear


@transaction.atomic
def resident_links_reset(*, resident: Resident, by: User, ip: str | None = None) -> None:
    """Stop every errands link of the resident handed out so far (their page then asks
    for a new link, which the worker gives); audited as a change of the resident."""
    if not can(by, Can.HANDLE_ERRANDS) or not Resident.objects.filter(
            grid_scope_q(by), pk=resident.pk).exists():
        raise PermissionDenied
    # Links are stamped in whole seconds (see resident_links.link_revoked).
    ResidentLinkReset.objects.update_or_create(resident=resident, defaults={
        "reset_at": clock.now().replace(microsecond=0), "reset_by": by})
    audit_record(by=by, action=AuditAction.RESIDENT_UPDATE, object_type="resident",
                 object_id=resident.pk, object_label=resident.name,
                 area_path=resident.grid.path, changes={"errand_links": "reset"}, ip=ip)


def volunteer_of(user: User) -> Volunteer | None:
    return Volunteer.objects.filter(user=user, status=VolunteerStatus.VERIFIED).first()

