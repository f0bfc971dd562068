"""Gate devices: a scanner kiosk or temperature terminal verifies a code and records the
passage in one call, `POST /api/gate/scan`.

A device authenticates with its own bearer token (`Authorization: Bearer fkg_...`), set
on this operation alone: the API's other endpoints accept only user tokens (`fk_...`) and
sessions, so a device token reads nothing else (401), and a user token or a session
cannot record a passage as a device (401). The device always records at its own gate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.security import HttpBearer
from pydantic import WithJsonSchema

from fangkong.api.schemas import CHOICE_MAX, clean_str, errors
from fangkong.lib import clock
from fangkong.passes.models import Direction, GateDevice, Result
from fangkong.passes.scan import ScanOutcome, passage_record

DEVICE_TOKEN_PREFIX = "fkg_"  # noqa: S105 - a prefix, not a secret
DEVICE_TOKEN_MAX = 100  # a genuine token is far shorter; longer input is not hashed
# last_used_at is written at most this often per device, not on every scan.
LAST_USED_EVERY = timedelta(seconds=60)

router = Router(tags=["gates"])


def _device_for_token(clear: str) -> GateDevice | None:
    """The device behind a gate device token, with its gate; None when the token is
    unknown or revoked, or the gate is no longer in use. Marks the device as used (one
    conditional UPDATE, at most once a minute)."""
    if not clear.startswith(DEVICE_TOKEN_PREFIX) or len(clear) > DEVICE_TOKEN_MAX:
        return None
    # [:1], not first(): the digest is unique, and an ORDER BY costs time to build.
    found = list(GateDevice.objects.select_related("gate")
                 .filter(digest=GateDevice.digest_of(clear), revoked_at__isnull=True,
                         gate__active=True)[:1])
    if not found:
        return None
    device = found[0]
    now = clock.now()
    stale = now - LAST_USED_EVERY
    if device.last_used_at is None or device.last_used_at <= stale:
        # Conditional: of the scans of the same minute, only the first one writes.
        (GateDevice.objects.filter(pk=device.pk)
         .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale))
         .update(last_used_at=now))
        device.last_used_at = now
    return device


class GateDeviceAuth(HttpBearer):
    """`Authorization: Bearer fkg_...`: the gate device, or None (401)."""

    def authenticate(self, request: HttpRequest, token: str) -> GateDevice | None:
        return _device_for_token(token.strip())


DirectionValue = Annotated[clean_str(CHOICE_MAX), WithJsonSchema(
    {"type": "string", "enum": Direction.values, "maxLength": CHOICE_MAX})]


class ScanIn(Schema):
    """One scan at the device's gate."""

    code: clean_str(200) = Field("", description="The scanned code, exactly as read.")
    direction: DirectionValue = Field(description="in or out")
    temperature: Annotated[float, Field(allow_inf_nan=False)] | clean_str(8) | None = Field(
        None, description="°C, as a number or as typed (\"36.5\", \"365\"); 34-43 °C or "
                          "the scan is refused with 400 and nothing is recorded.")
    client_id: clean_str(40) = Field(
        "", description="The device's own id of this scan: a scan sent again with the same "
                        "id returns the passage already recorded (`duplicate`).")
    at: datetime | None = Field(
        None, description="When the scan happened, with its time zone, for a scan queued "
                          "offline (at most a day old); the time of receipt otherwise.")


class ScanPerson(Schema):
    name: str = Field(description="Masked.")
    room: str


class ScanOut(Schema):
    result: Literal["passed", "refused"]
    refusal: str = Field(description="Why refused (a Refusal value); \"\" when passed.")
    colour: str = Field(description="green, yellow, red or grey")
    reason: str = Field(description="One line for the guard, in the request's language.")
    people: list[ScanPerson]
    kind: str = Field(description="resident, visitor or unknown")
    needs_temperature: bool
    fever: bool
    protocol: list[str] = Field(description="What to do after a fever reading.")
    duplicate: bool = Field(description="This client_id was recorded before.")
    passage_id: int


@router.post("/gate/scan", auth=GateDeviceAuth(),
             response={200: ScanOut, **errors(400, 401, 422)})
def gate_scan(request: HttpRequest, payload: ScanIn) -> dict[str, Any]:
    """Verify a code and record the passage at the device's gate, passed or refused (a
    refusal is a 200 with `result` "refused"). 400, with nothing recorded, for a
    temperature to take again (outside 34-43 °C, or missing when one is needed), a
    direction other than in/out, or a time in the future or over a day old.
    Idempotent per `client_id`."""
    device: GateDevice = request.auth  # type: ignore[attr-defined]
    _refuse_not_a_number(payload.temperature)
    outcome = passage_record(gate=device.gate, device=device, direction=payload.direction,
                             code=payload.code, temperature=payload.temperature,
                             client_id=payload.client_id, at=payload.at)
    return _scan_out(outcome)


def _refuse_not_a_number(temperature: object) -> None:
    # "NaN" parses as a Decimal that cannot be compared with the 34-43 °C range.
    if isinstance(temperature, str):
        try:
            not_a_number = Decimal(temperature.strip()).is_nan()
        except (InvalidOperation, ValueError):
            return  # the service refuses it with its own message
        if not_a_number:
            raise ValidationError({"temperature": [_("Enter the temperature as a number, "
                                                     "e.g. 36.5.")]})


def _scan_out(outcome: ScanOutcome) -> dict[str, Any]:
    passage = outcome.passage
    assert passage is not None  # passage_record always returns the recorded passage
    return {
        "result": Result.PASSED.value if outcome.passed else Result.REFUSED.value,
        "refusal": passage.refusal,
        "colour": outcome.colour,
        "reason": outcome.reason,
        "people": [{"name": p.name, "room": p.room} for p in outcome.people],
        "kind": outcome.kind,
        "needs_temperature": outcome.needs_temperature,
        "fever": outcome.fever,
        "protocol": list(outcome.protocol),
        "duplicate": outcome.duplicate,
        "passage_id": passage.pk,
    }
