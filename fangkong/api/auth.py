"""Who is calling the API: a bearer token (integrations) or the browser's session (with
CSRF), and the small gates every endpoint starts with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.security import HttpBearer, SessionAuth

from fangkong.accounts.roles import Can, can
from fangkong.accounts.services import api_token_user

if TYPE_CHECKING:
    from fangkong.accounts.models import User


class TokenAuth(HttpBearer):
    """`Authorization: Bearer fk_...`: the token's user, or None (401) when the token is
    unknown, revoked, expired or belongs to an inactive user."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        return api_token_user(token.strip())


class SessionAuthWithCsrf(SessionAuth):
    """The browser's Django session. Unsafe methods must carry the CSRF token (403).

    A request that presents an Authorization header is judged by that header alone: a
    bad token is a 401 even if a session cookie happens to be there. Without a logged-in
    session this returns None without checking CSRF, so an anonymous call is a 401 and
    not a confusing CSRF 403.
    """

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Any | None:
        if "Authorization" in request.headers:
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super().__call__(request)


def actor(request: HttpRequest) -> User:
    """The authenticated user of an API request (set by one of the auth classes)."""
    return request.auth  # type: ignore[attr-defined, return-value]



def require_registry(user: User) -> None:
    """403 for roles that do not use the registry at all (gate guards, volunteers): they
    reach residents only through their own features. Objects outside the area of a role
    that does use the registry are 404, from the access gates."""
    if not can(user, Can.VIEW_REGISTRY):
        raise PermissionDenied(_("Your role cannot see the registry."))
