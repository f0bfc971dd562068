"""Recording a passage at a gate: the order of the checks, the temperature, the fever
alert, the replayed code and the scan sent twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from fangkong.followup.models import Alert
from fangkong.lib import clock
from fangkong.passes.models import GatePolicy, Passage, Refusal, Result
from fangkong.passes.scan import parse_temperature, passage_record, scan_preview
from fangkong.passes.status import Colour
from tests.passes.conftest import NOW, code_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


def test_a_green_resident_goes_out_with_a_normal_temperature(gate, gate_guard, resident_pass):  # noqa: ANN001
    preview = scan_preview(gate=gate, code=code_of(resident_pass))
    assert (preview.colour, preview.needs_temperature, preview.passage) == ("green", True, None)
    outcome = passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                             temperature="36.5", guard=gate_guard, client_id="a1")
    assert outcome.passed and outcome.reason == "Out: may pass."
    assert outcome.people[0].name.endswith("*") or "*" in outcome.people[0].name
    row = Passage.objects.get()
    assert (row.temperature, row.resident_id, row.household_id) == (
        parse_temperature("36.5"), resident_pass.resident_id, resident_pass.resident.household_id)


def test_the_same_client_id_is_recorded_once(gate, gate_guard, resident_pass):  # noqa: ANN001
    first = passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                           temperature="36.5", guard=gate_guard, client_id="same")
    again = passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                           temperature="36.5", guard=gate_guard, client_id="same")
    assert again.duplicate and again.passage.pk == first.passage.pk
    assert Passage.objects.count() == 1


@pytest.mark.parametrize("typed", ["33.9", "43.1", "abc", "3", "NaN", "Infinity"])
def test_an_impossible_temperature_is_asked_again_and_nothing_is_recorded(
        gate, gate_guard, resident_pass, typed):  # noqa: ANN001
    with pytest.raises(ValidationError) as excinfo:
        passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                       temperature=typed, guard=gate_guard)
    assert "temperature" in excinfo.value.message_dict
    assert not Passage.objects.exists()


def test_keypad_digits_read_as_a_temperature():
    assert str(parse_temperature("365")) == "36.5"
    assert parse_temperature("") is None


def test_a_fever_is_refused_alerts_the_grid_worker_and_turns_the_pass_red(
        gate, gate_guard, resident_pass):  # noqa: ANN001
    outcome = passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                             temperature="38.2", guard=gate_guard)
    assert not outcome.passed and outcome.fever and outcome.protocol
    assert outcome.passage.refusal == Refusal.FEVER
    alert = Alert.objects.get(resident=resident_pass.resident)
    assert (alert.rule_key, alert.severity, alert.grid_id) == (
        "gate_fever", "high", resident_pass.resident.grid_id)
    assert scan_preview(gate=gate, code=code_of(resident_pass)).colour == Colour.RED
    clock.advance(minutes=10)
    later = passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                           temperature="36.6", guard=gate_guard)
    assert later.passage.refusal == Refusal.MAY_NOT_LEAVE


def test_the_threshold_is_the_communitys(gate, gate_guard, resident_pass):  # noqa: ANN001
    GatePolicy.objects.create(community=gate.community, fever_threshold="37.5")
    outcome = passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                             temperature="37.3", guard=gate_guard)
    assert outcome.passed


def test_a_code_going_out_twice_within_two_minutes_is_refused(gate, gate_guard, resident_pass):  # noqa: ANN001
    passage_record(gate=gate, direction="out", code=code_of(resident_pass), temperature="36.5")
    clock.advance(seconds=30)
    again = passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                           temperature="36.5")
    assert again.passage.refusal == Refusal.REPLAYED and "09:00" in again.reason
    clock.advance(minutes=3)
    assert passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                          temperature="36.5").passed


def test_outings_per_household_are_counted_over_the_days(gate, resident_pass):  # noqa: ANN001
    GatePolicy.objects.create(community=gate.community, outings_per_household=1,
                              outing_days=2)
    assert passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                          temperature="36.5").passed
    clock.advance(days=1)
    refused = passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                             temperature="36.5")
    assert refused.passage.refusal == Refusal.OUTINGS_USED
    assert passage_record(gate=gate, direction="in", code=code_of(resident_pass),
                          temperature="36.5").passed
    clock.advance(days=1)
    assert passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                          temperature="36.5").passed


def test_out_of_hours_they_may_come_in_not_go_out(gate, resident_pass):  # noqa: ANN001
    GatePolicy.objects.create(community=gate.community, opens_at="10:00", closes_at="20:00")
    out = passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                         temperature="36.5")
    assert out.passage.refusal == Refusal.CLOSED and "10:00-20:00" in out.reason
    assert passage_record(gate=gate, direction="in", code=code_of(resident_pass),
                          temperature="36.5").passed


def test_a_forged_code_is_refused_and_logged_without_a_temperature(gate, gate_guard):  # noqa: ANN001
    outcome = passage_record(gate=gate, direction="in", code="FK1.1.1.AAAAAAAAAAAAAAAAAAAAAA",
                             guard=gate_guard)
    assert (outcome.colour, outcome.passage.refusal) == ("grey", Refusal.FORGED)
    assert Passage.objects.get().result == Result.REFUSED


def test_a_pass_of_another_community_opens_nothing_here(city, gate, gate_guard,
                                                        other_grid_worker):  # noqa: ANN001
    elsewhere = city.resident_outside(gate.community)
    from fangkong.passes.models import Pass
    pass_ = Pass.objects.create(resident=elsewhere, issued_at=NOW)
    outcome = passage_record(gate=gate, direction="in", code=code_of(pass_),
                             temperature="36.5")
    assert outcome.passage.refusal == Refusal.OTHER_COMMUNITY


def test_a_scan_queued_offline_keeps_its_time_within_a_day(gate, resident_pass):  # noqa: ANN001
    earlier = NOW - timedelta(hours=3)
    outcome = passage_record(gate=gate, direction="in", code=code_of(resident_pass),
                             temperature="36.5", at=earlier, client_id="q1")
    assert outcome.passage.at == earlier and outcome.passage.received_at == NOW
    with pytest.raises(ValidationError):
        passage_record(gate=gate, direction="in", code=code_of(resident_pass),
                       temperature="36.5", at=NOW - timedelta(days=2), client_id="q2")


def test_a_scan_id_reused_by_another_sender_is_refused_not_answered(gate, gate_guard,
                                                                    resident_pass, volunteer):  # noqa: ANN001
    gate.guards.add(volunteer)
    passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                   temperature="36.5", guard=gate_guard, client_id="1")
    with pytest.raises(ValidationError) as excinfo:
        passage_record(gate=gate, direction="out", code="FK1.1.1.AAAAAAAAAAAAAAAAAAAAAA",
                       guard=volunteer, client_id="1")
    assert "client_id" in excinfo.value.message_dict
    with pytest.raises(ValidationError):  # the same sender, another direction
        passage_record(gate=gate, direction="in", code=code_of(resident_pass),
                       temperature="36.5", guard=gate_guard, client_id="1")
    assert Passage.objects.count() == 1


def test_out_in_and_out_again_within_two_minutes_is_not_a_replay(gate, resident_pass):  # noqa: ANN001
    passage_record(gate=gate, direction="out", code=code_of(resident_pass), temperature="36.5")
    clock.advance(seconds=40)
    passage_record(gate=gate, direction="in", code=code_of(resident_pass), temperature="36.5")
    clock.advance(seconds=40)
    assert passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                          temperature="36.5").passed


def test_two_people_of_a_household_go_out_together_on_its_one_pass(gate, grid_worker,
                                                                    resident):  # noqa: ANN001
    from fangkong.passes.models import Pass
    pass_ = Pass.objects.create(household=resident.household, issued_at=NOW)
    assert passage_record(gate=gate, direction="out", code=code_of(pass_),
                          temperature="36.5").passed
    clock.advance(seconds=10)
    assert passage_record(gate=gate, direction="out", code=code_of(pass_),
                          temperature="36.6").passed
    fever = passage_record(gate=gate, direction="out", code=code_of(pass_), temperature="38.0")
    assert fever.fever and "household pass" in Alert.objects.get().reason


def test_a_fever_is_acted_on_even_when_something_else_refuses_first(gate, resident_pass):  # noqa: ANN001
    GatePolicy.objects.create(community=gate.community, opens_at="10:00", closes_at="20:00")
    outcome = passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                             temperature="38.4")
    assert outcome.fever and outcome.passage.refusal == Refusal.FEVER
    assert Alert.objects.filter(rule_key="gate_fever").count() == 1


def test_the_preview_tells_a_refusal_before_any_temperature(city, gate, resident_pass):  # noqa: ANN001
    GatePolicy.objects.create(community=gate.community, temperature_for_all=False,
                              opens_at="10:00", closes_at="20:00")
    preview = scan_preview(gate=gate, code=code_of(resident_pass), direction="out")
    assert (preview.colour, preview.refusal, preview.needs_temperature) == (
        "green", Refusal.CLOSED, False)
    assert scan_preview(gate=gate, code=code_of(resident_pass), direction="in").refusal == ""


def test_hours_across_midnight(gate, resident_pass):  # noqa: ANN001
    GatePolicy.objects.create(community=gate.community, opens_at="22:00", closes_at="06:00")
    assert passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                          temperature="36.5").passage.refusal == Refusal.CLOSED  # 09:00
    clock.advance(hours=14)  # 23:00
    assert passage_record(gate=gate, direction="out", code=code_of(resident_pass),
                          temperature="36.5").passed


def test_found_by_digits_a_revoked_pass_still_stops_them(gate, grid_worker, resident_pass):  # noqa: ANN001
    from fangkong.passes.services import pass_revoke
    pass_revoke(pass_=resident_pass, reason="手机丢失", by=grid_worker)
    outcome = passage_record(gate=gate, direction="out", resident=resident_pass.resident,
                             temperature="36.5")
    assert (outcome.colour, outcome.passage.refusal) == ("grey", Refusal.REVOKED)


def test_a_guard_moved_to_another_community_keeps_no_duty_at_the_old_gates(
        city, gate, gate_guard):  # noqa: ANN001
    from fangkong.passes.selectors import guard_gates
    assert list(guard_gates(gate_guard)) == [gate]
    gate_guard.area = city.areas("community")[1]
    gate_guard.save(update_fields=["area"])
    assert not guard_gates(gate_guard).exists()
