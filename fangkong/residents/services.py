"""Writes to the registry of residents. Each service checks the actor's capability and
scope, validates everything before writing, writes the audit record in the same
transaction and keeps the area figures exact."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from fangkong.accounts.roles import Can, can
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.lib import crypto
from fangkong.lib.idcard import IdNumberError, mask_id_number, parse_id_number
from fangkong.lib.phone import PhoneError, parse_phone
from fangkong.lib.pinyin import name_initials, pinyin_full
from fangkong.places.models import Household
from fangkong.places.selectors import households_for_user
from fangkong.places.services import stats_refresh
from fangkong.residents.models import (
    Channel,
    Gender,
    Proxy,
    Relation,
    Resident,
    ResidentStatus,
    Tag,
)
from fangkong.residents.personal import (
    ID_NUMBER,
    NO_PHONE,
    PHONE,
    id_number_index,
    seal_id_number,
    seal_phone,
)
from fangkong.residents.selectors import residents_for_user

NAME_MAX = 64
ID_ELSEWHERE = "id_number_elsewhere"
EDITABLE = ("household", "relation", "name", "gender", "birth_date", "id_number", "phone",
            "tags", "preferred_channel", "language_note", "remarks", "status")


@dataclass
class ResidentInput:
    """What a form or an API call may set. `None` means "leave as it is" on update."""

    name: str | None = None
    gender: str | None = None
    birth_date: date | None = None
    id_number: str | None = None  # "" clears it
    phone: str | None = None  # "" clears it
    relation: str | None = None
    household: Household | None = None
    tags: list[Tag] | None = None
    preferred_channel: str | None = None
    language_note: str | None = None
    remarks: str | None = None
    status: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def _bad_text(value: str, *, multiline: bool = False) -> bool:
    """True for text a person cannot have typed: control characters (a NUL breaks
    PostgreSQL), lone surrogates that cannot be stored as UTF-8, or the U+FFFD left where
    a broken encoding lost a character."""
    allowed = {"\n", "\r", "\t"} if multiline else set()
    if any(not c.isprintable() and c not in allowed and c != " " for c in value):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return "\ufffd" in value


def _require_edit(by, household: Household) -> None:  # noqa: ANN001
    if not can(by, Can.EDIT_RESIDENTS):
        raise PermissionDenied(_("Your role cannot change the registry."))
    if not households_for_user(by).filter(pk=household.pk).exists():
        # Outside the actor's area: do not confirm that it exists.
        raise Http404


def _apply(resident: Resident, data: ResidentInput, *, creating: bool,
           by=None) -> dict[str, Any]:  # noqa: ANN001
    """Validate `data` and apply it to `resident` (unsaved). Returns the audit changes
    (masked). Raises ValidationError with every field's problem at once."""
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}

    def change(name: str, before: Any, after: Any) -> None:
        if before != after:
            changes[name] = [before, after]

    if data.name is not None or creating:
        name = " ".join((data.name or "").split())
        if not name:
            errors.setdefault("name", []).append(_("Enter the resident's name."))
        elif len(name) > NAME_MAX:
            errors.setdefault("name", []).append(
                _("The name is too long (at most %(n)d characters).") % {"n": NAME_MAX})
        elif _bad_text(name) or "??" in name:
            errors.setdefault("name", []).append(
                _("The name contains broken characters (such as ? or �); "
                  "type it again from the original document."))
        else:
            change("name", resident.name, name)
            resident.name = name
            resident.name_initials = name_initials(name)
            resident.name_pinyin = pinyin_full(name)

    id_info = None
    if data.id_number is not None:
        if data.id_number.strip() == "":
            if resident.id_number_index is not None:
                change("id_number", resident.id_number_masked, "")
            resident.id_number_sealed = resident.id_number_index = None
            resident.id_number_masked = ""
        else:
            try:
                id_info = parse_id_number(data.id_number)
            except IdNumberError as exc:
                errors.setdefault("id_number", []).append(str(exc))
            else:
                index = id_number_index(id_info.number)
                if index != resident.id_number_index:
                    clash = (Resident.objects.filter(id_number_index=index)
                             .exclude(pk=resident.pk).select_related("household").first())
                    if clash is not None and by is not None and not residents_for_user(
                            by).filter(pk=clash.pk).exists():
                        # Outside the actor's area: say no more than that it exists.
                        errors.setdefault("id_number", []).append(ValidationError(
                            _("This ID number is already registered in another area. One "
                              "person is registered once: ask your community secretary to "
                              "have the record moved here."), code=ID_ELSEWHERE,
                            params={"masked": mask_id_number(id_info.number)}))
                    elif clash is not None:
                        errors.setdefault("id_number", []).append(
                            _("This ID number is already registered for another resident "
                              "(%(name)s, %(label)s, %(masked)s). One person is registered "
                              "once: edit that record or mark it moved out first.")
                            % {"name": clash.name, "label": clash.household.label,
                               "masked": clash.id_number_masked})
                    else:
                        sealed = seal_id_number(id_info.number)
                        change("id_number", resident.id_number_masked, sealed.masked)
                        resident.id_number_sealed = sealed.sealed
                        resident.id_number_index = sealed.index
                        resident.id_number_masked = sealed.masked

    if (id_info is None and data.id_number is None and resident.id_number_sealed
            and (data.gender is not None or data.birth_date is not None)):
        # Editing other fields: gender and birth date must still agree with the ID number
        # on record.
        try:
            id_info = parse_id_number(crypto.unseal(resident.id_number_sealed,
                                                    purpose=ID_NUMBER))
        except IdNumberError:
            id_info = None
    gender = data.gender if data.gender is not None else (None if not creating else "")
    if id_info is not None:
        if gender and gender != Gender.UNKNOWN and gender != id_info.gender:
            errors.setdefault("gender", []).append(
                _("The gender does not match the ID number (the ID number says %(g)s).")
                % {"g": Gender(id_info.gender).label})
        gender = id_info.gender
    if gender is not None:
        gender = gender or Gender.UNKNOWN
        if gender not in Gender.values:
            errors.setdefault("gender", []).append(_("Choose male, female or unknown."))
        else:
            change("gender", resident.gender, gender)
            resident.gender = gender

    birth = data.birth_date
    if id_info is not None:
        if birth is not None and birth != id_info.birth_date:
            errors.setdefault("birth_date", []).append(
                _("The birth date does not match the ID number (the ID number says "
                  "%(d)s).") % {"d": id_info.birth_date.isoformat()})
        birth = id_info.birth_date
    if birth is not None:
        today = timezone.localdate()
        if birth > today:
            errors.setdefault("birth_date", []).append(_("The birth date is in the future."))
        elif birth.year < 1890:
            errors.setdefault("birth_date", []).append(
                _("The birth date is before 1890; check the year."))
        else:
            change("birth_date", resident.birth_date and resident.birth_date.isoformat(),
                   birth.isoformat())
            resident.birth_date = birth

    if data.phone is not None:
        if data.phone.strip() == "":
            if resident.phone_index is not None:
                change("phone", resident.phone_masked, "")
            for name, value in NO_PHONE.items():
                setattr(resident, name, value)
        else:
            try:
                phone = parse_phone(data.phone)
            except PhoneError as exc:
                errors.setdefault("phone", []).append(str(exc))
            else:
                sealed = seal_phone(phone)
                if sealed.index != resident.phone_index:
                    change("phone", resident.phone_masked, sealed.masked)
                    for name, value in sealed.fields().items():
                        setattr(resident, name, value)

    for name, choices, label in (
        ("relation", Relation, _("relation to householder")),
        ("preferred_channel", Channel, _("preferred channel")),
        ("status", ResidentStatus, _("status")),
    ):
        value = getattr(data, name)
        if value is None:
            continue
        if value and value not in choices.values:
            errors.setdefault(name, []).append(
                _("“%(value)s” is not a valid %(label)s.") % {"value": value, "label": label})
        elif value or name == "preferred_channel":
            change(name, getattr(resident, name), value)
            setattr(resident, name, value)

    for name, limit in (("language_note", 64), ("remarks", 1000)):
        value = getattr(data, name)
        if value is None:
            continue
        value = value.strip()
        if _bad_text(value, multiline=name == "remarks"):
            errors.setdefault(name, []).append(
                _("This text contains characters that cannot be stored (control characters "
                  "or broken encoding); type it again."))
        elif len(value) > limit:
            errors.setdefault(name, []).append(
                _("Too long: at most %(n)d characters.") % {"n": limit})
        else:
            change(name, getattr(resident, name), value)
            setattr(resident, name, value)

    if data.household is not None and data.household.pk != resident.household_id:
        # Labels repeat across grids ("1栋1单元101"): record the id too, so that the move
        # is never mistaken for "no change".
        before = (f"{resident.household.label} #{resident.household_id}"
                  if resident.household_id else "")
        change("household", before, f"{data.household.label} #{data.household.pk}")
        resident.household = data.household
        resident.copy_scope_from(data.household)

    if errors:
        raise ValidationError(errors)
    return changes


def _tags_change(resident: Resident, tags: list[Tag] | None, changes: dict[str, Any]) -> bool:
    if tags is None:
        return False
    before = sorted(resident.tags.values_list("slug", flat=True)) if resident.pk else []
    after = sorted(t.slug for t in tags)
    if before != after:
        changes["tags"] = [before, after]
        return True
    return False


def _audits_id_clash(service):  # noqa: ANN001, ANN202
    """Record, outside the refused (rolled back) transaction, that someone typed an ID
    number registered in another area: trying numbers to find out where people live
    must leave a trace."""

    @functools.wraps(service)
    def wrapper(*, by, ip: str | None = None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        try:
            return service(by=by, ip=ip, **kwargs)
        except ValidationError as exc:
            clash = next((e for e in getattr(exc, "error_dict", {}).get("id_number", [])
                          if e.code == ID_ELSEWHERE), None)
            if clash is not None:
                audit_record(by=by, action=AuditAction.ID_NUMBER_CLASH,
                             object_type="id_number", object_label=clash.params["masked"],
                             area_path=by.area.path if getattr(by, "area_id", None) else "",
                             ip=ip)
            raise

    return wrapper


@_audits_id_clash
@transaction.atomic
def resident_create(*, by, data: ResidentInput, ip: str | None = None) -> Resident:  # noqa: ANN001
    """Register a resident in `data.household`. Audited; keeps area figures exact."""
    if data.household is None:
        raise ValidationError({"household": [_("Choose the household the resident lives in.")]})
    _require_edit(by, data.household)
    resident = Resident(household=data.household, relation=data.relation or Relation.SELF)
    resident.copy_scope_from(data.household)
    changes = _apply(resident, data, creating=True, by=by)
    try:
        with transaction.atomic():
            resident.save()
    except IntegrityError as exc:  # a concurrent registration of the same ID number
        raise ValidationError({"id_number": [_("This ID number is already registered.")]}) \
            from exc
    if _tags_change(resident, data.tags, changes):
        resident.tags.set(data.tags or [])
    audit_record(by=by, action=AuditAction.RESIDENT_CREATE, object_type="resident",
                 object_id=resident.pk, object_label=resident.name,
                 area_path=resident.grid.path, changes=changes, ip=ip)
    stats_refresh(grid_ids=[resident.grid_id])
    return resident


@_audits_id_clash
@transaction.atomic
def resident_update(*, by, resident: Resident, data: ResidentInput,  # noqa: ANN001
                    version: int | None = None, ip: str | None = None) -> Resident:
    """Change a resident. `version` (from the form the user saw) guards against
    overwriting someone else's newer change. Audited with before/after (masked)."""
    _require_edit(by, resident.household)
    if data.household is not None:
        _require_edit(by, data.household)
    locked = Resident.objects.select_for_update().get(pk=resident.pk)
    if version is not None and locked.version != version:
        raise ValidationError({"__all__": [_(
            "Someone else changed this resident while you were editing. "
            "Reload the page to see their change, then edit again.")]})
    old_grid = locked.grid_id
    changes = _apply(locked, data, creating=False, by=by)
    tags_changed = _tags_change(locked, data.tags, changes)
    if not changes:
        return locked
    locked.version += 1
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError as exc:
        raise ValidationError({"id_number": [_("This ID number is already registered.")]}) \
            from exc
    if tags_changed:
        locked.tags.set(data.tags or [])
    action = (AuditAction.RESIDENT_MOVE_OUT if changes.get("status", [None, None])[1]
              == ResidentStatus.MOVED_OUT else AuditAction.RESIDENT_UPDATE)
    audit_record(by=by, action=action, object_type="resident", object_id=locked.pk,
                 object_label=locked.name, area_path=locked.grid.path, changes=changes, ip=ip)
    stats_refresh(grid_ids={old_grid, locked.grid_id})
    return locked


@transaction.atomic
def resident_reveal(*, by, resident: Resident, what: str, ip: str | None = None) -> str:  # noqa: ANN001
    """Return the clear phone or ID number of a resident the actor may see, and append
    the audit record. The caller has already passed the access gate."""
    if not residents_for_user(by).filter(pk=resident.pk).exists():
        raise Http404
    if what == PHONE:
        if not can(by, Can.REVEAL_PHONE):
            raise PermissionDenied(_("Your role cannot see full phone numbers."))
        sealed, action = resident.phone_sealed, AuditAction.REVEAL_PHONE
    elif what == ID_NUMBER:
        if not can(by, Can.REVEAL_ID_NUMBER):
            raise PermissionDenied(_("Your role cannot see full ID numbers."))
        sealed, action = resident.id_number_sealed, AuditAction.REVEAL_ID_NUMBER
    else:
        raise ValueError(what)
    if not sealed:
        return ""
    clear = crypto.unseal(sealed, purpose=what)
    audit_record(by=by, action=action, object_type="resident", object_id=resident.pk,
                 object_label=resident.name, area_path=resident.grid.path, ip=ip)
    return clear


@transaction.atomic
def proxy_add(*, by, resident: Resident, name: str, relation: str, phone: str,  # noqa: ANN001
              proxy_resident: Resident | None = None, ip: str | None = None) -> Proxy:
    """Record who answers for a resident. Audited as a change of the resident."""
    _require_edit(by, resident.household)
    errors: dict[str, list[str]] = {}
    name = " ".join(name.split())
    if not name:
        errors["proxy_name"] = [_("Enter the proxy's name.")]
    if not relation.strip():
        errors["proxy_relation"] = [_("Say how the proxy is related, e.g. daughter, neighbour.")]
    try:
        sealed = seal_phone(parse_phone(phone))
    except PhoneError as exc:
        errors["proxy_phone"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    proxy = Proxy.objects.create(
        resident=resident, proxy_resident=proxy_resident, name=name,
        relation=relation.strip()[:32], phone_sealed=sealed.sealed, phone_index=sealed.index,
        phone_masked=sealed.masked, phone_last4=sealed.last4)
    audit_record(by=by, action=AuditAction.RESIDENT_UPDATE, object_type="resident",
                 object_id=resident.pk, object_label=resident.name,
                 area_path=resident.grid.path,
                 changes={"proxy": ["", f"{name} ({relation}) {sealed.masked}"]}, ip=ip)
    return proxy
