"""A resident opens their pass by typing their mobile number and a 6-digit code sent to
it by SMS (no account, no password): for people who lost their link or never had one.

- **Who a number opens:** the active residents whose phone (or one of their other
  phones) it is, and the active residents a proxy with that phone looks after, found by
  the phone's blind index (`fangkong.residents.personal.phone_index`); never by reading
  a phone in clear.
- **No enumeration:** a code is made and stored for every well-formed mobile number,
  known or not, and the page answers alike; only a known number is sent the SMS. The
  SMS leaves from a background thread (`_deliver`), so the answer takes as long for an
  unknown number as for a known one, and a slow gateway never holds up the request (the
  sync views of an ASGI server share one thread).
- **The code:** 6 digits from `secrets`, valid for CODE_MINUTES (on fangkong's clock),
  MAX_TRIES wrong tries lock it (a new code must be asked for). Only a keyed hash of it
  (HMAC with the secret key) is stored, in Django's cache under a hash of the phone's
  blind index: no new table, and nothing in clear anywhere.
- **Rate limits** (lib.counters, fixed windows of an hour): codes sent per number
  (PASSES_CODES_PER_PHONE_HOUR, 3) and per client address (PASSES_CODES_PER_IP_HOUR,
  10), code tries per address (PASSES_CODE_TRIES_PER_IP_HOUR, 30). They count known and
  unknown numbers alike.
- A resident who replied TD to the follow-up SMS is still sent the code: they asked for
  it on the page themselves, and the limits stop anyone using this to flood a number.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from fangkong.lib import clock
from fangkong.lib.counters import window_add
from fangkong.lib.phone import PhoneError, mask_phone, parse_phone
from fangkong.residents.models import ContactPhone, Proxy, Resident, ResidentStatus
from fangkong.residents.personal import phone_index

log = logging.getLogger(__name__)

CODE_MINUTES = 10
MAX_TRIES = 5
SESSION_HOURS = 24  # how long a correct code keeps the passes open in that browser
WINDOW = 3600
_SALT = "fangkong.passes.phone_code"
_PREFIX = "fangkong.passes.code"


def codes_per_phone() -> int:
    return int(getattr(settings, "PASSES_CODES_PER_PHONE_HOUR", 3))


def codes_per_ip() -> int:
    return int(getattr(settings, "PASSES_CODES_PER_IP_HOUR", 10))


def tries_per_ip() -> int:
    return int(getattr(settings, "PASSES_CODE_TRIES_PER_IP_HOUR", 30))


@dataclass(frozen=True)
class Phone:
    """A typed mobile number, as the login keeps it: its blind index and masked form (the
    session holds these, never the number)."""

    number: str
    index: str
    masked: str


def mobile_of(typed: str) -> Phone:
    """The mobile number typed; PhoneError (with a message for the page) otherwise. Only
    mobiles: a landline cannot receive the code."""
    phone = parse_phone(typed or "")
    if phone.kind != "mobile":
        raise PhoneError("mobile_prefix", _("Type a mobile number (11 digits starting with "
                                            "13-19): the code is sent by text message."))
    return Phone(number=phone.number, index=phone_index(phone.number),
                 masked=mask_phone(phone.number))


def residents_of_phone(index: str) -> list[int]:
    """The ids of the active residents a phone opens (see the module docstring)."""
    others = ContactPhone.objects.filter(index=index).values("resident_id")
    looked_after = Proxy.objects.filter(phone_index=index).values("resident_id")
    return list(Resident.objects.filter(Q(phone_index=index) | Q(pk__in=others)
                                        | Q(pk__in=looked_after),
                                        status=ResidentStatus.ACTIVE)
                .order_by("pk").values_list("pk", flat=True))


def _key(index: str, what: str) -> str:
    return f"{_PREFIX}.{what}.{hashlib.sha256(index.encode()).hexdigest()[:40]}"


def _digest(index: str, code: str) -> str:
    return salted_hmac(_SALT, f"{index}:{code}", algorithm="sha256").hexdigest()


class Asked(StrEnum):
    SENT = "sent"  # a code is stored (and sent when the number is known)
    LIMITED = "limited"  # too many codes for this number or from this address


def code_request(*, phone: Phone, ip: str | None) -> Asked:
    """Make a new code for `phone` (replacing an earlier one and its tries) and text it
    when the number opens anyone. The same answer for known and unknown numbers."""
    if window_add(f"{_PREFIX}.ip_sends.{ip or '-'}", window=WINDOW) > codes_per_ip():
        return Asked.LIMITED
    if window_add(_key(phone.index, "sends"), window=WINDOW) > codes_per_phone():
        return Asked.LIMITED
    code = f"{secrets.randbelow(10**6):06d}"
    expires = clock.now() + timedelta(minutes=CODE_MINUTES)
    cache.set(_key(phone.index, "code"), {"digest": _digest(phone.index, code),
                                          "expires": expires.timestamp()},
              timeout=CODE_MINUTES * 60)
    cache.delete(_key(phone.index, "tries"))
    if residents_of_phone(phone.index):
        text = _("Your code to open your pass: %(code)s. Valid for %(n)d minutes. Do not "
                 "tell it to anyone: staff never ask for it.") % {"code": code,
                                                                  "n": CODE_MINUTES}
        _deliver(phone, text, client_id=f"pass-code-{secrets.token_hex(10)}")
    return Asked.SENT


class Checked(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"  # too many wrong tries: ask for a new code
    EXPIRED = "expired"  # no code, or older than CODE_MINUTES
    LIMITED = "limited"  # too many tries from this address


@dataclass(frozen=True)
class CodeCheck:
    outcome: Checked
    resident_ids: tuple[int, ...] = ()
    tries_left: int = 0


def code_check(*, index: str, code: str, ip: str | None) -> CodeCheck:
    """Check a typed code for the phone of `index`. A correct one is used up; the
    residents it opens come with it (possibly none, for an unknown number whose code was
    guessed)."""
    if window_add(f"{_PREFIX}.ip_tries.{ip or '-'}", window=WINDOW) > tries_per_ip():
        return CodeCheck(Checked.LIMITED)
    code_key, tries_key = _key(index, "code"), _key(index, "tries")
    stored = cache.get(code_key)
    if not isinstance(stored, dict) or stored.get("expires", 0) < clock.now().timestamp():
        return CodeCheck(Checked.EXPIRED)
    if stored.get("locked"):
        return CodeCheck(Checked.LOCKED)
    # Counted before the code is compared, so that guesses sent at once cannot all slip
    # in under the limit.
    tries = window_add(tries_key, window=CODE_MINUTES * 60)
    if tries > MAX_TRIES:
        return CodeCheck(Checked.LOCKED)
    typed = "".join((code or "").split())[:12]
    if hmac.compare_digest(stored["digest"], _digest(index, typed)):
        cache.delete_many([code_key, tries_key])
        return CodeCheck(Checked.OK, resident_ids=tuple(residents_of_phone(index)))
    if tries >= MAX_TRIES:
        # Kept (locked) until it expires, so that the page keeps saying "ask again".
        cache.set(code_key, {**stored, "locked": True}, timeout=CODE_MINUTES * 60)
        return CodeCheck(Checked.LOCKED)
    return CodeCheck(Checked.WRONG, tries_left=MAX_TRIES - tries)


# Sending ----------------------------------------------------------------------------------

_pending: list[threading.Thread] = []
_pending_lock = threading.Lock()


def _deliver(phone: Phone, text: str, *, client_id: str) -> None:
    """Send the SMS from a background thread (see the module docstring); without a
    configured gateway, nothing is sent (logged, without the number or the code)."""
    if not settings.SMS_GATEWAY_URL:
        log.warning("no SMS gateway configured: a pass login code for %s was not sent",
                    phone.masked)
        return
    from fangkong.followup.channels.sms.gateway import OutgoingSms
    from fangkong.followup.channels.sms.transport import gateway_client

    try:
        gateway = gateway_client()  # reads the settings here, in the request's thread
    except ValueError:
        log.exception("SMS gateway misconfigured: a pass login code was not sent")
        return
    message = OutgoingSms(client_id=client_id, to=phone.number, text=text)
    masked = phone.masked

    def send() -> None:
        try:
            result = gateway.send([message])[0]
        except Exception:  # the thread must end quietly; the resident can ask again
            log.exception("pass login code to %s not sent", masked)
            return
        if result.status != "accepted":
            log.warning("pass login code to %s: gateway said %s %s", masked, result.status,
                        result.error)

    thread = threading.Thread(target=send, name="fangkong-pass-code", daemon=True)
    with _pending_lock:
        _pending[:] = [t for t in _pending if t.is_alive()]
        _pending.append(thread)
    thread.start()


def deliveries_wait(timeout: float = 15.0) -> None:
    """Wait for the codes being sent (tests, and a clean shutdown)."""
    with _pending_lock:
        threads = list(_pending)
    for thread in threads:
        thread.join(timeout)
