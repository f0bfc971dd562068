"""Staff accounts and API tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from fangkong.accounts.models import ApiToken, Role, User
from fangkong.accounts.roles import ROLE_AREA_KINDS, Can, can
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.places.models import Area, AreaKind
from fangkong.places.selectors import areas_for_user

TOKEN_PREFIX = "fk_"  # noqa: S105 - a prefix, not a secret


@transaction.atomic
def staff_create(*, username: str, password: str, role: str, area: Area, full_name: str = "",
                 by=None, check_password: bool = True) -> User:  # noqa: ANN001
    """Create a staff user with one role at one area of the kind that role works at.
    `by` (None for the command line) must be allowed to manage staff (or, for a
    volunteer's login, to verify volunteers), and the area must lie in their own area."""
    if by is not None:
        allowed = can(by, Can.MANAGE_STAFF) or (role == Role.VOLUNTEER
                                                and can(by, Can.VERIFY_VOLUNTEERS))
        if not allowed:
            raise PermissionDenied(_("Your role cannot add staff."))
        if not areas_for_user(by).filter(pk=area.pk).exists():
            raise Http404
    errors: dict[str, list[str]] = {}
    username = username.strip()
    if not username:
        errors["username"] = [_("Enter a user name.")]
    elif User.objects.annotate(lower=Lower("username")).filter(
            lower=username.lower()).exists():
        errors["username"] = [_("This user name is taken.")]
    if role not in Role.values:
        errors["role"] = [_("Unknown role “%(role)s”.") % {"role": role}]
    elif area.kind not in ROLE_AREA_KINDS[role]:
        kinds = ", ".join(str(AreaKind(k).label) for k in sorted(ROLE_AREA_KINDS[role]))
        errors["area"] = [_("The role “%(role)s” works at this level: %(kinds)s; "
                            "the chosen area is a %(kind)s.") % {
            "role": Role(role).label, "kinds": kinds, "kind": AreaKind(area.kind).label}]
    user = User(username=username, role=role, area=area, full_name=full_name.strip())
    if check_password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    user.save()
    audit_record(by=by, action=AuditAction.STAFF_CREATE, object_type="user", object_id=user.pk,
                 object_label=username, area_path=area.path,
                 changes={"role": ["", role], "area": ["", area.path]})
    return user


@transaction.atomic
def api_token_create(*, user: User, name: str, expires_at: datetime | None = None,
                     by=None) -> tuple[ApiToken, str]:  # noqa: ANN001
    """Create a token for an integration acting as `user`. Returns the row and the clear
    token, which is shown once and never stored."""
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name.strip() or "api",
                                    prefix=clear[len(TOKEN_PREFIX):][:8],
                                    digest=ApiToken.digest_of(clear), expires_at=expires_at)
    audit_record(by=by or user, action=AuditAction.TOKEN_CREATE, object_type="api_token",
                 object_id=token.pk, object_label=token.name,
                 area_path=user.area.path if user.area_id else "")
    return token, clear


def api_token_user(clear: str) -> User | None:
    """The active user behind a bearer token, or None. Marks the token as used."""
    if not clear.startswith(TOKEN_PREFIX):
        return None
    token = (ApiToken.objects.select_related("user", "user__area")
             .filter(digest=ApiToken.digest_of(clear), revoked_at__isnull=True).first())
    now = timezone.now()
    if token is None or (token.expires_at and token.expires_at <= now):
        return None
    if not token.user.is_active:
        return None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
