"""The JSON API at /api/ (OpenAPI at /api/docs and /api/openapi.json).

Callers authenticate with a bearer token (`Authorization: Bearer fk_...`, integrations)
or the browser's session (unsafe methods need the CSRF token). Errors have one shape:
`{"detail": "..."}`, plus `errors` (field -> messages) for refused input (400). A request
of the wrong shape (422) keeps ninja's `detail` list and has the same `errors`.
Out-of-area objects are 404 exactly like missing ones; 403 means the caller's role
cannot do this at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import (
    NON_FIELD_ERRORS,
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import NinjaAPI
from ninja.errors import ValidationError as RequestValidationError

from fangkong.api import areas, followup, gates, households, residents, rosters
from fangkong.api.auth import SessionAuthWithCsrf, TokenAuth
from fangkong.api.schemas import UNSAFE_TEXT

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
api.add_router("/", rosters.router)
api.add_router("/", followup.router)
api.add_router("/", gates.router)


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


# pydantic error type -> a message for a person; `ctx` values fill the placeholders.
_DATE = gettext_lazy("Enter a date as YYYY-MM-DD.")
_WHOLE_NUMBER = gettext_lazy("Enter a whole number.")
_NOT_VALID = gettext_lazy("Not a valid value.")
REQUEST_ERROR_MESSAGES = {
    "missing": gettext_lazy("This field is required."),
    "string_too_long": gettext_lazy(
        "This value is too long (at most %(max_length)s characters)."),
    "too_long": gettext_lazy("Too many entries (at most %(max_length)s)."),
    "string_type": gettext_lazy("Enter text."),
    UNSAFE_TEXT: gettext_lazy(
        "This text contains an invisible or invalid character (at position %(position)s). "
        "Please type it again instead of pasting it."),
    # pydantic's own check for text that cannot be encoded, e.g. a lone surrogate.
    "string_unicode": gettext_lazy(
        "This text contains an invalid character. Please type it again instead of pasting "
        "it."),
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
    "date_type": _DATE,
    "int_parsing": _WHOLE_NUMBER,
    "int_from_float": _WHOLE_NUMBER,
    "int_type": _WHOLE_NUMBER,
    "greater_than_equal": gettext_lazy("Enter a number of at least %(ge)s."),
    "less_than_equal": gettext_lazy("Enter a number of at most %(le)s."),
    "bool_parsing": gettext_lazy("Enter true or false."),
    "bool_type": gettext_lazy("Enter true or false."),
    "list_type": gettext_lazy("Enter a list."),
    "model_attributes_type": gettext_lazy("Send the fields as a JSON object."),
    "dict_type": gettext_lazy("Send the fields as a JSON object."),
    "literal_error": _NOT_VALID,
    "enum": _NOT_VALID,
}
# The sources whose `loc` names the schema parameter before the field:
# ("body", "payload", "birth_date"), but ("query", "limit").
_SOURCES_WITH_A_SCHEMA = {"body", "form"}


@api.exception_handler(RequestValidationError)
def malformed_request(request: HttpRequest, exc: RequestValidationError) -> HttpResponse:
    """422 with ninja's `detail` list as it is, and `errors`: each field's (translated)
    messages, one per kind of problem."""
    field_errors: dict[str, list[str]] = {}
    for error in exc.errors:
        messages = field_errors.setdefault(_field_of(error.get("loc", ())), [])
        message = _request_error_message(error)
        if message not in messages:
            messages.append(message)
    return api.create_response(request, {"detail": exc.errors, "errors": field_errors},
                               status=422)


@api.exception_handler(RequestDataTooBig)
def oversized_request(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE: refused before it is read, as a 422 in the
    same shape as the others rather than Django's HTML 400 page."""
    message = _("The request is too large.")
    detail = [{"type": "request_too_large", "loc": ["body"], "msg": "Request body is too large"}]
    body = {"detail": detail, "errors": {NON_FIELD_ERRORS: [message]}}
    return api.create_response(request, body, status=422)


def _field_of(loc: Sequence[str | int]) -> str:
    """The input field an error is about: the first name after the source (and the schema
    parameter); `__all__` for the request as a whole, e.g. a body that is missing."""
    source, path = (loc[0], loc[1:]) if loc else ("", ())
    if source in _SOURCES_WITH_A_SCHEMA:
        path = path[1:]
    return next((part for part in path if isinstance(part, str)), NON_FIELD_ERRORS)


def _request_error_message(error: dict[str, Any]) -> str:
    template = REQUEST_ERROR_MESSAGES.get(error.get("type", ""), _NOT_VALID)
    try:
        return str(template) % error.get("ctx", {})
    except (KeyError, TypeError, ValueError):
        # No value for the message's placeholder: say less rather than fail.
        return str(_NOT_VALID)


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
