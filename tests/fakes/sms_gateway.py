"""A fake SMS gateway speaking the real protocol over real HTTP on 127.0.0.1.

    with FakeSmsGateway(account="acc", secret="s3cret") as gw:
        SmsGateway(GatewayConfig(base_url=gw.url, account="acc", secret="s3cret")).send(...)
        assert [m.to for m in gw.sent] == ["13800138000"]

It checks the signature, the clock skew and nonce replay as the real gateway does (401 JSON
``{"code": "auth_failed", "message": reason}``), sends a client_id only once ever, and can
be scripted: ``fail_next(n, status=503)``, ``throttle_next(n, retry_after=1)``,
``invalid_numbers``, ``blocked``, ``clock_offset`` (seconds the gateway's clock is ahead).
Toward us it builds signed delivery reports and inbound replies (``report_body``,
``inbound_body``) and posts them (``post``).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fangkong.followup.channels.sms.gateway import (
    MAX_BATCH,
    SEND_PATH,
    normalize_number,
    post,
    signed_headers,
    verify_signed,
)

MAX_TEXT = 500  # characters; longer texts are "rejected"
MAINLAND_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)


@dataclass(frozen=True)
class SentSms:
    client_id: str
    to: str  # normalised: 11 digits for a mainland mobile
    text: str
    sign: str
    message_id: str
    at: float  # time.time() when accepted


@dataclass(frozen=True)
class SeenRequest:
    path: str
    status: int
    batch_size: int  # messages in a send request; 0 when not read


class FakeSmsGateway:
    def __init__(self, *, account: str, secret: str, service_number: str = "106900001234") -> None:
        self.account = account
        self.secret = secret
        self.service_number = service_number
        self.invalid_numbers: set[str] = set()
        self.blocked: set[str] = set()
        self.clock_offset = 0.0
        self.sent: list[SentSms] = []
        self.requests: list[SeenRequest] = []
        self._results: dict[str, dict[str, Any]] = {}  # client_id -> first accepted result
        self._nonces: set[str] = set()
        self._failures: list[int] = []
        self._throttles: list[float] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeSmsGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # Scripting

    def fail_next(self, n: int = 1, *, status: int = 503) -> None:
        """Answer the next ``n`` send requests with ``status`` before looking at them."""
        with self._lock:
            self._failures.extend([status] * n)

    def throttle_next(self, n: int = 1, *, retry_after: float = 1) -> None:
        """Answer the next ``n`` authenticated send requests with 429 and Retry-After."""
        with self._lock:
            self._throttles.extend([retry_after] * n)

    # Acting as the gateway toward us

    def signed_headers(self, body: bytes, **kwargs: Any) -> dict[str, str]:
        """Headers signing ``body``; ``timestamp=`` and ``nonce=`` may be forced."""
        headers = signed_headers(self.secret, body, account=self.account, **kwargs)
        return {"Content-Type": "application/json; charset=utf-8", **headers}

    def report_body(
        self,
        *message_ids: str,
        status: str = "delivered",
        error_code: str = "",
        at: datetime | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A signed delivery report on messages accepted before (all with one status)."""
        by_id = {sms.message_id: sms for sms in self.sent}
        when = (at or datetime.now(UTC)).isoformat()
        reports = [
            {
                "message_id": mid,
                "client_id": by_id[mid].client_id,
                "to": "+86" + by_id[mid].to,
                "status": status,
                "error_code": error_code if status != "delivered" else "",
                "time": when,
            }
            for mid in message_ids
        ]
        body = json.dumps({"reports": reports}, ensure_ascii=False).encode()
        return body, self.signed_headers(body)

    def inbound_body(
        self, sender: str, text: str, *, at: datetime | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A signed inbound SMS from ``sender`` to the service number."""
        message = {
            "from": sender if sender.startswith("+") else "+86" + sender,
            "to": self.service_number,
            "text": text,
            "time": (at or datetime.now(UTC)).isoformat(),
            "message_id": f"in{next(self._ids):08d}",
        }
        body = json.dumps({"messages": [message]}, ensure_ascii=False).encode()
        return body, self.signed_headers(body)

    @staticmethod
    def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST over real HTTP; return (status, body) whatever the status."""
        status, reply, _ = post(url, body, headers, timeout=10)
        return status, reply

    # Serving

    def _answer_send(self, headers: dict[str, str], body: bytes) -> tuple[int, dict, dict]:
        """Return (status, JSON answer, extra headers) for a send request."""
        with self._lock:
            if self._failures:
                return self._failures.pop(0), {"code": "unavailable", "message": "outage"}, {}
            if headers.get("x-account") != self.account:
                return 401, {"code": "auth_failed", "message": "unknown account"}, {}
            reason = verify_signed(
                self.secret,
                body,
                headers,
                now=time.time() + self.clock_offset,
                seen_nonce=self._seen_nonce,
            )
            if reason is not None:
                return 401, {"code": "auth_failed", "message": reason}, {}
            if self._throttles:
                retry_after = self._throttles.pop(0)
                answer = {"code": "rate_limited", "message": "too many requests"}
                return 429, answer, {"Retry-After": f"{retry_after:g}"}
            try:
                messages = _read_batch(body, self.account)
            except ValueError as error:
                return 400, {"code": "bad_request", "message": str(error)}, {}
            return 200, {"results": [self._send_one(m) for m in messages]}, {}

    def _seen_nonce(self, nonce: str) -> bool:
        seen = nonce in self._nonces
        self._nonces.add(nonce)
        return seen

    def _send_one(self, message: dict[str, Any]) -> dict[str, Any]:
        client_id = message["client_id"]
        if client_id in self._results:
            return {**self._results[client_id], "duplicate": True}
        try:
            to = normalize_number(message["to"])
        except ValueError:
            to = ""
        if not MAINLAND_MOBILE.fullmatch(to) or to in self.invalid_numbers:
            return _result(client_id, "invalid_number", error="not a mainland mobile")
        if to in self.blocked:
            return _result(client_id, "blocked", error="recipient unsubscribed")
        if not message["text"] or len(message["text"]) > MAX_TEXT:
            return _result(client_id, "rejected", error="empty or too long text")
        result = _result(client_id, "accepted", message_id=f"m{next(self._ids):08d}")
        self._results[client_id] = result
        self.sent.append(
            SentSms(
                client_id, to, message["text"], message["sign"], result["message_id"], time.time()
            )
        )
        return result


def _result(client_id: str, status: str, *, message_id: str = "", error: str = "") -> dict:
    return {"client_id": client_id, "status": status, "message_id": message_id, "error": error}


def _read_batch(body: bytes, account: str) -> list[dict[str, Any]]:
    data = json.loads(body)
    if not isinstance(data, dict) or data.get("account") != account:
        raise ValueError("account in body differs from X-Account")
    messages = data.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_BATCH:
        raise ValueError(f"messages must be a list of 1 to {MAX_BATCH}")
    for m in messages:
        if not (
            isinstance(m, dict)
            and isinstance(m.get("client_id"), str)
            and 0 < len(m["client_id"]) <= 64
            and isinstance(m.get("to"), str)
            and isinstance(m.get("text"), str)
        ):
            raise ValueError("each message needs client_id (1-64), to and text strings")
        m.setdefault("sign", "")
    return messages


def _handler(gateway: FakeSmsGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            size = 0
            if self.path != SEND_PATH:
                status, answer, extra = 404, {"code": "not_found", "message": self.path}, {}
            else:
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, answer, extra = gateway._answer_send(headers, body)
                size = len(json.loads(body).get("messages", [])) if status == 200 else 0
            gateway.requests.append(SeenRequest(self.path, status, size))
            payload = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output clean

    return Handler
