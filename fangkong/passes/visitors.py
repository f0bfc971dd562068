"""Visitors (外来人员登记): a person from outside registered at a gate by the guard on
duty, their code for leaving, and a returnee from a risk area handed to home isolation.

- `visitor_register` (the guard): checks the community's policy first (visitors
  allowed, opening hours); a refusal there is logged as a refused passage and nothing
  about the person is kept. Otherwise every field is checked at once (name, phone, ID
  number with its check digit, where from, purpose, the household visited, the
  temperature) and the visitor and their passage in are saved together, or nothing is.
  A fever registers the visitor, refuses them and raises an alert; a returnee from a
  risk area comes in and their grid worker gets an alert (rule "gate_returnee").
- `visitor_isolate` (a worker who handles alerts): registers the visitor as a resident
  of the household they visit (or takes the resident who already has that ID number)
  and opens a home isolation period, in one tap.
- Reads and their access gate are in `visitor_selectors`.

Phones and ID numbers are sealed as a resident's are (same purposes, so the blind index
of a visitor's ID number finds them among the residents).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from fangkong.accounts.roles import Can, can
from fangkong.accounts.scope import grid_scope_q
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record
from fangkong.followup.alerts import alert_resolve
from fangkong.followup.channels.base import masked_name
from fangkong.followup.models import Alert, AlertEvent, AlertKind, AlertOutcome, AlertStatus
from fangkong.followup.selectors import alerts_for_user
from fangkong.isolation.models import IsolationPeriod, PeriodKind, PeriodStatus
from fangkong.isolation.services import isolation_start
from fangkong.lib import clock, crypto
from fangkong.lib.address import parse_room
from fangkong.lib.fields import clean_text
from fangkong.lib.idcard import IdNumberError, parse_id_number
from fangkong.lib.phone import PhoneError, parse_phone
from fangkong.lib.text import find_unsafe_char, squash_spaces, to_halfwidth
from fangkong.passes.models import Direction, Gate, Passage, Refusal, Result, Visitor
from fangkong.passes.scan import (
    GATE_FEVER_MINUTES,
    GATE_FEVER_RULE,
    Person,
    ScanOutcome,
    fever_protocol,
    gate_policy,
    open_now,
    parse_temperature,
    passage_recorded,
)
from fangkong.passes.status import Colour
from fangkong.places.models import Building, Household
from fangkong.residents.models import Relation, Resident, ResidentStatus
from fangkong.residents.personal import (
    ID_NUMBER,
    PHONE,
    SealedIdNumber,
    SealedPhone,
    seal_id_number,
    seal_phone,
)
from fangkong.residents.selectors import residents_for_user
from fangkong.residents.services import ResidentInput, resident_create, resident_update

GATE_RETURNEE_RULE = "gate_returnee"
GATE_RETURNEE_MINUTES = 120  # the returnee is on their way to the household
# A visitor's fever: not "gate_fever", which would turn the pass of the household's
# resident (the alert's person) red. A visitor who is a resident of the community gets
# "gate_fever" on their own record.
VISITOR_FEVER_RULE = "gate_visitor_fever"
NAME_MAX, PLACE_MAX, PURPOSE_MAX = 40, 60, 60
CANDIDATES_SHOWN = 5


@dataclass(frozen=True)
class _Checked:
    name: str
    phone: SealedPhone
    id_number: SealedIdNumber
    came_from: str
    purpose: str
    host: Household
    temperature: Decimal


# -- registering at the gate ---------------------------------------------------------


@transaction.atomic
def visitor_register(*, gate: Gate, by, name: str, phone: str,  # noqa: ANN001
                     id_number: str, came_from: str, purpose: str, host_room: str,
                     from_risk_area: bool, temperature: object,
                     client_id: str = "") -> tuple[Visitor | None, ScanOutcome]:
    """Register a visitor at `gate` and record their passage in; `by` is a guard on duty
    there (PermissionDenied otherwise).

    - Visitors not allowed, or outside opening hours: a refused passage (NO_VISITORS,
      CLOSED) with no visitor, and nothing typed about the person is kept: (None, outcome).
    - A bad field: ValidationError with every field's problem at once, nothing written.
    - A fever (at or above the community's threshold): the visitor is saved, the passage
      refused (FEVER), the outcome carries the fever protocol, an alert goes to the grid
      worker of the household visited.
    - Otherwise a passed passage in; from a risk area, an alert to the grid worker
      ("gate_returnee", high).

    Idempotent per (gate, client_id): sent again (a double tap, a reload), it returns the
    visitor and passage recorded the first time, and creates neither again."""
    if (not can(by, Can.SCAN_AT_GATES) or not gate.active
            or not gate.guards.filter(pk=by.pk).exists()):
        raise PermissionDenied
    client_id = (client_id or "").strip()
    if len(client_id) > 40:
        raise ValidationError({"client_id": [_("The form's id is too long: open the form "
                                               "again.")]})
    if client_id:
        seen = passage_recorded(gate, client_id, guard=by)
        if seen is not None:
            return seen.passage.visitor, seen
    now = clock.now()
    policy = gate_policy(gate.community_id)
    if not policy.visitors_allowed:
        return None, _refuse(gate, by, client_id, now, Refusal.NO_VISITORS,
                             _("Visitors are not allowed in this community now: they may "
                               "not come in."))
    if not open_now(policy, now):
        return None, _refuse(gate, by, client_id, now, Refusal.CLOSED, _(
            "Outside opening hours (%(opens)s-%(closes)s): visitors may not come in.") % {
            "opens": policy.opens_at.strftime("%H:%M"),
            "closes": policy.closes_at.strftime("%H:%M")})
    data = _check(gate, name=name, phone=phone, id_number=id_number, came_from=came_from,
                  purpose=purpose, host_room=host_room, temperature=temperature)
    fever = data.temperature >= policy.fever_threshold
    visitor = Visitor(
        community_id=gate.community_id, gate=gate, name=data.name,
        phone_sealed=data.phone.sealed, phone_index=data.phone.index,
        phone_masked=data.phone.masked, id_number_sealed=data.id_number.sealed,
        id_number_index=data.id_number.index, id_number_masked=data.id_number.masked,
        came_from=data.came_from, purpose=data.purpose, host_household=data.host,
        from_risk_area=bool(from_risk_area), temperature=data.temperature, arrived_at=now,
        registered_by=by)
    colour = Colour.RED if fever else Colour.GREEN
    # The host household and its grid on the passage: the grid worker's passage log
    # shows who came to see their households.
    passage = Passage(
        gate=gate, community_id=gate.community_id, at=now, direction=Direction.IN,
        grid_id=data.host.grid_id, household=data.host, temperature=data.temperature,
        result=Result.REFUSED if fever else Result.PASSED,
        refusal=Refusal.FEVER if fever else "", colour=str(colour), guard=by,
        client_id=client_id, received_at=now)
    try:
        with transaction.atomic():
            visitor.save()
            passage.visitor = visitor
            passage.save()
    except IntegrityError:
        # The same form sent twice at once: the other request recorded it.
        seen = passage_recorded(gate, client_id, guard=by) if client_id else None
        if seen is None:
            raise
        return seen.passage.visitor, seen
    person, is_them = _alert_person(visitor)
    lines = []
    if fever:
        lines.append(_("Fever (%(value)s °C): may not come in. Follow the fever protocol.")
                     % {"value": data.temperature})
    else:
        lines.append(_("Visitor registered: may come in. Give them their code for leaving."))
    if is_them:
        lines.append(_("This ID number is registered as a resident of this community."))
    if person is not None and (fever or visitor.from_risk_area):
        _alert(visitor, person, is_them=is_them, fever=fever, now=now)
        if visitor.from_risk_area and not fever:
            lines.append(_("From a risk area: their grid worker has been told and will "
                           "arrange home isolation."))
    elif fever or visitor.from_risk_area:
        lines.append(_("Nobody is registered in that household to alert: phone the "
                       "community office now."))
    return visitor, ScanOutcome(
        colour=str(colour), reason=" ".join(lines),
        people=(Person(name=masked_name(visitor.name), room=data.host.label),),
        kind="visitor", needs_temperature=True, passage=passage, fever=fever,
        protocol=fever_protocol() if fever else ())


def _refuse(gate: Gate, by, client_id: str, now: datetime, refusal: str,  # noqa: ANN001
            reason: str) -> ScanOutcome:
    passage = Passage(gate=gate, community_id=gate.community_id, at=now,
                      direction=Direction.IN, result=Result.REFUSED, refusal=refusal,
                      colour=str(Colour.RED), guard=by, client_id=client_id, received_at=now)
    try:
        with transaction.atomic():
            passage.save()
    except IntegrityError:
        seen = passage_recorded(gate, client_id, guard=by) if client_id else None
        if seen is None:
            raise
        return seen
    return ScanOutcome(colour=str(Colour.RED), reason=reason, kind="visitor",
                       passage=passage)


def _check(gate: Gate, *, name: str, phone: str, id_number: str, came_from: str,
           purpose: str, host_room: str, temperature: object) -> _Checked:
    """Every field checked; ValidationError with all the problems at once."""
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {}

    def attempt(field: str, check) -> None:  # noqa: ANN001
        try:
            values[field] = check()
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)

    attempt("name", lambda: _name(name))
    attempt("phone", lambda: _phone(phone))
    attempt("id_number", lambda: _id_number(id_number))
    attempt("came_from", lambda: clean_text(
        came_from, field="came_from", limit=PLACE_MAX, required=True, collapse_spaces=True,
        required_message=_("Say where the visitor comes from (city, district).")))
    attempt("purpose", lambda: clean_text(
        purpose, field="purpose", limit=PURPOSE_MAX, required=True, collapse_spaces=True,
        required_message=_("Say why they come (visiting family, delivery, repair...).")))
    attempt("host", lambda: household_find(community_id=gate.community_id, text=host_room))
    attempt("temperature", lambda: _temperature(temperature))
    if errors:
        raise ValidationError(errors)
    return _Checked(**values)  # type: ignore[arg-type]


def _name(value: str) -> str:
    name = clean_text(value, field="name", limit=NAME_MAX, required=True, collapse_spaces=True,
                      required_message=_("Enter the visitor's full name, as on the ID card."))
    # The same test as a resident's name: the visitor may become one (visitor_isolate).
    if any(not c.isprintable() and c != " " for c in name) or "\ufffd" in name or "??" in name:
        raise ValidationError({"name": [_("The name contains broken characters (such as ? or "
                                          "�); type it again from the ID card.")]})
    return name


def _phone(value: str) -> SealedPhone:
    if not (value or "").strip():
        raise ValidationError({"phone": [_("Enter the visitor's phone number.")]})
    try:
        return seal_phone(parse_phone(value))
    except PhoneError as exc:
        raise ValidationError({"phone": [str(exc)]}) from None


def _id_number(value: str) -> SealedIdNumber:
    if not (value or "").strip():
        raise ValidationError({"id_number": [_("Enter the visitor's ID number (18 characters, "
                                               "on the ID card).")]})
    try:
        info = parse_id_number(value, today=clock.local_today())
    except IdNumberError as exc:
        raise ValidationError({"id_number": [str(exc)]}) from None
    return seal_id_number(info.number)


def _temperature(value: object) -> Decimal:
    reading = parse_temperature(value)
    if reading is None:
        raise ValidationError({"temperature": [_("Take the temperature first.")]})
    return reading


def household_find(*, community_id: int, text: str) -> Household:
    """The one household of the community that `text` names, as a guard types it: its
    address ("3栋2单元501"), the same with the estate in front ("阳光小区2期3栋2单元501")
    or the short form ("3-2-501", "3栋501"). ValidationError on "host_room" when it names
    none, or several (listing up to five, written so that they can be typed as they are)."""
    typed = squash_spaces(to_halfwidth(text or ""))
    if not typed:
        raise ValidationError({"host_room": [_("Enter the household they visit, e.g. "
                                               "3栋2单元501.")]})
    found = [] if len(typed) > 100 or find_unsafe_char(typed) is not None else \
        _households_named(community_id, typed)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValidationError({"host_room": [_(
            "No household “%(text)s” in this community. Type it as on the door, e.g. "
            "3栋2单元501 or 3-2-501; add the estate in front when there are several.")
            % {"text": typed[:40]}]})
    names = "; ".join(f"{h.building.estate}{h.label}" for h in found[:CANDIDATES_SHOWN])
    raise ValidationError({"host_room": [_(
        "“%(text)s” fits more than one household. Type one of these in full: %(names)s.")
        % {"text": typed[:40], "names": names}]})


def _households_named(community_id: int, typed: str) -> list[Household]:
    rows = (Household.objects.filter(community_id=community_id)
            .select_related("building").order_by("building__estate", "label", "pk"))
    limit = CANDIDATES_SHOWN + 1
    found = list(rows.filter(label=typed)[:limit])
    if found:
        return found
    estates = (Building.objects.filter(community_id=community_id).exclude(estate="")
               .order_by().values_list("estate", flat=True).distinct())
    # The longest first: "阳光小区2期" before "阳光小区".
    estate = next((e for e in sorted(estates, key=len, reverse=True) if typed.startswith(e)),
                  None)
    rest = typed
    if estate is not None:
        rows, rest = rows.filter(building__estate=estate), typed[len(estate):]
        found = list(rows.filter(label=rest)[:limit])
        if found:
            return found
    ref = parse_room(rest)
    if ref is None or ref.room is None:
        return []
    where = Q(building__number=ref.building, room=ref.room)
    if ref.unit is not None:
        where &= Q(unit=ref.unit)
    return list(rows.filter(where)[:limit])


def _alert_person(visitor: Visitor) -> tuple[Resident | None, bool]:
    """Whom an alert about the visitor is attached to (an alert belongs to a resident):
    the visitor themselves when their ID number is a resident's of this community (True),
    else the first person living in the household they visit (False); None when nobody
    lives there."""
    same = (Resident.objects.filter(id_number_index=visitor.id_number_index,
                                    community_id=visitor.community_id,
                                    status=ResidentStatus.ACTIVE).first()
            if visitor.id_number_index else None)
    if same is not None:
        return same, True
    host = visitor.host_household_id
    first = (Resident.objects.filter(household_id=host, status=ResidentStatus.ACTIVE)
             .order_by("pk").first() if host else None)
    return first, False


def _marker(visitor: Visitor) -> str:
    """How an alert names its visitor (language-neutral, so the alert can be found again
    when the visitor is handed to isolation)."""
    return f"[V{visitor.pk}]"


def _alert(visitor: Visitor, person: Resident, *, is_them: bool, fever: bool,
           now: datetime) -> Alert:
    where = visitor.host_household.label if visitor.host_household else ""
    if fever:
        rule = GATE_FEVER_RULE if is_them else VISITOR_FEVER_RULE
        title = _("Fever at the gate") if is_them else _("Visitor with a fever at the gate")
        minutes = GATE_FEVER_MINUTES
        detail = _("%(gate)s: %(name)s, %(value)s °C, visiting %(room)s") % {
            "gate": visitor.gate.name, "name": masked_name(visitor.name),
            "value": visitor.temperature, "room": where}
        if visitor.from_risk_area:
            detail += " · " + _("from a risk area (%(place)s)") % {"place": visitor.came_from}
    else:
        rule, title, minutes = (GATE_RETURNEE_RULE, _("Returnee from a risk area at the gate"),
                                GATE_RETURNEE_MINUTES)
        detail = _("%(gate)s %(time)s: %(name)s from %(place)s, visiting %(room)s") % {
            "gate": visitor.gate.name, "time": timezone.localtime(now).strftime("%H:%M"),
            "name": masked_name(visitor.name), "place": visitor.came_from, "room": where}
    reason = f"{_marker(visitor)} {detail}"[:200]
    alert = Alert(resident=person, kind=AlertKind.RULE, rule_key=rule, severity="high",
                  title=title[:60], reason=reason, assigned_area_id=person.grid_id,
                  deadline_minutes=minutes, due_at=now + timedelta(minutes=minutes),
                  created_at=now)
    alert.copy_scope_from(person)
    alert.save()
    AlertEvent.objects.create(alert=alert, what="raised", at=now, detail=reason)
    return alert


# -- handing a returnee to home isolation ---------------------------------------------


@transaction.atomic
def visitor_isolate(*, visitor: Visitor, by, starts_on: date | None = None,  # noqa: ANN001
                    ip: str | None = None) -> IsolationPeriod:
    """Start home isolation for a visitor in the household they visit: register them as
    a resident there (through the registry's own service: checks, sealing, audit) unless
    a resident of the worker's area has their ID number (then that record, moved back in
    if it was marked moved out), open the period (14 days from `starts_on`, default
    today; an open home isolation of that resident is taken as it is), link the resident
    to the visitor, resolve the "gate_returnee" alerts about this visitor. Audited.

    Http404 when the household visited is outside the worker's area; PermissionDenied
    without the capability to handle alerts (and, to register the person, to edit the
    registry); ValidationError, nothing written, when the person cannot be registered."""
    if not can(by, Can.HANDLE_ALERTS):
        raise PermissionDenied(_("Your role cannot start home isolation."))
    locked = (Visitor.objects.select_for_update(of=("self",))
              .select_related("host_household", "host_household__grid", "gate")
              .get(pk=visitor.pk))
    host = locked.host_household
    if host is None or not Household.objects.filter(grid_scope_q(by), pk=host.pk).exists():
        raise Http404
    if locked.isolation_resident_id is not None:
        raise ValidationError({"__all__": [_("This visitor was already handed to home "
                                             "isolation.")]})
    if not locked.id_number_sealed:
        raise ValidationError({"__all__": [_("No ID number was recorded for this visitor: "
                                             "register them as a resident by hand.")]})
    resident = _resident_for(locked, host, by, ip)
    period = (IsolationPeriod.objects.filter(resident=resident, status=PeriodStatus.OPEN,
                                             kind=PeriodKind.ISOLATION).first())
    if period is None:
        period = isolation_start(
            resident=resident, kind=PeriodKind.ISOLATION,
            starts_on=starts_on or clock.local_today(), by=by, place=_("At home"),
            reason=_("Returned from %(place)s") % {"place": locked.came_from})
    locked.isolation_resident = resident
    locked.save(update_fields=["isolation_resident"])
    audit_record(by=by, action=AuditAction.ISOLATION_CHANGE, object_type="visitor",
                 object_id=locked.pk, object_label=locked.name, area_path=host.grid.path,
                 changes={"isolation_resident": ["", f"{resident.name} #{resident.pk}"],
                          "period": ["", f"#{period.pk}"]}, ip=ip)
    returnee = (alerts_for_user(by).filter(rule_key=GATE_RETURNEE_RULE,
                                           status=AlertStatus.OPEN,
                                           reason__startswith=_marker(locked) + " "))
    for alert in returnee:
        alert_resolve(alert=alert, by=by, outcome=AlertOutcome.ISOLATED,
                      note=_("Home isolation from %(day)s.") % {"day": period.starts_on})
    return period


def _resident_for(visitor: Visitor, host: Household, by, ip: str | None) -> Resident:  # noqa: ANN001
    existing = Resident.objects.filter(id_number_index=visitor.id_number_index).first()
    if existing is None:
        phone = crypto.unseal(visitor.phone_sealed, purpose=PHONE) if visitor.phone_sealed \
            else None
        remarks = _("Registered at the gate (%(gate)s) on %(day)s as a visitor from "
                    "%(place)s.") % {"gate": visitor.gate.name,
                                     "day": timezone.localdate(visitor.arrived_at),
                                     "place": visitor.came_from}
        return resident_create(by=by, ip=ip, data=ResidentInput(
            name=visitor.name, household=host, relation=Relation.OTHER, phone=phone,
            id_number=crypto.unseal(visitor.id_number_sealed, purpose=ID_NUMBER),
            remarks=remarks))
    if not residents_for_user(by).filter(pk=existing.pk).exists():
        raise ValidationError({"__all__": [_(
            "This person is already registered as a resident in another area. Ask your "
            "community secretary to have the record moved here, then start the isolation "
            "from the resident's page.")]})
    if existing.status == ResidentStatus.ACTIVE:
        return existing
    if existing.status == ResidentStatus.MOVED_OUT:
        return resident_update(by=by, resident=existing, ip=ip, data=ResidentInput(
            household=host, status=ResidentStatus.ACTIVE))
    raise ValidationError({"__all__": [_("This ID number belongs to a resident marked "
                                         "deceased: check the ID card.")]})
