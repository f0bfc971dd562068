"""Test clients that share one request handler.

Each new django.test.Client builds the middleware chain on its first request, and
WhiteNoise (WHITENOISE_USE_FINDERS) walks every static directory while doing so: about
25 ms per client. The handler holds no per-client state (cookies live on the Client),
so the clients of these tests share one.
"""

from __future__ import annotations

from django.test import Client

_handler = None


def make_client(user=None, *, language: str | None = None) -> Client:  # noqa: ANN001
    """A test client, logged in as `user` when given (without hashing a password), asking
    for pages in `language` when given (else the default, Chinese)."""
    global _handler  # noqa: PLW0603
    client = Client()
    if _handler is None:
        _handler = client.handler
    else:
        client.handler = _handler
    if user is not None:
        client.force_login(user)
    if language is not None:
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client
