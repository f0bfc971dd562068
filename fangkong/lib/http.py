"""One small HTTP client for the outside services fangkong posts to (the SMS gateway, the
chat-group robots). Standard library only.

Redirects are never followed: a signed request is not replayed somewhere unchecked, and
an alert is not sent to an address nobody configured. Any HTTP answer, 4xx and 5xx
included, comes back as (status, body, headers); no answer at all raises TransportError.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any


class TransportError(OSError):
    """No HTTP answer at all: refused connection, timeout, DNS failure, broken response."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float,
         max_response: int = 1 << 20) -> tuple[int, bytes, Mapping[str, str]]:
    """POST `body`; (status, at most `max_response` bytes of the answer, its headers).
    ValueError for a URL that is not http(s)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {url[:40]!r}")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        try:
            response = _OPENER.open(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            return response.getcode(), response.read(max_response), response.headers
    except urllib.error.URLError as error:
        raise TransportError(str(error.reason)) from error
    except (OSError, http.client.HTTPException) as error:
        raise TransportError(f"{type(error).__name__}: {error}") from error


def posted_id(value: str | None) -> int | None:
    """An object id typed into a URL or a form, or None: ASCII digits only (str.isdigit
    also takes "²" and numbers int() refuses), at most 18 of them."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None
