"""Optional push of alert summaries to a community's WeCom (企业微信) or DingTalk group robot.

Both robots take a JSON POST to a webhook URL that carries the credential in its query
(``key=`` for WeCom, ``access_token=`` for DingTalk) and answer HTTP 200 with
``{"errcode": 0, "errmsg": "ok"}`` or an error code. A DingTalk robot may also require a
signature: ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret,
f"{timestamp}\\n{secret}")) added to the query. Each robot takes about 20 messages a minute.

Pure standard library. Reasons and errors are English, for logs and for the form that
configures a robot to translate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from fangkong.lib.http import post as http_post

# kind -> (host, path, the query parameter holding the credential)
WEBHOOKS = {
    "wecom": ("qyapi.weixin.qq.com", "/cgi-bin/webhook/send", "key"),
    "dingtalk": ("oapi.dingtalk.com", "/robot/send", "access_token"),
}
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
RATE_LIMITED = frozenset({45009, 130101})  # WeCom, DingTalk
# WeCom refuses markdown over 4096 bytes; the same cap keeps DingTalk well inside its limit.
MAX_CONTENT_BYTES = 4096
_MAX_RESPONSE = 1 << 16


@dataclass(frozen=True)
class RobotTarget:
    kind: str  # "wecom" | "dingtalk"
    url: str  # the webhook URL as the robot's settings page shows it
    secret: str = ""  # DingTalk "加签" secret (SEC...); WeCom robots have none


@dataclass(frozen=True)
class PushResult:
    ok: bool
    error: str = ""
    retry: bool = False  # worth trying again later: rate limit, outage, network problem


def push_markdown(
    target: RobotTarget, title: str, text: str, *, timeout: float = 10.0, now_ms: int | None = None
) -> PushResult:
    """Post one markdown message (``title`` as its heading) to the group robot.

    Never raises for network or robot problems: they come back as ``ok=False`` with the
    reason, ``retry=True`` for rate limits, 5xx, timeouts and unreachable hosts. A URL that
    :func:`validate_robot_url` refuses is not contacted. Text over 4096 bytes is cut with
    "…". ``now_ms`` is the DingTalk signing time (default: now).
    """
    reason = validate_robot_url(target.kind, target.url)
    if reason is not None:
        return PushResult(ok=False, error=f"invalid webhook URL: {reason}")
    content = _truncate(f"### {title}\n\n{text}")
    url = target.url
    if target.kind == "wecom":
        message: dict[str, Any] = {"msgtype": "markdown", "markdown": {"content": content}}
    else:
        message = {"msgtype": "markdown", "markdown": {"title": title, "text": content}}
        if target.secret:
            now_ms = int(time.time() * 1000) if now_ms is None else now_ms
            url = _with_signature(url, target.secret, now_ms)
    body = json.dumps(message, ensure_ascii=False).encode()
    try:
        status, reply = _post(url, body, timeout)
    except OSError as error:  # fangkong.lib.http.TransportError: no answer at all
        return PushResult(ok=False, error=f"network: {error}", retry=True)
    if status != 200:
        return PushResult(ok=False, error=f"HTTP {status}", retry=status == 429 or status >= 500)
    try:
        answer = json.loads(reply)
        errcode, errmsg = int(answer["errcode"]), str(answer.get("errmsg", ""))
    except (ValueError, KeyError, TypeError):
        return PushResult(ok=False, error="unreadable answer", retry=True)
    if errcode == 0:
        return PushResult(ok=True)
    return PushResult(ok=False, error=f"errcode {errcode}: {errmsg}", retry=errcode in RATE_LIMITED)


def validate_robot_url(kind: str, url: str) -> str | None:
    """Return why ``url`` is not a plausible ``kind`` robot webhook, or None.

    A webhook is https on the robot's own host (default port) and path, with its credential
    (``key=`` / ``access_token=``) in the query. http or https on 127.0.0.1, localhost or
    [::1], any port, is allowed too (tests, a private relay), with the same path and query.
    """
    if kind not in WEBHOOKS:
        return f"unknown robot kind {kind!r}"
    host, path, credential = WEBHOOKS[kind]
    if not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url):
        return "the URL contains spaces, control or non-ASCII characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL is malformed"
    if parts.username is not None or parts.password is not None:
        return "the URL must not contain a user name or password"
    local = parts.hostname in LOCAL_HOSTS
    if parts.scheme != "https" and not (local and parts.scheme == "http"):
        return "the URL must start with https://"
    if not local and (parts.hostname != host or port not in (None, 443)):
        return f"a {kind} webhook is on {host}"
    if parts.path != path:
        return f"the path of a {kind} webhook is {path}"
    if not parse_qs(parts.query).get(credential, [""])[0].strip():
        return f"the URL has no {credential}="
    return None


def _with_signature(url: str, secret: str, now_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{now_ms}\n{secret}".encode(), hashlib.sha256).digest()
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("timestamp", "sign")]
    query += [("timestamp", str(now_ms)), ("sign", base64.b64encode(digest).decode())]
    return urlunsplit(parts._replace(query=urlencode(query)))  # urlencode quotes the sign


def _truncate(content: str) -> str:
    encoded = content.encode()
    if len(encoded) <= MAX_CONTENT_BYTES:
        return content
    cut = encoded[: MAX_CONTENT_BYTES - len("…".encode())].decode(errors="ignore")
    return cut + "…"


def _post(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    """POST JSON; return (status, body) for any HTTP answer; OSError when there is none.
    The scheme is http(s): validate_robot_url checked the URL."""
    status, reply, _headers = http_post(
        url, body, {"Content-Type": "application/json; charset=utf-8"}, timeout=timeout,
        max_response=_MAX_RESPONSE)
    return status, reply
