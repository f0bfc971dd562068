"""A scan at a gate: what the guard (or a gate device) sees, and the passage recorded.

`scan_preview` reads the code (or the resident found by the last digits of a phone or
ID number) and says who it is, the colour, and whether a temperature is needed, without
writing. `passage_record` decides and records one passage, passed or refused with its
reason; it is the one write of every gate (the guard's page, its offline queue, the
device API). In the order it checks:

1. the code: grey (not a pass, forged, unknown, old version, revoked, expired, moved out);
   a visitor's code is for leaving only;
2. the community: a pass of another community opens nothing here;
3. red (isolation, an open fever alert) may come in, not go out;
4. the same code in the same direction within `REPLAY_SECONDS`: a code handed back over
   the fence;
5. the policy: opening hours (out, and visitors in), outings per household (out);
6. the temperature, when the policy or the colour asks for one: 34-43 °C or asked again
   (ValidationError, nothing recorded); at or above the community's threshold the person
   is refused, an alert goes to their grid worker (rule "gate_fever", which turns the
   pass red) and the guard's screen shows the fever protocol.

A scan sent again with the same `client_id` (a queue replayed after the network came
back, a device retrying) returns the passage already recorded, never a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fangkong.accounts.models import User
from fangkong.followup.channels.base import masked_name
from fangkong.followup.models import Alert, AlertEvent, AlertKind
from fangkong.lib import clock
from fangkong.passes.models import (
    Direction,
    Gate,
    GateDevice,
    GatePolicy,
    Pass,
    Passage,
    Refusal,
    Result,
    Visitor,
)
from fangkong.passes.status import (
    Colour,
    PassStatus,
    status_of_pass,
    status_of_residents,
    status_of_token,
)
from fangkong.passes.tokens import TokenError, is_visitor_code, pass_key, visitor_id
from fangkong.residents.models import Resident

LOWEST, HIGHEST = Decimal("34.0"), Decimal("43.0")
REPLAY_SECONDS = 120
# A scan queued offline may arrive this late; a clock this far ahead is a wrong clock.
OFFLINE_HOURS = 24
AHEAD_MINUTES = 5
GATE_FEVER_RULE = "gate_fever"
GATE_FEVER_MINUTES = 30  # the person is waiting at the gate


@dataclass(frozen=True)
class Person:
    """A person as the guard sees them: masked name and room, nothing medical."""

    name: str
    room: str


@dataclass(frozen=True)
class ScanOutcome:
    colour: str
    reason: str  # one line for the guard
    people: tuple[Person, ...] = ()
    kind: str = "resident"  # resident / visitor / unknown
    needs_temperature: bool = False
    passage: Passage | None = None
    duplicate: bool = False  # this client_id was recorded before
    fever: bool = False
    protocol: tuple[str, ...] = field(default_factory=tuple)
    # scan_preview with a direction: the refusal found before any temperature, if any.
    refusal: str = ""

    @property
    def passed(self) -> bool:
        return self.passage is not None and self.passage.result == Result.PASSED


def gate_policy(community_id: int) -> GatePolicy:
    """The community's policy, or the defaults (an unsaved row) when it has none."""
    return (GatePolicy.objects.filter(community_id=community_id).first()
            or GatePolicy(community_id=community_id))


def fever_protocol() -> tuple[str, ...]:
    """What the guard does after a fever reading (shown on the screen)."""
    return (_("Do not let them through. Ask them to wait apart, in the temporary waiting "
              "spot, with a mask on."),
            _("Measure again in 5 minutes, out of the wind, with another thermometer."),
            _("Their grid worker has been alerted and will take them to the fever clinic "
              "if the fever stays."),
            _("Clean the thermometer and your gloves."))


def parse_temperature(value: object) -> Decimal | None:
    """A temperature as typed or sent (36.5, "36.5", "365" as on a keypad); None when
    empty. ValidationError (ask again) outside 34-43 °C or when not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().replace("，", ".").replace(",", ".")
    if text.isdigit() and len(text) == 3:  # 365 -> 36.5, as typed on a number pad
        text = text[:2] + "." + text[2]
    try:
        reading = Decimal(text)
        if not reading.is_finite():  # "NaN", "Infinity"
            raise ValueError(text)
        reading = reading.quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError):
        raise ValidationError({"temperature": [_("Enter the temperature as a number, "
                                                 "e.g. 36.5.")]}) from None
    if not LOWEST <= reading <= HIGHEST:
        raise ValidationError({"temperature": [
            _("%(value)s °C cannot be right: measure again (between 34 and 43 °C).")
            % {"value": reading}]})
    return reading


def _people(residents: tuple[Resident, ...]) -> tuple[Person, ...]:
    return tuple(Person(name=masked_name(r.name), room=r.household.label) for r in residents)


def _visitor_person(visitor: Visitor) -> Person:
    """A visitor as the guard sees them: masked name, the room they visit."""
    host = visitor.host_household
    return Person(name=masked_name(visitor.name), room=host.label if host else "")


@dataclass
class _Subject:
    status: PassStatus
    pass_: Pass | None = None
    resident: Resident | None = None  # the one resident, when it is one
    household_id: int | None = None
    community_id: int | None = None
    grid_id: int | None = None
    visitor: Visitor | None = None
    refusal: str = ""


def _subject(code: str, resident: Resident | None) -> _Subject:
    if resident is not None:
        own = Pass.objects.filter(resident=resident).first()
        status = status_of_residents([resident])
        if own is not None:
            # Found by the last digits: a revoked or expired pass still stops them.
            of_pass = status_of_pass(own)
            if of_pass.colour == Colour.GREY:
                status = of_pass
        return _Subject(status=status, resident=resident, household_id=resident.household_id,
                        community_id=resident.community_id, grid_id=resident.grid_id,
                        refusal=status.refusal)
    if is_visitor_code(code):
        try:
            visitor = (Visitor.objects.select_related("host_household")
                       .filter(pk=visitor_id(code)).first())
        except TokenError as exc:
            return _Subject(status=PassStatus(Colour.GREY, _("Forged code: not issued by "
                                                             "this system.")),
                            refusal=Refusal.FORGED if exc.refusal == "forged"
                            else Refusal.MALFORMED)
        if visitor is None:
            return _Subject(status=PassStatus(Colour.GREY, _("Unknown visitor code.")),
                            refusal=Refusal.UNKNOWN)
        return _Subject(status=PassStatus(Colour.GREEN, _("Visitor.")), visitor=visitor,
                        community_id=visitor.community_id)
    status = status_of_token(code)
    pass_ = status.pass_
    people = status.residents
    one = people[0] if len(people) == 1 and pass_ is not None and pass_.resident_id else None
    if pass_ is not None and pass_.resident_id:
        owner = pass_.resident
        community_id, grid_id, household_id = (owner.community_id, owner.grid_id,
                                               owner.household_id)
    elif pass_ is not None:
        community_id, grid_id = pass_.household.community_id, pass_.household.grid_id
        household_id = pass_.household_id
    else:
        community_id = grid_id = household_id = None
    return _Subject(status=status, pass_=pass_, resident=one, household_id=household_id,
                    community_id=community_id, grid_id=grid_id, refusal=status.refusal)


def _needs_temperature(policy: GatePolicy, subject: _Subject) -> bool:
    if subject.status.colour == Colour.GREY:
        return False
    if subject.visitor is not None:
        return False  # taken when they were registered; their code is for leaving
    return bool(policy.temperature_for_all or subject.status.colour == Colour.YELLOW)


def scan_preview(*, gate: Gate, code: str = "", resident: Resident | None = None,
                 direction: str | None = None,
                 policy: GatePolicy | None = None) -> ScanOutcome:
    """Who the code is for and their colour, and whether to take a temperature; writes
    nothing. `resident` instead of a code: the guard found them by the last digits. With
    a direction, `refusal` (and the reason) says what would refuse the passage before any
    temperature (the community, red going out, a code just used, hours, outings)."""
    policy = policy or gate_policy(gate.community_id)
    subject = _subject(code, resident)
    if direction in Direction.values:
        refusal, reason = _refusal(subject, policy, gate, direction, clock.now())
        if refusal:
            outcome = _outcome(subject, policy, passage=None, reason=reason)
            return ScanOutcome(**{**outcome.__dict__, "refusal": str(refusal)})
    return _outcome(subject, policy, passage=None)


def _outcome(subject: _Subject, policy: GatePolicy, *, passage: Passage | None,
             reason: str | None = None, duplicate: bool = False,
             fever: bool = False) -> ScanOutcome:
    if subject.visitor is not None:
        people = (_visitor_person(subject.visitor),)
        kind = "visitor"
    else:
        people = _people(subject.status.residents)
        kind = "resident" if people else "unknown"
    colour = subject.status.colour
    if passage is not None and passage.result == Result.REFUSED and colour == Colour.GREEN:
        colour = Colour.RED if fever else colour
    return ScanOutcome(colour=str(colour), reason=reason or subject.status.reason,
                       people=people, kind=kind,
                       needs_temperature=_needs_temperature(policy, subject),
                       passage=passage, duplicate=duplicate, fever=fever,
                       protocol=fever_protocol() if fever else ())


def open_now(policy: GatePolicy, at: datetime) -> bool:
    if policy.opens_at is None or policy.closes_at is None:
        return True
    local = timezone.localtime(at).time()
    if policy.opens_at <= policy.closes_at:
        return policy.opens_at <= local < policy.closes_at
    return local >= policy.opens_at or local < policy.closes_at  # open across midnight


def _outings_used(policy: GatePolicy, household_id: int, at: datetime) -> int:
    local = timezone.localtime(at)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=policy.outing_days - 1)
    return Passage.objects.filter(household_id=household_id, direction=Direction.OUT,
                                  result=Result.PASSED, at__gte=start, at__lte=at).count()


def _replayed(subject: _Subject, direction: str, at: datetime) -> datetime | None:
    """When the same code went the same way a moment ago, if it did."""
    since = at - timedelta(seconds=REPLAY_SECONDS)
    rows = Passage.objects.filter(result=Result.PASSED, at__gte=since, at__lte=at)
    if subject.visitor is not None:
        return None
    if subject.pass_ is not None and subject.pass_.household_id:
        return None  # a household's one code: several of them may go out together
    if subject.pass_ is not None:
        rows = rows.filter(pass_ref_id=subject.pass_.pk)
    elif subject.resident is not None:
        rows = rows.filter(resident_id=subject.resident.pk)
    else:
        return None
    # The code's last passage either way: went out, came back in, goes out again is fine.
    last = rows.order_by("-at", "-pk").values_list("at", "direction").first()
    return last[0] if last is not None and last[1] == direction else None


def _when(at: datetime | None, now: datetime) -> datetime:
    if at is None:
        return now
    if timezone.is_naive(at):
        raise ValidationError({"at": [_("Send the time of the scan with its time zone.")]})
    if at > now + timedelta(minutes=AHEAD_MINUTES):
        raise ValidationError({"at": [_("The time of the scan is in the future: check the "
                                        "clock of the phone or device.")]})
    if at < now - timedelta(hours=OFFLINE_HOURS):
        raise ValidationError({"at": [_("This scan is more than a day old and was not "
                                        "recorded; write it in the paper log.")]})
    return at


def passage_record(*, gate: Gate, direction: str, code: str = "",
                   resident: Resident | None = None, temperature: object = None,
                   guard: User | None = None, device: GateDevice | None = None,
                   client_id: str = "", at: datetime | None = None,
                   policy: GatePolicy | None = None) -> ScanOutcome:
    """Decide and record one passage at `gate` (see the module's docstring). The caller
    has checked that the guard is on duty at this gate, or that the device belongs to it.
    ValidationError, with nothing recorded, for a temperature to take again, a missing
    one, a bad direction or time. Idempotent per (gate, client_id)."""
    if direction not in Direction.values:
        raise ValidationError({"direction": [_("Choose in or out.")]})
    client_id = (client_id or "").strip()
    if len(client_id) > 40:
        raise ValidationError({"client_id": [_("The scan's id is too long.")]})
    if client_id:
        seen = passage_recorded(gate, client_id, guard=guard, device=device,
                                direction=direction, code=code, resident=resident)
        if seen is not None:
            return seen
    now = clock.now()
    at = _when(at, now)
    reading = parse_temperature(temperature)
    policy = policy or gate_policy(gate.community_id)
    subject = _subject(code, resident)
    refusal, reason = _refusal(subject, policy, gate, direction, at)
    fever = False
    if not refusal and reading is None and _needs_temperature(policy, subject):
        raise ValidationError({"temperature": [_("Take the temperature first.")]})
    if (reading is not None and reading >= policy.fever_threshold
            and subject.status.residents and subject.visitor is None):
        # A fever measured is acted on whatever else refuses the passage (a device sends
        # the temperature with every scan).
        fever = True
        refusal = Refusal.FEVER
        reason = _("Fever (%(value)s °C): may not pass. Follow the fever protocol.") % {
            "value": reading}
    passage = Passage(
        gate=gate, community_id=gate.community_id, at=at, direction=direction,
        pass_ref=subject.pass_, resident=subject.resident, grid_id=subject.grid_id,
        household_id=subject.household_id, visitor=subject.visitor, temperature=reading,
        result=Result.REFUSED if refusal else Result.PASSED, refusal=refusal or "",
        colour=str(subject.status.colour), guard=guard, device=device,
        client_id=client_id, received_at=now)
    try:
        with transaction.atomic():
            passage.save()
            if fever and subject.status.residents:
                _fever_alert(subject, gate, reading, now)
            if (subject.visitor is not None and not refusal
                    and direction == Direction.OUT):
                Visitor.objects.filter(pk=subject.visitor.pk, left_at__isnull=True).update(
                    left_at=at)
    except IntegrityError:
        seen = passage_recorded(gate, client_id, guard=guard, device=device,
                                direction=direction, code=code,
                                resident=resident) if client_id else None
        if seen is None:
            raise
        return seen
    if not refusal:
        reason = _("In: may pass.") if direction == Direction.IN else _("Out: may pass.")
        if subject.visitor is not None and direction == Direction.OUT:
            reason = _("Visitor leaving: recorded.")
    return _outcome(subject, policy, passage=passage, reason=reason, fever=fever)


def _refusal(subject: _Subject, policy: GatePolicy, gate: Gate, direction: str,
             at: datetime) -> tuple[str, str]:
    """(Refusal value, the guard's line), or ("", "") when nothing stops the passage
    before the temperature."""
    colour = subject.status.colour
    if colour == Colour.GREY:
        return subject.refusal or Refusal.UNKNOWN, subject.status.reason
    if subject.community_id != gate.community_id:
        return Refusal.OTHER_COMMUNITY, _("Not a resident of this community: register "
                                          "them as a visitor.")
    if subject.visitor is not None:
        if subject.visitor.left_at is not None:
            return Refusal.ALREADY_LEFT, _("This visitor already left; register them again.")
        if direction == Direction.IN:
            return Refusal.REPLAYED, _("This visitor is already inside.")
        return "", ""
    if colour == Colour.RED and direction == Direction.OUT:
        return Refusal.MAY_NOT_LEAVE, subject.status.reason
    before = _replayed(subject, direction, at)
    if before is not None:
        moment = timezone.localtime(before).strftime("%H:%M")
        if direction == Direction.OUT:
            line = _("This code went out at %(time)s and has not come back: check the "
                     "person.") % {"time": moment}
        else:
            line = _("This code came in at %(time)s: check the person.") % {"time": moment}
        return Refusal.REPLAYED, line
    if direction == Direction.OUT:
        if not open_now(policy, at):
            return Refusal.CLOSED, _("Outside opening hours (%(opens)s-%(closes)s): may "
                                     "not go out.") % {
                "opens": policy.opens_at.strftime("%H:%M"),
                "closes": policy.closes_at.strftime("%H:%M")}
        if policy.outings_per_household and subject.household_id:
            used = _outings_used(policy, subject.household_id, at)
            if used >= policy.outings_per_household:
                return Refusal.OUTINGS_USED, _(
                    "This household has gone out %(used)s time(s) already (%(limit)s "
                    "per %(days)s day(s)).") % {"used": used,
                                                "limit": policy.outings_per_household,
                                                "days": policy.outing_days}
    return "", ""


def _fever_alert(subject: _Subject, gate: Gate, reading: Decimal, now: datetime) -> None:
    """A high alert to the grid worker of the person (or of the household's first
    person, for a household pass): it turns their pass red until a worker resolves it."""
    person = subject.resident or subject.status.residents[0]
    reason = _("%(gate)s: %(value)s °C") % {"gate": gate.name, "value": reading}
    if subject.resident is None:
        reason += " " + _("(a household pass: ask the household who was measured)")
    alert = Alert(resident=person, kind=AlertKind.RULE, rule_key=GATE_FEVER_RULE,
                  severity="high", title=_("Fever at the gate")[:60], reason=reason[:200],
                  assigned_area_id=person.grid_id, deadline_minutes=GATE_FEVER_MINUTES,
                  due_at=now + timedelta(minutes=GATE_FEVER_MINUTES), created_at=now)
    alert.copy_scope_from(person)
    alert.save()
    AlertEvent.objects.create(alert=alert, what="raised", at=now, detail=reason[:200])


def _same_scan(passage: Passage, *, guard: User | None, device: GateDevice | None,
               direction: str | None, code: str, resident: Resident | None) -> bool:
    """Whether a scan sent with a stored passage's id is that scan again: same sender,
    direction and person or code. Another scan reusing the id must never be answered
    with the stored outcome (another person's "passed")."""
    if (passage.guard_id != (guard.pk if guard else None)
            or passage.device_id != (device.pk if device else None)):
        return False
    if direction is not None and passage.direction != direction:
        return False
    if resident is not None:
        return passage.resident_id == resident.pk
    if code:
        try:
            if is_visitor_code(code):
                return passage.visitor_id == visitor_id(code)
            return passage.pass_ref_id == pass_key(code).pass_id
        except TokenError:
            return passage.pass_ref_id is None and passage.visitor_id is None
    return True


def passage_recorded(gate: Gate, client_id: str, *, guard: User | None = None,
                     device: GateDevice | None = None, direction: str | None = None,
                     code: str = "", resident: Resident | None = None,
                     ) -> ScanOutcome | None:
    """The outcome already recorded for this scan id at this gate, or None. The same id
    sent with another scan (another sender, direction or person) is refused
    (ValidationError on client_id) rather than answered with the stored outcome."""
    # Almost every scan id is new: look for its id alone (a short query to build), and
    # read the passage with its people only when it is there. The exclude() repeats the
    # condition of the partial unique index on (gate, client_id): without it SQLite does
    # not use that index and reads every passage of the gate.
    pk = (Passage.objects.filter(gate=gate, client_id=client_id).exclude(client_id="")
          .values_list("pk", flat=True).first())
    if pk is None:
        return None
    passage = (Passage.objects.select_related("pass_ref", "resident", "resident__household",
                                              "visitor", "visitor__host_household")
               .get(pk=pk))
    if not _same_scan(passage, guard=guard, device=device, direction=direction, code=code,
                      resident=resident):
        raise ValidationError({"client_id": [_(
            "This scan's id was already used for another scan: send it with a new id.")]})
    if passage.visitor is not None:
        people = (_visitor_person(passage.visitor),)
        kind = "visitor"
    elif passage.resident is not None:
        people, kind = _people((passage.resident,)), "resident"
    else:
        people, kind = (), "unknown" if passage.pass_ref_id is None else "resident"
    fever = passage.refusal == Refusal.FEVER
    if passage.result == Result.PASSED:
        reason = _("Already recorded: may pass.")
    else:
        reason = _("Already recorded: %(why)s.") % {"why": Refusal(passage.refusal).label}
    return ScanOutcome(colour=passage.colour or str(Colour.GREY), reason=reason,
                       people=people, kind=kind, passage=passage, duplicate=True,
                       fever=fever, protocol=fever_protocol() if fever else ())
