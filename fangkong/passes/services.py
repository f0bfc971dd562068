"""Issuing, re-issuing and revoking passes: by the workers of the resident's area
(Can.ISSUE_PASSES and the resident or household in their grid scope), in bulk for a
building's sheet, and once by the resident themselves from their own signed link.

Every issue and revocation is audited (`pass_issue`, `pass_revoke`) in the transaction
of the change.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from fangkong.accounts.models import User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import grid_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.lib import clock
from fangkong.lib.fields import clean_text
from fangkong.passes.models import Pass
from fangkong.places.models import Building, Household
from fangkong.residents.models import Resident, ResidentStatus


def _may_issue(by: User | None) -> bool:
    return can(by, Can.ISSUE_PASSES)


def _resident_in_scope(by: User, resident_id: int) -> bool:
    return Resident.objects.filter(grid_scope_q(by), pk=resident_id).exists()


def _household_in_scope(by: User, household_id: int) -> bool:
    return Household.objects.filter(grid_scope_q(by), pk=household_id).exists()


def _subject(pass_: Pass) -> tuple[str, int, str, str]:
    """(object type, id, label, area path) of what a pass is for, for the audit log."""
    if pass_.resident_id:
        resident = pass_.resident
        return "resident", resident.pk, resident.name, resident.grid.path
    household = pass_.household
    return "household", household.pk, household.label, household.grid.path


def _audit_issue(pass_: Pass, *, by: User | None, ip: str | None, via: str = "") -> None:
    kind, pk, label, path = _subject(pass_)
    changes: dict[str, list] = {"version": [pass_.version - 1 or "", pass_.version]}
    if via:
        changes["via"] = ["", via]
    audit_record(by=by, action=AuditAction.PASS_ISSUE, object_type=kind, object_id=pk,
                 object_label=label, area_path=path, changes=changes, ip=ip)


def _renew(pass_: Pass, *, by: User | None) -> Pass:
    """A new version of a standing or revoked pass (the old codes stop opening)."""
    pass_.version += 1
    pass_.issued_at, pass_.issued_by = clock.now(), by
    pass_.revoked_at, pass_.revoked_reason = None, ""
    pass_.save(update_fields=["version", "issued_at", "issued_by", "revoked_at",
                              "revoked_reason"])
    return pass_


@transaction.atomic
def pass_issue(*, resident: Resident, by: User, ip: str | None = None) -> Pass:
    """The resident's pass: issued the first time; issued again (a new version, so the
    codes printed or saved before stop working) when one exists. A revoked pass comes
    back into force with its new version. PermissionDenied outside the worker's area or
    without Can.ISSUE_PASSES; ValidationError for a resident no longer registered."""
    if not _may_issue(by) or not _resident_in_scope(by, resident.pk):
        raise PermissionDenied
    if resident.status != ResidentStatus.ACTIVE:
        raise ValidationError({"__all__": [_("This resident is no longer registered here.")]})
    pass_ = (Pass.objects.select_for_update().select_related("resident__grid")
             .filter(resident=resident).first())
    if pass_ is None:
        pass_ = Pass.objects.create(resident=resident, issued_at=clock.now(), issued_by=by)
        pass_.resident = resident
    else:
        _renew(pass_, by=by)
    _audit_issue(pass_, by=by, ip=ip)
    return pass_


@transaction.atomic
def household_pass_issue(*, household: Household, by: User, ip: str | None = None) -> Pass:
    """One pass for the whole household (its colour is the most restrictive of its
    active members): issued, or issued again as a new version like `pass_issue`.
    ValidationError when nobody is registered in the household any more."""
    if not _may_issue(by) or not _household_in_scope(by, household.pk):
        raise PermissionDenied
    if not Resident.objects.filter(household=household, status=ResidentStatus.ACTIVE).exists():
        raise ValidationError({"__all__": [_("Nobody is registered in this household.")]})
    pass_ = (Pass.objects.select_for_update().select_related("household__grid")
             .filter(household=household).first())
    if pass_ is None:
        pass_ = Pass.objects.create(household=household, issued_at=clock.now(), issued_by=by)
        pass_.household = household
    else:
        _renew(pass_, by=by)
    _audit_issue(pass_, by=by, ip=ip)
    return pass_


@transaction.atomic
def pass_revoke(*, pass_: Pass, reason: str, by: User, ip: str | None = None) -> Pass:
    """No code of this pass opens the gate any more (grey, "pass revoked") until it is
    issued again."""
    if pass_.resident_id:
        in_scope = _resident_in_scope(by, pass_.resident_id)
    else:
        in_scope = bool(pass_.household_id) and _household_in_scope(by, pass_.household_id)
    if not _may_issue(by) or not in_scope:
        raise PermissionDenied
    reason = clean_text(reason, field="reason", limit=200, required=True,
                        required_message=_("Say why, in at most 200 characters."))
    pass_.revoked_at, pass_.revoked_reason = clock.now(), reason
    pass_.save(update_fields=["revoked_at", "revoked_reason"])
    kind, pk, label, path = _subject(pass_)
    audit_record(by=by, action=AuditAction.PASS_REVOKE, object_type=kind, object_id=pk,
                 object_label=label, area_path=path,
                 changes={"version": ["", pass_.version], "reason": ["", reason]}, ip=ip)
    return pass_


@transaction.atomic
def building_passes_issue(*, building: Building, by: User, ip: str | None = None) -> int:
    """A pass for every active resident of the building who has none (one INSERT, one
    audit record listing them); the number issued. A revoked pass stays revoked: a worker
    decided that, and only a worker issues it again, one by one."""
    if not _may_issue(by) or not Building.objects.filter(grid_scope_q(by),
                                                         pk=building.pk).exists():
        raise PermissionDenied
    # One bulk issue of a building at a time (two clicks, two workers).
    Building.objects.select_for_update().filter(pk=building.pk).first()
    missing = list(Resident.objects.filter(household__building=building,
                                           status=ResidentStatus.ACTIVE,
                                           gate_pass__isnull=True)
                   .order_by("pk").values_list("pk", flat=True))
    if not missing:
        return 0
    now = clock.now()
    # A pass issued one by one meanwhile is kept as it is.
    Pass.objects.bulk_create([Pass(resident_id=pk, issued_at=now, issued_by=by)
                              for pk in missing], ignore_conflicts=True)
    missing = list(Pass.objects.filter(resident_id__in=missing, issued_at=now, issued_by=by,
                                       version=1).order_by("resident_id")
                   .values_list("resident_id", flat=True))
    audit_record(by=by, action=AuditAction.PASS_ISSUE, object_type="building",
                 object_id=building.pk, object_label=str(building),
                 area_path=building.grid.path,
                 changes={"issued": ["", len(missing)], "residents": ["", missing]}, ip=ip)
    return len(missing)


@transaction.atomic
def pass_issue_by_resident(*, resident: Resident, ip: str | None = None) -> Pass:
    """The resident's first pass, asked for on their own page (their signed link or a
    login by phone and code is the proof of who they are). Only a first pass: an
    existing one is returned as it is, and a revoked one stays revoked (the page says to
    ask the grid worker). Audited with no staff actor, "via resident"."""
    if resident.status != ResidentStatus.ACTIVE:
        raise ValidationError({"__all__": [_("This resident is no longer registered here.")]})
    # Lock the resident's row: two clicks at once make one pass, not an IntegrityError.
    locked = (Resident.objects.select_for_update().select_related("grid")
              .get(pk=resident.pk))
    pass_ = Pass.objects.filter(resident=locked).first()
    if pass_ is not None:
        return pass_
    pass_ = Pass.objects.create(resident=locked, issued_at=clock.now(), issued_by=None)
    pass_.resident = locked
    _audit_issue(pass_, by=None, ip=ip, via="resident")
    return pass_
