"""Registering a visitor at a gate (every field checked at once, nothing half-saved, the
policy, a fever, a double tap), finding the household visited, the returnee's alert and
handing a returnee to home isolation."""

from __future__ import annotations

from datetime import date, time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.followup.models import Alert, AlertStatus
from fangkong.isolation.models import IsolationPeriod, PeriodKind, PeriodStatus
from fangkong.lib import clock, crypto
from fangkong.lib.idcard import make_id_number
from fangkong.passes.models import GatePolicy, Passage, Refusal, Result, Visitor
from fangkong.passes.scan import passage_record, scan_preview
from fangkong.passes.status import Colour
from fangkong.passes.tokens import visitor_token
from fangkong.passes.visitors import (
    GATE_RETURNEE_RULE,
    VISITOR_FEVER_RULE,
    household_find,
    visitor_isolate,
)
from fangkong.passes.visitors import visitor_register as register_visitor
from fangkong.places.models import Building, Household
from fangkong.residents.models import Resident, ResidentStatus
from fangkong.residents.personal import ID_NUMBER, id_number_index, phone_index
from tests.factories import field_messages
from tests.passes.conftest import NOW, code_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

VISITOR_ID = make_id_number("420102", date(1988, 3, 14), 123)
VISITOR_PHONE = "13912345678"


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


def typed_room(household: Household) -> str:
    """What a guard types to name one household without doubt: estate and address."""
    return f"{household.building.estate}{household.label}"


def register(gate, guard, host, **changes):  # noqa: ANN001, ANN003, ANN201
    """visitor_register with a valid visitor; `changes` replace fields."""
    fields = {"name": "欧阳明华", "phone": VISITOR_PHONE, "id_number": VISITOR_ID,
              "came_from": "武汉市江岸区", "purpose": "探亲", "host_room": typed_room(host),
              "from_risk_area": False, "temperature": "36.5", "client_id": ""}
    fields.update(changes)
    return register_visitor(gate=gate, by=guard, **fields)


@pytest.fixture
def host(resident) -> Household:  # noqa: ANN001
    return Household.objects.select_related("building").get(pk=resident.household_id)


def test_the_gate_and_the_households_are_in_one_community(gate, host):  # noqa: ANN001
    assert host.community_id == gate.community_id


def test_a_visitor_is_registered_sealed_like_a_resident_and_comes_in(gate, gate_guard, host):  # noqa: ANN001
    visitor, outcome = register(gate, gate_guard, host)
    assert outcome.passed and outcome.kind == "visitor" and not outcome.fever
    assert outcome.people[0].name == "欧**华" and outcome.people[0].room == host.label
    visitor.refresh_from_db()
    assert (visitor.phone_masked, visitor.id_number_masked) == ("139****5678",
                                                               "420102********" + VISITOR_ID[-4:])
    # The same blind index as a resident's: the visitor can be found in the registry.
    assert visitor.id_number_index == id_number_index(VISITOR_ID)
    assert visitor.phone_index == phone_index(VISITOR_PHONE)
    assert crypto.unseal(visitor.id_number_sealed, purpose=ID_NUMBER) == VISITOR_ID
    assert VISITOR_ID.encode() not in bytes(visitor.id_number_sealed)
    assert (visitor.host_household_id, visitor.arrived_at, visitor.registered_by_id,
            visitor.community_id) == (host.pk, NOW, gate_guard.pk, gate.community_id)
    passage = Passage.objects.get()
    assert (passage.visitor_id, passage.direction, passage.result, str(passage.temperature),
            passage.household_id, passage.grid_id) == (
        visitor.pk, "in", Result.PASSED, "36.5", host.pk, host.grid_id)
    assert not Alert.objects.filter(rule_key__startswith="gate_").exists()


def test_every_problem_is_told_at_once_and_nothing_is_saved(gate, gate_guard, host):  # noqa: ANN001
    wrong_check = VISITOR_ID[:17] + ("0" if VISITOR_ID[17] != "0" else "1")
    with pytest.raises(ValidationError) as excinfo:
        register(gate, gate_guard, host, name="  ", phone="1381234567", id_number=wrong_check,
                 came_from="", purpose="", host_room="99栋9单元999", temperature="33")
    messages = field_messages(excinfo)
    assert set(messages) == {"name", "phone", "id_number", "came_from", "purpose",
                             "host_room", "temperature"}
    assert "check digit" in messages["id_number"]
    assert "11" in messages["phone"]
    assert "No household" in messages["host_room"]
    assert "measure again" in messages["temperature"]
    assert not Visitor.objects.exists() and not Passage.objects.exists()


def test_a_temperature_must_be_taken(gate, gate_guard, host):  # noqa: ANN001
    with pytest.raises(ValidationError) as excinfo:
        register(gate, gate_guard, host, temperature="")
    assert field_messages(excinfo) == {"temperature": "Take the temperature first."}


def test_keypad_digits_and_a_lowercase_x_are_read(gate, gate_guard, host):  # noqa: ANN001
    number = next(n for n in (make_id_number("420102", date(1990, 1, 1), s)
                              for s in range(1000)) if n.endswith("X"))
    visitor, outcome = register(gate, gate_guard, host, temperature="365",
                                id_number=number.lower(), phone="139 1234 5678")
    assert outcome.passed and str(visitor.temperature) == "36.5"
    assert visitor.id_number_index == id_number_index(number)


def test_a_fever_registers_the_visitor_refuses_them_and_alerts_the_grid_worker(
        gate, gate_guard, host, resident_pass):  # noqa: ANN001
    visitor, outcome = register(gate, gate_guard, host, temperature="38.4")
    assert not outcome.passed and outcome.fever and outcome.protocol
    assert outcome.colour == Colour.RED and "38.4" in outcome.reason
    assert Visitor.objects.filter(pk=visitor.pk).exists()
    assert Passage.objects.get().refusal == Refusal.FEVER
    alert = Alert.objects.get(rule_key=VISITOR_FEVER_RULE)
    assert (alert.severity, alert.grid_id, alert.resident.household_id) == (
        "high", host.grid_id, host.pk)
    assert f"[V{visitor.pk}]" in alert.reason and "欧阳明华" not in alert.reason
    # The visitor's fever does not keep the household's own people in.
    assert scan_preview(gate=gate, code=code_of(resident_pass)).colour == Colour.GREEN


def test_the_fever_threshold_is_the_communitys(gate, gate_guard, host):  # noqa: ANN001
    GatePolicy.objects.create(community=gate.community, fever_threshold="37.6")
    _visitor, outcome = register(gate, gate_guard, host, temperature="37.5")
    assert outcome.passed


def test_no_visitors_allowed_logs_a_refusal_and_keeps_nothing_of_the_person(
        gate, gate_guard, host):  # noqa: ANN001
    GatePolicy.objects.create(community=gate.community, visitors_allowed=False)
    visitor, outcome = register(gate, gate_guard, host, id_number="nonsense")
    assert visitor is None and not outcome.passed
    assert "not allowed" in outcome.reason
    passage = Passage.objects.get()
    assert (passage.refusal, passage.visitor_id, passage.direction) == (
        Refusal.NO_VISITORS, None, "in")
    assert not Visitor.objects.exists()


def test_outside_opening_hours_visitors_do_not_come_in(gate, gate_guard, host):  # noqa: ANN001
    GatePolicy.objects.create(community=gate.community, opens_at=time(10, 0),
                              closes_at=time(20, 0))
    visitor, outcome = register(gate, gate_guard, host)
    assert visitor is None and "10:00-20:00" in outcome.reason
    assert Passage.objects.get().refusal == Refusal.CLOSED


def test_a_double_tap_registers_the_visitor_once(gate, gate_guard, host):  # noqa: ANN001
    first, _outcome = register(gate, gate_guard, host, client_id="form-1")
    again, outcome = register(gate, gate_guard, host, client_id="form-1")
    assert again.pk == first.pk and outcome.duplicate and outcome.passed
    assert Visitor.objects.count() == 1 and Passage.objects.count() == 1
    other, _outcome = register(gate, gate_guard, host, client_id="form-2")
    assert other.pk != first.pk


def test_only_a_guard_on_duty_at_the_gate_registers(gate, grid_worker, host):  # noqa: ANN001
    with pytest.raises(PermissionDenied):
        register(gate, grid_worker, host)
    assert not Visitor.objects.exists()


def test_the_visitors_code_records_their_leaving(gate, gate_guard, host):  # noqa: ANN001
    visitor, _outcome = register(gate, gate_guard, host)
    clock.advance(hours=2)
    out = passage_record(gate=gate, direction="out", code=visitor_token(visitor.pk),
                         temperature="36.6", guard=gate_guard)
    assert out.passed and out.kind == "visitor"
    visitor.refresh_from_db()
    assert visitor.left_at == clock.now()


# -- the household visited -------------------------------------------------------------


def test_a_household_is_found_by_its_address_with_or_without_the_estate(host):  # noqa: ANN001
    assert household_find(community_id=host.community_id, text=typed_room(host)) == host
    spaced = f" {host.building.estate} {host.label} "
    assert household_find(community_id=host.community_id, text=spaced) == host
    short = f"{host.building.estate}{host.building.number}-{host.unit}-{host.room}"
    assert household_find(community_id=host.community_id, text=short) == host


def test_an_address_of_several_households_lists_them_to_choose(host):  # noqa: ANN001
    # A second estate of the community with the same building and room numbers.
    other = Building(number=host.building.number, name=host.building.name, estate="二号小区",
                     units=host.building.units)
    other.copy_scope_from(host)
    other.save()
    twin = Household(building=other, unit=host.unit, room=host.room, label=host.label)
    twin.copy_scope_from(host)
    twin.save()
    with pytest.raises(ValidationError) as excinfo:
        household_find(community_id=host.community_id, text=host.label)
    message = field_messages(excinfo)["host_room"]
    assert "more than one" in message
    assert typed_room(host) in message and "二号小区" + host.label in message
    assert household_find(community_id=host.community_id, text=typed_room(twin)) == twin
    assert household_find(community_id=host.community_id, text=typed_room(host)) == host
    short = f"{host.building.number}-{host.unit}-{host.room}"
    with pytest.raises(ValidationError, match="more than one"):
        household_find(community_id=host.community_id, text=short)


def test_a_household_of_another_community_is_not_found(host, other_grid_worker):  # noqa: ANN001
    elsewhere = Household.objects.select_related("building").filter(
        grid_id=other_grid_worker.area_id).first()
    assert elsewhere.community_id != host.community_id
    with pytest.raises(ValidationError):
        household_find(community_id=host.community_id, text=typed_room(elsewhere))


# -- returnees from a risk area ------------------------------------------------------------


def test_a_returnee_comes_in_and_the_grid_worker_is_alerted(gate, gate_guard, host):  # noqa: ANN001
    visitor, outcome = register(gate, gate_guard, host, from_risk_area=True)
    assert outcome.passed and "grid worker" in outcome.reason
    alert = Alert.objects.get(rule_key=GATE_RETURNEE_RULE)
    assert (alert.severity, alert.status, alert.grid_id, alert.assigned_area_id) == (
        "high", AlertStatus.OPEN, host.grid_id, host.grid_id)
    assert alert.title == "Returnee from a risk area at the gate"
    assert alert.resident.household_id == host.pk
    assert alert.reason.startswith(f"[V{visitor.pk}] ") and "武汉市江岸区" in alert.reason


def test_a_returnee_to_an_empty_household_tells_the_guard_to_phone(gate, gate_guard, host):  # noqa: ANN001
    empty = Household(building=host.building, unit=host.unit, room="9901",
                      label=host.label.replace(host.room, "9901"))
    empty.copy_scope_from(host)
    empty.save()
    visitor, outcome = register(gate, gate_guard, host, host_room=typed_room(empty),
                                from_risk_area=True)
    assert outcome.passed and visitor.host_household_id == empty.pk
    assert "phone the community office" in outcome.reason
    assert not Alert.objects.filter(rule_key=GATE_RETURNEE_RULE).exists()


def test_a_name_with_broken_characters_is_refused(gate, gate_guard, host):  # noqa: ANN001
    for broken in ("张??", "李\ufffd", "王\u200b五"):
        with pytest.raises(ValidationError) as excinfo:
            register(gate, gate_guard, host, name=broken)
        assert set(field_messages(excinfo)) == {"name"}
    assert not Visitor.objects.exists()


def test_a_returnee_who_is_a_resident_of_the_community_is_the_alerts_person(
        gate, gate_guard, host, resident):  # noqa: ANN001
    number = crypto.unseal(resident.id_number_sealed, purpose=ID_NUMBER)
    _visitor, outcome = register(gate, gate_guard, host, id_number=number,
                                 name=resident.name, from_risk_area=True)
    assert "registered as a resident" in outcome.reason
    assert Alert.objects.get(rule_key=GATE_RETURNEE_RULE).resident_id == resident.pk


def test_the_grid_worker_hands_a_returnee_to_home_isolation_in_one_step(
        gate, gate_guard, host, grid_worker):  # noqa: ANN001
    visitor, _outcome = register(gate, gate_guard, host, from_risk_area=True)
    period = visitor_isolate(visitor=visitor, by=grid_worker)
    person = Resident.objects.get(id_number_index=id_number_index(VISITOR_ID))
    assert (person.household_id, person.name, person.status, person.phone_index) == (
        host.pk, "欧阳明华", ResidentStatus.ACTIVE, phone_index(VISITOR_PHONE))
    assert (period.resident_id, period.kind, period.status, period.starts_on) == (
        person.pk, PeriodKind.ISOLATION, PeriodStatus.OPEN, NOW.date())
    assert period.reason == "Returned from 武汉市江岸区"
    visitor.refresh_from_db()
    assert visitor.isolation_resident_id == person.pk
    alert = Alert.objects.get(rule_key=GATE_RETURNEE_RULE)
    assert (alert.status, alert.outcome) == (AlertStatus.RESOLVED, "isolated")
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {AuditAction.RESIDENT_CREATE, AuditAction.ISOLATION_CHANGE,
            AuditAction.ALERT_RESOLVE} <= actions
    assert AuditEvent.objects.filter(object_type="visitor", object_id=str(visitor.pk)).exists()
    # The new resident's pass turns red: in isolation, may not leave.
    assert scan_preview(gate=gate, resident=person).colour == Colour.RED
    with pytest.raises(ValidationError):
        visitor_isolate(visitor=visitor, by=grid_worker)
    assert IsolationPeriod.objects.filter(resident=person).count() == 1


def test_a_returning_resident_is_isolated_on_their_own_record(
        gate, gate_guard, host, resident, grid_worker):  # noqa: ANN001
    number = crypto.unseal(resident.id_number_sealed, purpose=ID_NUMBER)
    visitor, _outcome = register(gate, gate_guard, host, id_number=number,
                                 name=resident.name, from_risk_area=True)
    residents_before = Resident.objects.count()
    period = visitor_isolate(visitor=visitor, by=grid_worker)
    assert period.resident_id == resident.pk and Resident.objects.count() == residents_before


def test_a_person_registered_in_another_area_is_not_registered_twice(
        gate, gate_guard, host, grid_worker, other_grid_worker):  # noqa: ANN001
    elsewhere = (Resident.objects.filter(grid_id=other_grid_worker.area_id,
                                         id_number_index__isnull=False).first())
    number = crypto.unseal(elsewhere.id_number_sealed, purpose=ID_NUMBER)
    visitor, _outcome = register(gate, gate_guard, host, id_number=number, from_risk_area=True)
    periods_before = IsolationPeriod.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        visitor_isolate(visitor=visitor, by=grid_worker)
    assert "another area" in " ".join(excinfo.value.messages)
    visitor.refresh_from_db()
    assert visitor.isolation_resident_id is None
    assert IsolationPeriod.objects.count() == periods_before


def test_only_a_worker_of_the_households_area_who_handles_alerts_isolates(
        gate, gate_guard, host, other_grid_worker, volunteer):  # noqa: ANN001
    visitor, _outcome = register(gate, gate_guard, host, from_risk_area=True)
    with pytest.raises(Http404):
        visitor_isolate(visitor=visitor, by=other_grid_worker)
    with pytest.raises(PermissionDenied):
        visitor_isolate(visitor=visitor, by=gate_guard)
    with pytest.raises(PermissionDenied):
        visitor_isolate(visitor=visitor, by=volunteer)
    assert not Resident.objects.filter(id_number_index=id_number_index(VISITOR_ID)).exists()
