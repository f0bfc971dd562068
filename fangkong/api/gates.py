"""Gate devices: a scanner kiosk or temperature terminal verifies a code and records the
passage in one call, `POST /api/gate/scan`.

A device authenticates with its own bearer token (`Authorization: Bearer fkg_...`), set
on this operation alone: the API's other endpoints accept only user tokens (`fk_...`) and
sessions, so a device token reads nothing else (401), and a user token or a session
cannot record a passage as a device (401). The device always records at its own gate.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.security import HttpBearer
from pydantic import WithJsonSchema

from fangkong.api.schemas import CHOICE_MAX, clean_str, errors
from fangkong.passes.gate_services import gate_device_for_token
from fangkong.passes.models import Direction, GateDevice, Result
from fangkong.passes.scan import ScanOutcome, passage_record

router = Router(tags=["gates"])


class GateDeviceAuth(HttpBearer):
    """`Authorization: Bearer fkg_...`: the gate device, or None (401)."""

    def authenticate(self, request: HttpRequest, token: str) -> GateDevice | None:
        return gate_device_for_token(token.strip())


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
