"""The status behind a pass, as a colour and one line for the guard (never the medical
details):

- **red**: may not leave: in home isolation, or an open fever alert waiting for a worker;
- **yellow**: home health monitoring: may pass with a temperature check;
- **green**: may pass;
- **grey**: unknown: the code is not a pass, forged, replaced by a newer one, revoked,
  expired, or the person is no longer registered.

The rules read the isolation periods and the follow-up alerts, so a fever reported to
the robot at 9:00 turns the pass red at the gate at 9:01.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext as _

from fangkong.followup.models import Alert, AlertStatus
from fangkong.isolation.models import IsolationPeriod, PeriodKind, PeriodStatus
from fangkong.lib import clock
from fangkong.passes.models import Pass
from fangkong.passes.tokens import Refusal, TokenError, pass_key
from fangkong.residents.models import Resident, ResidentStatus

# Follow-up rules whose open alert keeps a resident in (shipped.py: a temperature at or
# above the threshold, a fever reported, a rising temperature).
# "gate_fever" is a fever measured at a gate (fangkong.passes.scan).
FEVER_RULES = ("fever", "fever_reported", "rising", "gate_fever")


_PERSON = ("name", "status", "household", "district", "street", "community", "grid")
_HOME = ("label", "district", "street", "community", "grid")
_PASS_FIELDS = ("version", "expires_on", "revoked_at", "resident", "household",
                *(f"resident__{f}" for f in _PERSON),
                *(f"resident__household__{f}" for f in _HOME),
                *(f"household__{f}" for f in _HOME))


class Colour(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    GREY = "grey"


@dataclass(frozen=True)
class PassStatus:
    colour: Colour
    reason: str  # one line for the guard
    pass_: Pass | None = None
    residents: tuple[Resident, ...] = ()
    # Why a grey code opens nothing (fangkong.passes.models.Refusal values), else "".
    refusal: str = ""


def _grey(reason: str, refusal: str, pass_: Pass | None = None) -> PassStatus:
    return PassStatus(colour=Colour.GREY, reason=reason, pass_=pass_, refusal=refusal)


def status_of_token(token: str) -> PassStatus:
    """What a scanned code says: grey with the reason for anything but a standing pass,
    else the status of the people it is for."""
    try:
        key = pass_key(token)
    except TokenError as exc:
        if exc.refusal == Refusal.MALFORMED:
            return _grey(_("Not a pass code."), "malformed")
        return _grey(_("Forged code: not issued by this system."), "forged")
    # Only what the gate needs of the person (never their sealed phone or ID number); [:1]
    # rather than first(): a primary key needs no ORDER BY. This runs on every scan.
    found = list(Pass.objects.select_related("resident", "resident__household", "household")
                 .only(*_PASS_FIELDS).filter(pk=key.pass_id)[:1])
    pass_ = found[0] if found else None
    if pass_ is None:
        return _grey(_("Unknown pass."), "unknown")
    if key.version != pass_.version:
        return _grey(_("An old code: this pass was issued again."), "old_version", pass_)
    return status_of_pass(pass_)


def status_of_pass(pass_: Pass) -> PassStatus:
    if pass_.revoked_at is not None:
        return _grey(_("Pass revoked."), "revoked", pass_)
    if pass_.expires_on is not None and pass_.expires_on < clock.local_today():
        return _grey(_("Pass expired."), "expired", pass_)
    if pass_.resident_id:
        people = [pass_.resident]
    else:
        people = list(Resident.objects.filter(household_id=pass_.household_id,
                                              status=ResidentStatus.ACTIVE)
                      .select_related("household").order_by("pk"))
    status = status_of_residents(people)
    return PassStatus(colour=status.colour, reason=status.reason, pass_=pass_,
                      residents=status.residents, refusal=status.refusal)


def status_of_residents(people: list[Resident]) -> PassStatus:
    """The colour of one person (found by the last digits of a phone or ID number when a
    code will not scan) or of a household's people: the most restrictive of them."""
    people = [p for p in people if p.status == ResidentStatus.ACTIVE]
    if not people:
        return _grey(_("No longer registered here."), "moved_out")
    ids = [p.pk for p in people]
    periods = set(IsolationPeriod.objects.filter(resident_id__in=ids,
                                                 status=PeriodStatus.OPEN)
                  .values_list("kind", flat=True))
    if PeriodKind.ISOLATION in periods:
        colour, reason = Colour.RED, _("In home isolation: may not leave.")
    elif Alert.objects.filter(resident_id__in=ids, status=AlertStatus.OPEN,
                              rule_key__in=FEVER_RULES).exists():
        # Never which symptom: the guard needs to know only that a worker is on it.
        colour, reason = Colour.RED, _("May not leave for now: their grid worker is on it.")
    elif PeriodKind.MONITORING in periods:
        colour, reason = Colour.YELLOW, _("Home health monitoring: check the temperature.")
    else:
        colour, reason = Colour.GREEN, _("May pass.")
    return PassStatus(colour=colour, reason=reason, residents=tuple(people))
