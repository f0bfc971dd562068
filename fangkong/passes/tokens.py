"""The token in a pass's QR code: `FK1.<pass id>.<version>.<signature>`; and in a
visitor's code (scanned when they leave): `FV1.<visitor id>.<signature>`.

Nothing personal: the pass id and version in base 62, and an HMAC-SHA256 of them keyed by
the installation's secret key (Django's `salted_hmac` with this module's salt), cut to
128 bits and base64url-encoded. `FK1` is the format's version, so the format can change
without old codes being misread. Reading a token checks its shape and signature only;
whether the pass still stands (its version, revocation, expiry) is for the caller, which
looks it up (`fangkong.passes.status`).
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from django.core import signing
from django.utils.crypto import salted_hmac

PREFIX = "FK1"
SALT = "fangkong.passes.token"
VISITOR_PREFIX = "FV1"
VISITOR_SALT = "fangkong.passes.visitor"
MAX_LENGTH = 80  # a genuine token is far shorter; longer input is refused unread
_SHAPE = re.compile(r"FK1\.([0-9A-Za-z]{1,11})\.([0-9A-Za-z]{1,6})\.([A-Za-z0-9_-]{22})")
_VISITOR_SHAPE = re.compile(r"FV1\.([0-9A-Za-z]{1,11})\.([A-Za-z0-9_-]{22})")


class Refusal(StrEnum):
    MALFORMED = "malformed"  # not a pass code at all (another QR code, a typo)
    FORGED = "forged"  # the shape of a pass code with a signature that does not match


class TokenError(ValueError):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


@dataclass(frozen=True)
class PassKey:
    pass_id: int
    version: int


def _signature(body: str, salt: str = SALT) -> str:
    digest = salted_hmac(salt, body, algorithm="sha256").digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def pass_token(pass_id: int, version: int) -> str:
    body = f"{PREFIX}.{signing.b62_encode(pass_id)}.{signing.b62_encode(version)}"
    return f"{body}.{_signature(body)}"


def _verified(token: str, shape: re.Pattern[str], salt: str) -> re.Match[str]:
    """The match of a genuine token of `shape` signed with `salt` (the signature is its
    last group); TokenError otherwise. Exact: a code is read as scanned, nothing
    trimmed. Constant-time signature comparison."""
    token = token or ""
    if len(token) > MAX_LENGTH:
        raise TokenError(Refusal.MALFORMED)
    match = shape.fullmatch(token)
    if match is None:
        raise TokenError(Refusal.MALFORMED)
    body = token.rsplit(".", 1)[0]
    if not hmac.compare_digest(_signature(body, salt), match.group(match.re.groups)):
        raise TokenError(Refusal.FORGED)
    return match


def pass_key(token: str) -> PassKey:
    """The pass id and version of a genuine token; TokenError (malformed or forged)
    otherwise."""
    match = _verified(token, _SHAPE, SALT)
    pass_id, version = signing.b62_decode(match.group(1)), signing.b62_decode(match.group(2))
    if pass_id <= 0 or version <= 0:
        raise TokenError(Refusal.FORGED)
    return PassKey(pass_id=pass_id, version=version)


def is_visitor_code(token: str) -> bool:
    """The shape of a visitor's code (whether genuine is for `visitor_id`)."""
    return (token or "").startswith(VISITOR_PREFIX + ".")


def visitor_token(visitor_id: int) -> str:
    body = f"{VISITOR_PREFIX}.{signing.b62_encode(visitor_id)}"
    return f"{body}.{_signature(body, VISITOR_SALT)}"


def visitor_id(token: str) -> int:
    """The visitor of a genuine visitor's code; TokenError (malformed or forged) otherwise."""
    pk = signing.b62_decode(_verified(token, _VISITOR_SHAPE, VISITOR_SALT).group(1))
    if pk <= 0:
        raise TokenError(Refusal.FORGED)
    return pk
