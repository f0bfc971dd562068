"""The resident's link to their errands page: a signed token, no login.

The token carries only the resident's id (base 62) and, when the link was handed to their
proxy, a proxy flag; nothing personal travels in a link. It is signed with Django's
`TimestampSigner` (the secret key, its own salt) and is valid for `ERRANDS_LINK_DAYS`
days (30 unless set), measured on fangkong's clock so tests can move time. A forged or
mangled token is refused; an expired one is told apart so the page can say "ask your grid
worker for a new link".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from fangkong.lib import clock
from fangkong.residents.models import Resident

SALT = "fangkong.errands.resident"
_PROXY_MARK = "-p"


def link_days() -> int:
    return int(getattr(settings, "ERRANDS_LINK_DAYS", 30))


class _ClockSigner(signing.TimestampSigner):
    """A TimestampSigner that reads fangkong's clock instead of time.time()."""

    def timestamp(self) -> str:
        return signing.b62_encode(int(clock.now().timestamp()))

    def unsign_with_time(self, value: str) -> tuple[str, int]:
        """The signed value and its timestamp; BadSignature for a forged token."""
        result = signing.Signer.unsign(self, value)
        value, stamp = result.rsplit(self.sep, 1)
        return value, signing.b62_decode(stamp)


def _signer() -> _ClockSigner:
    return _ClockSigner(salt=SALT)


@dataclass(frozen=True)
class ResidentKey:
    """What a genuine token says."""

    resident_id: int
    by_proxy: bool
    signed_at: datetime

    @property
    def expires_at(self) -> datetime:
        return self.signed_at + timedelta(days=link_days())

    @property
    def expired(self) -> bool:
        return clock.now() > self.expires_at


def resident_token(resident_id: int, *, by_proxy: bool = False) -> str:
    """The token of a resident's errands page; `by_proxy` when it is handed to their
    proxy (what they ask is then recorded as asked by the proxy)."""
    value = signing.b62_encode(resident_id) + (_PROXY_MARK if by_proxy else "")
    return _signer().sign(value)


def resident_link(resident_id: int, *, by_proxy: bool = False) -> str:
    """The absolute link (FANGKONG_PUBLIC_URL + the page's path), to print on a pass,
    show on the follow-up page or send by SMS."""
    return resident_link_of(resident_token(resident_id, by_proxy=by_proxy))


def resident_link_of(token: str) -> str:
    """The absolute link of an existing token (the address a resident bookmarks)."""
    return settings.PUBLIC_URL.rstrip("/") + reverse("errands:resident", args=[token])


def resident_key(token: str) -> ResidentKey | None:
    """What a genuine token says, expired or not; None for a forged or mangled one."""
    try:
        value, stamp = _signer().unsign_with_time(token)
        by_proxy = value.endswith(_PROXY_MARK)
        resident_id = signing.b62_decode(value.removesuffix(_PROXY_MARK))
    except (signing.BadSignature, ValueError):
        return None
    if resident_id <= 0:
        return None
    return ResidentKey(resident_id=resident_id, by_proxy=by_proxy,
                       signed_at=datetime.fromtimestamp(stamp, tz=UTC))


def resident_from_token(token: str) -> tuple[int, bool] | None:
    """(resident id, handed to the proxy) of a genuine token that has not expired, else
    None (forged, mangled or expired: `token_expired` tells the last apart)."""
    key = resident_key(token)
    if key is None or key.expired:
        return None
    return key.resident_id, key.by_proxy


def token_expired(token: str) -> bool:
    """A genuine token past its validity (the page says: ask for a new link)."""
    key = resident_key(token)
    return key is not None and key.expired


def link_revoked(key: ResidentKey) -> bool:
    """The resident's links were reset after this one was signed (a worker stopped the
    old links: one forwarded too far, a proxy who no longer helps)."""
    from fangkong.errands.models import ResidentLinkReset

    reset = ResidentLinkReset.objects.filter(resident_id=key.resident_id).first()
    # Links are stamped in whole seconds: the new link handed out in the very second of
    # the reset still opens the page.
    return reset is not None and key.signed_at < reset.reset_at


def resident_of(key: ResidentKey) -> Resident | None:
    """The resident a genuine link opens, with their household (the link is the access
    check: the page shows only their masked name and room); None when no longer in the
    registry. Whether they still live here is for the caller to say."""
    return Resident.objects.filter(pk=key.resident_id).select_related("household").first()
