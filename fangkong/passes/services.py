"""Issuing, re-issuing and revoking passes (workers of the resident's area)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from fangkong.accounts.models import User
from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import grid_scope_q
from fangkong.lib import clock
from fangkong.lib.fields import clean_text
from fangkong.passes.models import Pass
from fangkong.residents.models import Resident, ResidentStatus


@transaction.atomic
def pass_issue(*, resident: Resident, by: User) -> Pass:
    """The resident's pass: issued the first time; issued again (a new version, so the
    codes printed or saved before stop working) when one exists. A revoked pass comes
    back into force with its new version."""
    if not can(by, Can.EDIT_RESIDENTS) or not Resident.objects.filter(
            grid_scope_q(by), pk=resident.pk).exists():
        raise PermissionDenied
    if resident.status != ResidentStatus.ACTIVE:
        raise ValidationError({"__all__": [_("This resident is no longer registered here.")]})
    pass_ = Pass.objects.select_for_update().filter(resident=resident).first()
    now = clock.now()
    if pass_ is None:
        return Pass.objects.create(resident=resident, issued_at=now, issued_by=by)
    pass_.version += 1
    pass_.issued_at, pass_.issued_by = now, by
    pass_.revoked_at, pass_.revoked_reason = None, ""
    pass_.save(update_fields=["version", "issued_at", "issued_by", "revoked_at",
                              "revoked_reason"])
    return pass_


@transaction.atomic
def pass_revoke(*, pass_: Pass, reason: str, by: User) -> Pass:
    """No code of this pass opens the gate any more (grey, "pass revoked")."""
    resident_ok = pass_.resident_id and Resident.objects.filter(
        grid_scope_q(by), pk=pass_.resident_id).exists()
    if not can(by, Can.EDIT_RESIDENTS) or not resident_ok:
        raise PermissionDenied
    reason = clean_text(reason, field="reason", limit=200, required=True,
                        required_message=_("Say why, in at most 200 characters."))
    pass_.revoked_at, pass_.revoked_reason = clock.now(), reason
    pass_.save(update_fields=["revoked_at", "revoked_reason"])
    return pass_
