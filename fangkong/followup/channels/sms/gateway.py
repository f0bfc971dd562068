"""Client for the HTTP SMS gateway, and the checks for what the gateway posts back to us.

The protocol (modelled on the Chinese cloud SMS APIs):

* **Send**: ``POST {base_url}/v1/sms/send`` with ``{"account": ..., "messages": [{"client_id",
  "to", "text", "sign"}]}``, at most 100 messages. The answer is ``{"results": [{"client_id",
  "status", "message_id", "error"}]}``. ``client_id`` is an idempotency key: the gateway sends
  a client_id once ever and answers a repeat with the first result, so resending after any
  failure is safe. 401 = refused credentials, 429 = rate limited (``Retry-After``), 5xx =
  outage.
* **Delivery reports** and **inbound SMS**: the gateway posts ``{"reports": [...]}`` and
  ``{"messages": [...]}`` to our callbacks (see :func:`parse_reports`, :func:`parse_inbound`).

Every request, both ways, is signed with the shared secret: headers ``X-Account``,
``X-Timestamp`` (unix seconds), ``X-Nonce`` and ``X-Signature`` = hex HMAC-SHA256 of
``f"{timestamp}\\n{nonce}\\n{sha256hex(body)}"`` (see :func:`sign_request`,
:func:`verify_signed`).

Pure standard library, no Django: the test fake uses it too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from fangkong.lib.http import TransportError
from fangkong.lib.http import post as http_post

MAX_BATCH = 100
SEND_PATH = "/v1/sms/send"
GATEWAY_STATUSES = frozenset({"accepted", "invalid_number", "blocked", "rejected"})
REPORT_STATUSES = frozenset({"delivered", "failed", "expired"})
# Only letters, digits, "_" and "-": nonces end up as cache keys on our side.
_NONCE = re.compile(r"[0-9A-Za-z_-]{8,64}", re.ASCII)
_TIMESTAMP = re.compile(r"\d{1,12}", re.ASCII)
_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)
_NUMBER = re.compile(r"\+?\d{3,20}", re.ASCII)
_NUMBER_SEPARATORS = re.compile(r"[\s\-()]+")
_MAX_RESPONSE = 1 << 20


class GatewayAuthError(Exception):
    """The gateway refused our credentials (or the clocks differ by more than 5 minutes):
    a configuration error an operator must fix, so it is raised, not reported per message."""


@dataclass(frozen=True)
class OutgoingSms:
    client_id: str  # idempotency key, unique per message ever (e.g. "round-17-resident-42")
    to: str
    text: str


@dataclass(frozen=True)
class SendResult:
    """``status``: what the gateway said ("accepted", "invalid_number", "blocked",
    "rejected"), or "failed" (no usable answer: outage, timeout; retry later, it is safe) or
    "throttled" (rate limited; retry after ``retry_after`` seconds when known)."""

    client_id: str
    status: str
    message_id: str = ""
    error: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class GatewayConfig:
    base_url: str
    account: str
    secret: str
    sign: str = ""  # the registered signature, e.g. "【某某社区】"
    timeout: float = 10.0


@dataclass(frozen=True)
class DeliveryReport:
    message_id: str
    client_id: str
    to: str
    status: str  # "delivered" | "failed" | "expired"
    error_code: str
    time: datetime  # aware


@dataclass(frozen=True)
class InboundSms:
    sender: str  # the "from" of the protocol
    to: str  # our service number, e.g. "106900001234"
    text: str
    time: datetime  # aware
    message_id: str


def sign_request(secret: str, body: bytes, *, timestamp: int, nonce: str) -> str:
    """Return the hex HMAC-SHA256 signature of a request body (see the module docstring)."""
    payload = f"{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}".encode()
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, *, account: str, timestamp: int | None = None, nonce: str = ""
) -> dict[str, str]:
    """Return the four auth headers for ``body``, with the current time and a fresh nonce
    unless given."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(16)
    return {
        "X-Account": account,
        "X-Timestamp": str(timestamp),
        "X-Nonce": nonce,
        "X-Signature": sign_request(secret, body, timestamp=timestamp, nonce=nonce),
    }


def verify_signed(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float,
    seen_nonce: Callable[[str], bool],
    max_skew: int = 300,
) -> str | None:
    """Check a signed request; return None when good, else the reason: "missing signature",
    "stale timestamp" (also an unreadable one), "bad signature" (also a malformed nonce) or
    "nonce reused".

    Header names are matched case-insensitively (pass Django's ``request.headers``, not
    ``request.META``). ``seen_nonce(nonce)`` is called last, only
    for a correctly signed fresh request: it must record the nonce and return whether it had
    been seen before, atomically (e.g. ``not cache.add(key, 1, max_skew * 2)``), so that
    forged requests cannot fill the nonce store.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    timestamp = lowered.get("x-timestamp", "").strip()
    nonce = lowered.get("x-nonce", "").strip()
    signature = lowered.get("x-signature", "").strip().lower()
    if not (timestamp and nonce and signature):
        return "missing signature"
    if not _TIMESTAMP.fullmatch(timestamp) or abs(now - int(timestamp)) > max_skew:
        return "stale timestamp"
    if not _NONCE.fullmatch(nonce):
        return "bad signature"
    expected = sign_request(secret, body, timestamp=int(timestamp), nonce=nonce)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "bad signature"
    if seen_nonce(nonce):
        return "nonce reused"
    return None


def normalize_number(raw: str) -> str:
    """Return a mainland mobile as its 11 digits ("+86 138 0013 8000" -> "13800138000");
    any other number (a service number, a foreign one) with only its separators removed.
    Raises ValueError when ``raw`` is not a phone number at all."""
    cleaned = _NUMBER_SEPARATORS.sub("", raw)
    for prefix in ("+86", "0086", "86"):
        rest = cleaned.removeprefix(prefix)
        if rest != cleaned and _MOBILE.fullmatch(rest):
            return rest
    if not _NUMBER.fullmatch(cleaned):
        raise ValueError(f"not a phone number: {raw[:40]!r}")
    return cleaned


def parse_reports(body: bytes) -> list[DeliveryReport]:
    """Parse a delivery-report callback body (already verified with :func:`verify_signed`).

    Raises ValueError naming the first problem; the whole body is refused then.
    """
    items = _items(body, "reports")
    reports = []
    for index, item in enumerate(items):
        where = f"reports[{index}]"
        status = _text(item, "status", where)
        if status not in REPORT_STATUSES:
            raise ValueError(f"{where}: unknown status {status[:40]!r}")
        error_code = item.get("error_code", "")
        if isinstance(error_code, int) and not isinstance(error_code, bool):
            error_code = str(error_code)  # some gateways send numeric codes
        if not isinstance(error_code, str):
            raise ValueError(f"{where}: error_code is not a string")
        reports.append(
            DeliveryReport(
                message_id=_text(item, "message_id", where),
                client_id=_text(item, "client_id", where, required=False),
                to=_number(item, "to", where),
                status=status,
                error_code=error_code,
                time=_time(item, where),
            )
        )
    return reports


def parse_inbound(body: bytes) -> list[InboundSms]:
    """Parse an inbound-SMS callback body (already verified with :func:`verify_signed`).

    The text is kept as sent (an empty reply is a reply). Raises ValueError naming the first
    problem; the whole body is refused then.
    """
    items = _items(body, "messages")
    messages = []
    for index, item in enumerate(items):
        where = f"messages[{index}]"
        messages.append(
            InboundSms(
                sender=_number(item, "from", where),
                to=_number(item, "to", where),
                text=_text(item, "text", where, required=False),
                time=_time(item, where),
                message_id=_text(item, "message_id", where),
            )
        )
    return messages


class SmsGateway:
    """Sends SMS through the gateway; one instance per configured account, thread-safe."""

    def __init__(self, config: GatewayConfig) -> None:
        if not config.base_url.startswith(("https://", "http://")):
            raise ValueError("SMS gateway base_url must be an http(s) URL")
        if not (config.account and config.secret):
            raise ValueError("SMS gateway account and secret are required")
        self.config = config
        self._url = config.base_url.rstrip("/") + SEND_PATH

    def send(self, messages: list[OutgoingSms]) -> list[SendResult]:
        """Send ``messages`` in batches of 100; return one result per message, in order.

        Transport problems never raise: a 5xx, a timeout or a refused connection makes every
        message of that batch "failed", a 429 "throttled". Raises :class:`GatewayAuthError`
        on 401/403; batches sent before stay sent, and resending them is harmless because the
        gateway deduplicates by client_id. Mainland mobiles are sent as "+86" and 11 digits.
        """
        results: list[SendResult] = []
        for start in range(0, len(messages), MAX_BATCH):
            results.extend(self._send_batch(messages[start : start + MAX_BATCH]))
        return results

    def _send_batch(self, batch: list[OutgoingSms]) -> list[SendResult]:
        payload = {
            "account": self.config.account,
            "messages": [
                {
                    "client_id": m.client_id,
                    "to": _international(m.to),
                    "text": m.text,
                    "sign": self.config.sign,
                }
                for m in batch
            ],
        }
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = signed_headers(self.config.secret, body, account=self.config.account)
        headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            status, reply, reply_headers = post(self._url, body, headers, self.config.timeout)
        except TransportError as error:
            return [SendResult(m.client_id, "failed", error=str(error)) for m in batch]
        if status in (401, 403):
            raise GatewayAuthError(f"SMS gateway refused the credentials: {_error_text(reply)}")
        if status == 429:
            retry_after = _retry_after(reply_headers.get("Retry-After", ""))
            return [
                SendResult(m.client_id, "throttled", error="rate limited", retry_after=retry_after)
                for m in batch
            ]
        if status != 200:
            error = f"HTTP {status}: {_error_text(reply)}"
            return [SendResult(m.client_id, "failed", error=error) for m in batch]
        return _results(batch, reply)


def post(url: str, body: bytes, headers: Mapping[str, str],
         timeout: float) -> tuple[int, bytes, Mapping[str, str]]:
    """POST to the gateway (fangkong.lib.http: no redirects; TransportError without an
    answer)."""
    return http_post(url, body, headers, timeout=timeout, max_response=_MAX_RESPONSE)


def _international(number: str) -> str:
    try:
        normalized = normalize_number(number)
    except ValueError:
        return number  # the gateway answers "invalid_number"
    return "+86" + normalized if _MOBILE.fullmatch(normalized) else normalized


def _results(batch: list[OutgoingSms], reply: bytes) -> list[SendResult]:
    try:
        answers = json.loads(reply)["results"]
        by_client_id = {a["client_id"]: a for a in answers if isinstance(a, dict)}
    except (ValueError, KeyError, TypeError) as error:
        return [
            SendResult(m.client_id, "failed", error=f"unreadable answer: {error}") for m in batch
        ]
    results = []
    for message in batch:
        answer = by_client_id.get(message.client_id)
        if answer is None:
            results.append(SendResult(message.client_id, "failed", error="no result in answer"))
            continue
        status = answer.get("status")
        if status not in GATEWAY_STATUSES:
            results.append(
                SendResult(message.client_id, "failed", error=f"unknown status {status!r}")
            )
            continue
        results.append(
            SendResult(
                message.client_id,
                status,
                message_id=str(answer.get("message_id") or ""),
                error=str(answer.get("error") or ""),
            )
        )
    return results


def _error_text(reply: bytes) -> str:
    try:
        data = json.loads(reply)
        return f"{data['code']}: {data.get('message', '')}"
    except (ValueError, KeyError, TypeError):
        return reply[:200].decode("utf-8", "replace") or "(empty answer)"


def _retry_after(value: str) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if unknown."""
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _items(body: bytes, key: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise ValueError(f"body is not UTF-8 JSON: {error}") from None
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError(f'body has no "{key}" list')
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{key}[{index}] is not an object")
    return items


def _text(item: dict[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = item.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"{where}: {name} is missing or not a string")
    return value


def _number(item: dict[str, Any], name: str, where: str) -> str:
    try:
        return normalize_number(_text(item, name, where))
    except ValueError as error:
        raise ValueError(f"{where}: {name}: {error}") from None


def _time(item: dict[str, Any], where: str) -> datetime:
    raw = _text(item, "time", where)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{where}: time {raw[:40]!r} is not ISO 8601") from None
    if value.tzinfo is None:
        raise ValueError(f"{where}: time {raw[:40]!r} has no UTC offset")
    return value
