from __future__ import annotations

from django.http import HttpRequest

from fangkong.accounts.roles import Can, can


def capabilities(request: HttpRequest) -> dict:
    """`can.<capability>` in every template, e.g. {% if can.view_audit %}."""
    user = getattr(request, "user", None)
    return {"can": {c.value: can(user, c) for c in Can} if user is not None else {}}
