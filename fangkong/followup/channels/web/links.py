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
