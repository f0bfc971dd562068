"""The guard's pages (phone, one hand, gloves, night): the gates they are on duty at, and
the scanner of one gate with its three JSON calls.

- `check`: who a code (or a resident picked by the last digits) is, their colour, and
  whether a temperature is needed. A refusal that needs nothing more from the guard (a
  grey code, red going out, another community, a replayed code, hours, outings) is
  recorded at once, so it is logged even if the guard walks away.
- `record`: the passage with the temperature; also what the page's offline queue sends
  when the network is back (`client_id` makes a scan sent twice count once, `at` is when
  it was scanned).
- `find`: residents of the gate's community by the last 4 digits of a phone or ID number,
  rate-limited per guard. Each comes with a signed `ref` (this gate, this guard, this
  resident) that `check` and `record` require with a `resident_id`: ids cannot be tried
  one after another past the search's limit (the colour says whether someone is
  isolated).

Every call passes the gate's access gate first (on duty there, then the capability). The
JSON calls answer errors in JSON too (`{"detail": ..., "errors": {field: [...]}}`), so the
page can tell a definitive answer (drop a queued scan) from a lost connection (keep it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from fangkong.accounts.roles import Can, can
from fangkong.followup.channels.base import masked_name
from fangkong.lib import clock
from fangkong.lib.counters import window_add
from fangkong.passes import guard_selectors
from fangkong.passes.models import Direction, Gate
from fangkong.passes.scan import ScanOutcome, gate_policy, passage_record, scan_preview
from fangkong.passes.selectors import gate_for_guard, guard_gates
from fangkong.passes.status import Colour
from fangkong.residents.models import Resident

FIND_LIMIT, FIND_WINDOW = 30, 600  # searches by last digits per guard per 10 minutes
MAX_CODE = 200  # a genuine code is far shorter; longer input is read as not a pass
FOUND_SALT = "fangkong.passes.guard.found"
# A resident found by their digits may be recorded this long after (a scan queued
# offline is accepted for a day).
FOUND_MAX_AGE = 25 * 3600


class BadRequest(Exception):
    """Input the page should not have sent: answered 400 with the field's message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _error(detail: str, *, status: int, errors: dict | None = None) -> JsonResponse:
    return JsonResponse({"detail": detail, "errors": errors or {}}, status=status)


def json_call(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """A JSON call of the scanner: login, POST, the gate's access gate, and errors as JSON."""

    @wraps(view)
    @login_required
    @require_POST
    def wrapper(request: HttpRequest, gate_id: int) -> JsonResponse:
        try:
            gate = gate_for_guard(request.user, gate_id)
        except Http404:
            return _error(_("You are not on duty at this gate."), status=404)
        except PermissionDenied:
            return _error(_("Your role may not scan at gates."), status=403)
        try:
            return view(request, gate, _payload(request))
        except BadRequest as exc:
            return _error(exc.message, status=400, errors={exc.field: [exc.message]})
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {
                "__all__": exc.messages}
            detail = " ".join(m for messages in errors.values() for m in messages)
            return _error(detail, status=400, errors=errors)

    return wrapper


def _payload(request: HttpRequest) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("__all__", _("The page sent something unreadable: reload it.")) \
            from None
    if not isinstance(data, dict):
        raise BadRequest("__all__", _("The page sent something unreadable: reload it."))
    return data


def _text(data: dict, name: str, limit: int) -> str:
    value = data.get(name) or ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise BadRequest(name, _("The page sent something unreadable: reload it."))
    return str(value)[:limit]


def _direction(data: dict) -> str:
    direction = data.get("direction")
    if direction not in Direction.values:
        raise BadRequest("direction", _("Choose in or out."))
    return direction


def found_ref(gate: Gate, user_id: int, resident_id: int) -> str:
    """What `find` hands the page with each candidate: proof that this guard found this
    resident at this gate, so a resident id cannot be guessed past the search's limit."""
    return signing.dumps([gate.pk, user_id, resident_id], salt=FOUND_SALT)


def _subject(request: HttpRequest, gate: Gate, data: dict) -> tuple[str, Resident | None]:
    """The scanned code, or the resident picked from the candidates of a `find` at this
    gate by this guard (its `ref`), still living in the gate's community."""
    code = _text(data, "code", MAX_CODE)
    resident_id = data.get("resident_id")
    if resident_id in (None, ""):
        if not code:
            raise BadRequest("code", _("Scan a code or find the person by their digits."))
        return code, None
    if code or isinstance(resident_id, bool) or not str(resident_id).isdigit():
        raise BadRequest("resident_id", _("Scan a code or find the person by their digits."))
    resident_id = int(str(resident_id)[:18])
    try:
        found = signing.loads(_text(data, "ref", 200), salt=FOUND_SALT, max_age=FOUND_MAX_AGE)
    except signing.BadSignature:
        found = None
    if found != [gate.pk, request.user.pk, resident_id]:
        raise BadRequest("resident_id", _("Find the person again by the last digits of "
                                          "their phone or ID number."))
    resident = guard_selectors.resident_at_gate(gate, resident_id)
    if resident is None:
        raise BadRequest("resident_id", _("Not a resident of this community: register them "
                                          "as a visitor."))
    return "", resident


def _moment(data: dict, name: str) -> datetime | None:
    text = _text(data, name, 40)
    if not text:
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None:
        raise BadRequest(name, _("The time of the scan is unreadable: check the phone's "
                                 "clock."))
    return moment


def _scan_time(data: dict) -> datetime | None:
    """When the scan was made. The page sends the scan's time and the time it sent it,
    both by the phone's clock: their difference, taken from our clock, is right even when
    the phone's clock is not (a queued scan is sent minutes or hours later)."""
    at, sent_at = _moment(data, "at"), _moment(data, "sent_at")
    if at is None or sent_at is None:
        return at
    if timezone.is_naive(at) or timezone.is_naive(sent_at) or sent_at < at:
        return at  # passage_record says what is wrong with it
    return clock.now() - (sent_at - at)


def _answer(outcome: ScanOutcome) -> dict:
    passage = outcome.passage
    return {
        "recorded": passage is not None,
        "passage_id": passage.pk if passage else None,
        "result": passage.result if passage else None,
        "refusal": passage.refusal if passage else "",
        "at": timezone.localtime(passage.at).strftime("%H:%M") if passage else "",
        "temperature": (str(passage.temperature)
                        if passage and passage.temperature is not None else None),
        "colour": outcome.colour,
        "reason": outcome.reason,
        "people": [{"name": p.name, "room": p.room} for p in outcome.people],
        "kind": outcome.kind,
        "needs_temperature": passage is None and outcome.needs_temperature,
        "fever": outcome.fever,
        "protocol": list(outcome.protocol),
        "duplicate": outcome.duplicate,
    }


@login_required
@require_GET
def my_gates(request: HttpRequest) -> HttpResponse:
    """The gates the user is on duty at; with one, straight to its scanner."""
    if not can(request.user, Can.SCAN_AT_GATES):
        raise PermissionDenied
    gates = list(guard_gates(request.user))
    if len(gates) == 1:
        return redirect("passes:scan", gates[0].pk)
    return render(request, "passes/guard_gates.html", {"gates": gates})


@login_required
@require_GET
def scan_page(request: HttpRequest, gate_id: int) -> HttpResponse:
    gate = gate_for_guard(request.user, gate_id)
    several = guard_gates(request.user).exclude(pk=gate.pk).exists()
    setup = {
        "gate": gate.pk,
        "user": request.user.pk,
        "csrf": get_token(request),
        # Only to show a high reading in red while it is typed: the service decides.
        "fever_from": str(gate_policy(gate.community_id).fever_threshold),
        "urls": {"check": reverse("passes:check", args=[gate.pk]),
                 "record": reverse("passes:record", args=[gate.pk]),
                 "find": reverse("passes:find", args=[gate.pk])},
        "text": _page_text(),
    }
    return render(request, "passes/guard_scan.html", {
        "gate": gate, "several": several, "setup": setup, "directions": Direction})


def _page_text() -> dict[str, str]:
    """What guard.js says, translated here (the script has no catalogue of its own)."""
    return {
        "checking": _("Checking…"),
        "sending": _("Sending…"),
        "offline_check": _("No network: this code cannot be checked now. Take the "
                           "temperature and record; it is checked when the network is "
                           "back."),
        "offline_now": _("No network: scans are saved on this phone."),
        "login": _("You were logged out: log in again, then come back to this page."),
        "reading": _("Reading the photo…"),
        "next": _("Next person"),
        "cancel": _("Cancel: next person"),
        "queued": _("Network down: saved. It is sent by itself when the network is back."),
        "queue_count": _("%(n)s scan(s) saved on this phone, waiting for the network."),
        "queue_login": _("%(n)s scan(s) saved on this phone: log in again to send them."),
        "queue_reload": _("%(n)s scan(s) saved on this phone: reload the page to send "
                          "them."),
        "offline_refused": _("While offline: %(n)s refused"),
        "offline_lost": _("Not recorded (write them in the paper log): %(n)s"),
        "temp_range": _("Between 34 and 43 °C: measure again."),
        "temp_first": _("Take the temperature first."),
        "find_short": _("Type the last 4 digits (the last may be X)."),
        "find_none": _("Nobody of this community ends with these digits."),
        "find_more": _("More people match: ask for their room."),
        "find_offline": _("No network: the digits cannot be looked up now."),
        "no_code": _("No code found in the photo: try again closer, or type the digits."),
        "camera_off": _("The camera cannot be used here: take a photo of the code "
                        "instead."),
        "error": _("Something went wrong: try again."),
        "unchecked": _("Not checked"),
        "saved": _("Saved"),
        "not_recorded": _("Not recorded"),
        "passed": _("Passed"),
        "refused": _("Refused"),
        "colour_green": _("May pass"),
        "colour_yellow": _("Monitoring"),
        "colour_red": _("Stop"),
        "colour_grey": _("Unknown"),
        "record_in": _("Record: in"),
        "record_out": _("Record: out"),
    }


@json_call
def check(request: HttpRequest, gate: Gate, data: dict) -> JsonResponse:
    """{code | resident_id + ref, direction, client_id, at, sent_at} -> who it is, the colour, whether a
    temperature is needed; a refusal that needs no temperature is recorded at once."""
    direction = _direction(data)
    code, resident = _subject(request, gate, data)
    preview = scan_preview(gate=gate, code=code, resident=resident, direction=direction)
    refused_now = preview.colour == Colour.GREY or bool(preview.refusal)
    if not refused_now:
        return JsonResponse(_answer(preview))
    # Without a temperature the service records the refusal found before it (the code,
    # the community, red going out, a replayed code, hours, outings).
    try:
        outcome = passage_record(gate=gate, direction=direction, code=code,
                                 resident=resident, guard=request.user,
                                 client_id=_text(data, "client_id", 41),
                                 at=_scan_time(data))
    except ValidationError as exc:
        if "temperature" not in getattr(exc, "error_dict", {}):
            raise
        return JsonResponse(_answer(preview))
    return JsonResponse(_answer(outcome))


@json_call
def record(request: HttpRequest, gate: Gate, data: dict) -> JsonResponse:
    """{code | resident_id + ref, direction, temperature, client_id, at, sent_at} -> the
    passage recorded (or recorded before under this client_id). 400 with
    errors.temperature when the reading must be taken again; nothing is recorded then."""
    direction = _direction(data)
    code, resident = _subject(request, gate, data)
    outcome = passage_record(gate=gate, direction=direction, code=code, resident=resident,
                             temperature=_text(data, "temperature", 10) or None,
                             guard=request.user, client_id=_text(data, "client_id", 41),
                             at=_scan_time(data))
    return JsonResponse(_answer(outcome))


@json_call
def find(request: HttpRequest, gate: Gate, data: dict) -> JsonResponse:
    """{digits} -> [{id, name (masked), room, ref}] of the gate's community, at most 6;
    `ref` goes with the id to `check` and `record`."""
    digits = _text(data, "digits", 8).strip()
    if not guard_selectors.LAST4.fullmatch(digits):
        raise BadRequest("digits", _("Type the last 4 digits (the last may be X)."))
    if window_add(f"passes.find.{request.user.pk}", window=FIND_WINDOW) > FIND_LIMIT:
        return _error(_("Too many searches: wait 10 minutes, or scan the code."), status=429)
    people, more = guard_selectors.residents_by_last4(gate, digits)
    return JsonResponse({
        "people": [{"id": r.pk, "name": masked_name(r.name), "room": r.household.label,
                    "ref": found_ref(gate, request.user.pk, r.pk)} for r in people],
        "more": more,
    })
