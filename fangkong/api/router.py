"""The JSON API at /api/ (OpenAPI at /api/docs and /api/openapi.json).

Callers authenticate with a bearer token (`Authorization: Bearer fk_...`, integrations)
or the browser's session (unsafe methods need the CSRF token). Errors have one shape:
`{"detail": "..."}`, plus `errors` (field -> messages) for refused input (400).
Out-of-area objects are 404 exactly like missing ones; 403 means the caller's role
cannot do this at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI

from fangkong.api import areas, households, residents
from fangkong.api.auth import SessionAuthWithCsrf, TokenAuth

NOT_FOUND = "Not found."
FULL_WIDTH_STOPS = ("。", "！", "？", "；")

# Service field names that the API spells differently in its input.
API_FIELD_NAMES = {"household": "household_id"}

api = NinjaAPI(
    title="fangkong API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
    auth=[TokenAuth(), SessionAuthWithCsrf()],
)
api.add_router("/", areas.router)
api.add_router("/", residents.router)
api.add_router("/", households.router)


@api.exception_handler(DjangoValidationError)
def refused_input(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    """400 with every field's (translated) messages, keyed by the API's field names."""
    if hasattr(exc, "error_dict"):
        field_errors = {API_FIELD_NAMES.get(name, name): [str(m) for m in messages]
                        for name, messages in exc.message_dict.items()}
    else:
        field_errors = {NON_FIELD_ERRORS: [str(m) for m in exc.messages]}
    detail = _sentences(m for messages in field_errors.values() for m in messages)
    return api.create_response(request, {"detail": detail, "errors": field_errors}, status=400)


def _sentences(messages: Iterable[str]) -> str:
    # Chinese sentences follow each other without a space; English ones need one.
    text = ""
    for message in messages:
        if text and not text.endswith(FULL_WIDTH_STOPS):
            text += " "
        text += message
    return text


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    # The same body whether the object is missing or outside the caller's area.
    return api.create_response(request, {"detail": NOT_FOUND}, status=404)


@api.exception_handler(ObjectDoesNotExist)
def row_vanished(request: HttpRequest, exc: ObjectDoesNotExist) -> HttpResponse:
    # A row deleted between the access gate and the service's locked re-read.
    return api.create_response(request, {"detail": NOT_FOUND}, status=404)


@api.exception_handler(PermissionDenied)
def role_cannot(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Forbidden."}, status=403)
