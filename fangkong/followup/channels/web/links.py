"""One-time web links: a signed token per contact, checked before the form is shown.

The token carries only the contact's id and an HMAC (Django's signing with the secret
key); nothing personal travels in a link. It is refused when forged, when the round has
closed, and once the contact has answered (a link is used once).
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "fangkong.followup.web-link"


def contact_token(contact_id: int) -> str:
    return signing.Signer(salt=SALT).sign(signing.b62_encode(contact_id))


def contact_link(contact_id: int) -> str:
    """The absolute link sent to a resident (FANGKONG_PUBLIC_URL + the form's path)."""
    return _link_prefix() + contact_token(contact_id) + "/"


def _link_prefix() -> str:
    # reverse() costs more than the signature: resolve the path once per settings.
    key = (settings.PUBLIC_URL, settings.ROOT_URLCONF)
    if _prefix.get("key") != key:
        path = reverse("followup:answer", args=["TOKEN"])
        _prefix.update(key=key, value=settings.PUBLIC_URL.rstrip("/") + path[:-len("TOKEN/")])
    return _prefix["value"]


_prefix: dict[str, object] = {}


def contact_id_from_token(token: str) -> int | None:
    """The contact id of a genuine token, or None for a forged or mangled one."""
    try:
        value = signing.Signer(salt=SALT).unsign(token)
        return signing.b62_decode(value)
    except (signing.BadSignature, ValueError):
        return None


CHECKIN_SALT = "fangkong.followup.checkin-link"


def checkin_token(contact_id: int, *, by_proxy: bool) -> str:
    """The form's token handed out by a building check-in. It differs from the link sent
    by SMS: it opens the one contact whose digits were typed (a resident who typed their
    own digits does not see the other people their proxy looks after), and says whether
    the proxy's digits were the ones typed."""
    value = f"{signing.b62_encode(contact_id)}-{'p' if by_proxy else 's'}"
    return signing.Signer(salt=CHECKIN_SALT).sign(value)


def checkin_from_token(token: str) -> tuple[int, bool] | None:
    """(contact id, typed by the proxy) of a genuine check-in token, else None."""
    try:
        value = signing.Signer(salt=CHECKIN_SALT).unsign(token)
        encoded, who = value.rsplit("-", 1)
        return signing.b62_decode(encoded), who == "p"
    except (signing.BadSignature, ValueError):
        return None
