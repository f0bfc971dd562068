"""A fake WeCom or DingTalk group robot speaking the real webhook protocol over real HTTP.

    with FakeGroupRobot("dingtalk", secret="SECabc") as robot:
        push_markdown(RobotTarget("dingtalk", robot.url, "SECabc"), "标题", "正文")
        assert robot.received[0]["markdown"]["title"] == "标题"

Like the real robots it answers HTTP 200 with ``{"errcode", "errmsg"}``: WeCom 93000 for a
wrong key, DingTalk 300001 for a wrong access_token and 310000 for a missing, stale (over an
hour) or wrong signature, 45009 / 130101 when rate limited (``rate_limit_next(n)``). The
DingTalk signature is checked here from the documented algorithm, independently of the
client. ``fail_next(n, status=502)`` answers with an HTTP error instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PATHS = {"wecom": "/cgi-bin/webhook/send", "dingtalk": "/robot/send"}
RATE_LIMIT_ERRORS = {
    "wecom": (45009, "api freq out of limit"),
    "dingtalk": (130101, "send too fast, exceed 20 times per minute"),
}
MAX_SKEW_MS = 3600 * 1000


class FakeGroupRobot:
    def __init__(self, kind: str, secret: str = "") -> None:
        if kind not in PATHS:
            raise ValueError(kind)
        self.kind = kind
        self.secret = secret
        self.credential = str(uuid.uuid4()) if kind == "wecom" else secrets.token_hex(32)
        self.received: list[dict[str, Any]] = []  # messages accepted (errcode 0)
        self.errcodes: list[int] = []  # the errcode of every answer given with HTTP 200
        self._rate_limited = 0
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The webhook URL, as the robot's settings page would show it."""
        host, port = self._server.server_address[:2]
        param = "key" if self.kind == "wecom" else "access_token"
        return f"http://{host}:{port}{PATHS[self.kind]}?{param}={self.credential}"

    def __enter__(self) -> FakeGroupRobot:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def rate_limit_next(self, n: int = 1) -> None:
        with self._lock:
            self._rate_limited += n

    def fail_next(self, n: int = 1, *, status: int = 502) -> None:
        with self._lock:
            self._failures.extend([status] * n)

    def _answer(self, query: dict[str, list[str]], body: bytes) -> tuple[int, int, str]:
        """Return (HTTP status, errcode, errmsg) for one webhook call."""
        with self._lock:
            if self._failures:
                return self._failures.pop(0), -1, "bad gateway"
            refusal = self._check_credentials(query)
            if refusal is None and self._rate_limited:
                self._rate_limited -= 1
                refusal = RATE_LIMIT_ERRORS[self.kind]
            if refusal is None:
                try:
                    message = _read_markdown(self.kind, body)
                except ValueError as error:
                    refusal = (40008 if self.kind == "wecom" else 40035, str(error))
                else:
                    self.received.append(message)
            errcode, errmsg = refusal or (0, "ok")
            self.errcodes.append(errcode)
            return 200, errcode, errmsg

    def _check_credentials(self, query: dict[str, list[str]]) -> tuple[int, str] | None:
        def first(name: str) -> str:
            return query.get(name, [""])[0]

        if self.kind == "wecom":
            if not hmac.compare_digest(first("key"), self.credential):
                return 93000, "invalid webhook url, hint: the key is wrong"
            return None
        if not hmac.compare_digest(first("access_token"), self.credential):
            return 300001, "token is not exist"
        if not self.secret:
            return None
        timestamp, sign = first("timestamp"), first("sign")
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > MAX_SKEW_MS:
            return 310000, "timestamp is missing or more than an hour off"
        string_to_sign = f"{timestamp}\n{self.secret}".encode()
        digest = hmac.new(self.secret.encode(), string_to_sign, hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), sign):
            return 310000, "sign not match"
        return None


def _read_markdown(kind: str, body: bytes) -> dict[str, Any]:
    message = json.loads(body)
    if not isinstance(message, dict) or message.get("msgtype") not in ("markdown", "text"):
        raise ValueError("invalid message type")
    content = message.get(message["msgtype"])
    fields = ("content",) if kind == "wecom" or message["msgtype"] == "text" else ("title", "text")
    if not isinstance(content, dict) or not all(
        isinstance(content.get(f), str) and content[f] for f in fields
    ):
        raise ValueError(f"missing {' or '.join(fields)}")
    if kind == "wecom" and len(content["content"].encode()) > 4096:
        raise ValueError("content exceed max length 4096")
    return message


def _handler(robot: FakeGroupRobot) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            if parts.path != PATHS[robot.kind]:
                status, errcode, errmsg = 404, 404, "not found"
            else:
                status, errcode, errmsg = robot._answer(parse_qs(parts.query), body)
            payload = json.dumps({"errcode": errcode, "errmsg": errmsg}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output clean

    return Handler
