"""Recording answers (whatever channel brought them), the alerts they raise, and what
happens to alerts afterwards: resolving and escalating up the area tree."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from fangkong.followup.alerts import alert_resolve, alerts_escalate
from fangkong.followup.answers import contacts_answer
from fangkong.followup.models import (
    Alert,
    AlertEvent,
    AlertOutcome,
    AlertStatus,
    Contact,
    ContactState,
)
from fangkong.followup.rounds import round_open
from fangkong.places.models import AreaKind
from fangkong.residents.models import Resident, Tag
from tests.followup.conftest import MONDAY, TUESDAY, at, make_campaign

pytestmark = pytest.mark.django_db

WEDNESDAY = TUESDAY + timedelta(days=1)
FEVER = {"fever": True, "temperature": Decimal("38.2"), "cough": False, "symptoms": []}
FINE = {"fever": False, "cough": False, "symptoms": []}


@pytest.fixture
def resident(community):  # noqa: ANN001, ANN201
    """One resident of the community, the only one the campaign asks."""
    person = Resident.objects.filter(community=community).order_by("pk").first()
    Tag.objects.create(slug="answers_test", name="answers_test").residents.add(person)
    return person


@pytest.fixture
def campaign(community_secretary, community, resident, pinned_clock):  # noqa: ANN001, ANN201
    return make_campaign(community_secretary, community, target={"tags": ["answers_test"]})


def contact_in(campaign, day=MONDAY) -> Contact:  # noqa: ANN001
    """The resident's contact in the campaign's round of `day` (opened if need be)."""
    round_ = round_open(campaign=campaign, scheduled_for=at(9, 0, day), now=at(8, 0))
    return Contact.objects.select_related("round", "round__campaign").get(round=round_)


def answer(contact: Contact, given: dict, *, when=None, channel: str = "web") -> Contact:  # noqa: ANN001
    contacts_answer([(contact, given, channel)], now=when or at(9, 30))
    return Contact.objects.select_related("round", "round__campaign").get(pk=contact.pk)


# --- answers ----------------------------------------------------------------------------

def test_a_partial_answer_is_kept_and_the_contact_stays_pending(campaign):
    contact = answer(contact_in(campaign), {"fever": True})

    assert contact.state == ContactState.PENDING
    assert contact.answers == {"fever": [True, "web"]}
    assert (contact.answered_at, contact.answered_via, contact.severity) == (None, "", "")
    assert not Alert.objects.filter(contact=contact).exists()


def test_a_complete_answer_with_fever_is_answered_and_alerts_the_grid(campaign, resident):
    contact = answer(contact_in(campaign), FEVER, when=at(9, 30), channel="voice")

    assert (contact.state, contact.severity) == (ContactState.ANSWERED, "high")
    assert (contact.answered_via, contact.answered_at, contact.due_at) == ("voice", at(9, 30),
                                                                            None)
    assert contact.answers["temperature"] == ["38.2", "voice"]
    alerts = {a.rule_key: a for a in Alert.objects.filter(contact=contact)}
    assert set(alerts) == {"fever", "fever_reported"}
    fever = alerts["fever"]
    assert (fever.severity, fever.kind, fever.status) == ("high", "rule", AlertStatus.OPEN)
    assert fever.assigned_area_id == resident.grid_id
    assert fever.grid_id == resident.grid_id and fever.community_id == resident.community_id
    assert fever.due_at == at(9, 30) + timedelta(minutes=120)
    assert "38.2" in fever.reason
    assert alerts["fever_reported"].severity == "medium"
    assert list(fever.events.values_list("what", flat=True)) == ["raised"]


def test_answering_again_does_not_raise_a_second_open_alert(campaign):
    contact = answer(contact_in(campaign), FEVER, when=at(9, 30))

    again = answer(contact, {**FEVER, "temperature": Decimal("38.6")}, when=at(10, 0))

    assert Alert.objects.filter(contact=contact, rule_key="fever").count() == 1
    assert again.answers["temperature"][0] == "38.6"
    assert again.answered_at == at(9, 30)  # the first complete answer is when it was answered


def test_answers_to_questions_that_no_longer_apply_are_dropped(campaign):
    contact = answer(contact_in(campaign), {"fever": True, "temperature": Decimal("37.9")})

    corrected = answer(contact, {"fever": False, "cough": False})

    assert set(corrected.answers) == {"fever", "cough"}
    assert corrected.state == ContactState.ANSWERED and corrected.severity == ""
    assert not Alert.objects.filter(contact=contact).exists()


def test_a_normal_answer_raises_no_alert(campaign):
    contact = answer(contact_in(campaign), FINE)

    assert (contact.state, contact.severity) == (ContactState.ANSWERED, "")
    assert not Alert.objects.filter(contact=contact).exists()


@pytest.mark.parametrize(("readings", "fires"), [
    (["37.4", "37.8", "38.3"], True),
    (["37.4", "37.8", "37.6"], False),  # came down again
    (["37.4", "37.5", "37.6"], False),  # a rise under 0.3 °C
])
def test_a_temperature_rising_over_three_rounds_raises_an_alert(campaign, readings, fires):
    contacts = []
    for day, reading in zip((MONDAY, TUESDAY, WEDNESDAY), readings, strict=True):
        contact = answer(contact_in(campaign, day),
                         {**FEVER, "temperature": Decimal(reading)}, when=at(9, 30, day))
        contacts.append(contact)

    rising = Alert.objects.filter(rule_key="rising", resident=contacts[0].resident)
    assert not rising.filter(contact__in=contacts[:2]).exists()  # two readings are no trend
    assert rising.filter(contact=contacts[2]).exists() is fires
    if fires:
        assert "37.4 °C → 37.8 °C → 38.3 °C" in rising.get().reason


def test_the_rising_trend_reads_only_this_campaigns_earlier_rounds(
        campaign, community_secretary, community):
    other = make_campaign(community_secretary, community, target={"tags": ["answers_test"]},
                          name="另一项随访")
    answer(contact_in(other, MONDAY), {**FEVER, "temperature": Decimal("37.4")})
    answer(contact_in(other, TUESDAY), {**FEVER, "temperature": Decimal("37.8")})

    third = answer(contact_in(campaign, WEDNESDAY), {**FEVER, "temperature": Decimal("38.3")})

    assert not Alert.objects.filter(contact=third, rule_key="rising").exists()


# --- resolving alerts -------------------------------------------------------------------

@pytest.fixture
def fever_alert(campaign) -> Alert:  # noqa: ANN001
    contact = answer(contact_in(campaign), FEVER, when=at(9, 30))
    return Alert.objects.get(contact=contact, rule_key="fever")


def test_a_grid_worker_resolves_an_alert_with_what_was_done(fever_alert, grid_worker,
                                                          pinned_clock):
    pinned_clock.set(at(10, 15))

    resolved = alert_resolve(alert=fever_alert, by=grid_worker,
                             outcome=AlertOutcome.FEVER_CLINIC, note=" 已送发热门诊 ")

    resolved.refresh_from_db()
    assert (resolved.status, resolved.outcome, resolved.note) == (
        AlertStatus.RESOLVED, "fever_clinic", "已送发热门诊")
    assert (resolved.resolved_by, resolved.resolved_at) == (grid_worker, at(10, 15))
    event = resolved.events.get(what="resolved")
    assert (event.by, event.at) == (grid_worker, at(10, 15))


@pytest.mark.parametrize("persona", ["gate_guard", "volunteer", "admin"])
def test_roles_that_do_not_handle_alerts_cannot_resolve_one(fever_alert, city, persona):
    with pytest.raises(PermissionDenied):
        alert_resolve(alert=fever_alert, by=city.persona(persona), outcome="visited")

    fever_alert.refresh_from_db()
    assert fever_alert.status == AlertStatus.OPEN


@pytest.mark.parametrize("outcome", ["", "cured"])
def test_an_alert_is_not_resolved_without_a_known_outcome(fever_alert, grid_worker, outcome):
    with pytest.raises(ValidationError) as excinfo:
        alert_resolve(alert=fever_alert, by=grid_worker, outcome=outcome)

    assert set(excinfo.value.message_dict) == {"outcome"}
    fever_alert.refresh_from_db()
    assert fever_alert.status == AlertStatus.OPEN


def test_other_needs_a_note_saying_what_was_done(fever_alert, grid_worker):
    with pytest.raises(ValidationError) as excinfo:
        alert_resolve(alert=fever_alert, by=grid_worker, outcome="other", note="   ")
    assert set(excinfo.value.message_dict) == {"note"}

    resolved = alert_resolve(alert=fever_alert, by=grid_worker, outcome="other",
                             note="家属已带去社区医院")
    assert resolved.status == AlertStatus.RESOLVED


def test_an_alert_cannot_be_resolved_twice(fever_alert, grid_worker, community_secretary):
    alert_resolve(alert=fever_alert, by=grid_worker, outcome="visited")

    with pytest.raises(ValidationError) as excinfo:
        alert_resolve(alert=fever_alert, by=community_secretary, outcome="false_alarm")

    assert set(excinfo.value.message_dict) == {"outcome"}
    fever_alert.refresh_from_db()
    assert (fever_alert.outcome, fever_alert.resolved_by) == ("visited", grid_worker)
    assert fever_alert.events.filter(what="resolved").count() == 1


def test_a_resolved_alert_is_raised_afresh_by_a_new_answer(fever_alert, grid_worker):
    alert_resolve(alert=fever_alert, by=grid_worker, outcome="false_alarm")

    answer(fever_alert.contact, {**FEVER, "temperature": Decimal("38.8")}, when=at(11, 0))

    assert Alert.objects.filter(contact=fever_alert.contact, rule_key="fever",
                                status=AlertStatus.OPEN).count() == 1


# --- escalation -------------------------------------------------------------------------

def test_an_overdue_alert_climbs_from_the_grid_to_the_community_to_the_street_and_stops(
        fever_alert, resident):
    grid = fever_alert.assigned_area
    community = grid.parent
    street = community.parent
    assert (grid.kind, community.kind, street.kind) == (AreaKind.GRID, AreaKind.COMMUNITY,
                                                       AreaKind.STREET)
    due = at(11, 30)  # raised at 09:30 with 120 minutes to act
    assert fever_alert.due_at == due

    # the answer also raised "fever_reported", with the same 120 minutes: both move
    assert alerts_escalate(now=due - timedelta(minutes=1)) == 0
    assert alerts_escalate(now=due) == 2
    assert alerts_escalate(now=due) == 0  # idempotent: the new deadline lies ahead
    fever_alert.refresh_from_db()
    assert (fever_alert.assigned_area_id, fever_alert.level, fever_alert.due_at) == (
        community.pk, 1, due + timedelta(minutes=120))

    assert alerts_escalate(now=at(13, 30)) == 2
    fever_alert.refresh_from_db()
    assert (fever_alert.assigned_area_id, fever_alert.level, fever_alert.due_at) == (
        street.pk, 2, at(15, 30))

    assert alerts_escalate(now=at(15, 30)) == 0
    fever_alert.refresh_from_db()
    assert (fever_alert.assigned_area_id, fever_alert.level, fever_alert.due_at) == (
        street.pk, 2, None)
    assert alerts_escalate(now=at(23, 0)) == 0

    events = list(AlertEvent.objects.filter(alert=fever_alert).values_list("what", "detail"))
    assert events == [("raised", fever_alert.reason), ("escalated", community.name),
                      ("escalated", street.name), ("overdue", street.name)]
    # the grid keeps the case: escalation widens who must act, not where it belongs
    assert fever_alert.grid_id == resident.grid_id


def test_a_resolved_alert_is_not_escalated(fever_alert, grid_worker):
    alert_resolve(alert=fever_alert, by=grid_worker, outcome="visited")

    alerts_escalate(now=at(23, 0))

    fever_alert.refresh_from_db()
    assert (fever_alert.level, fever_alert.assigned_area_id) == (0, fever_alert.grid_id)
    assert not fever_alert.events.filter(what="escalated").exists()
    other = Alert.objects.get(contact=fever_alert.contact, rule_key="fever_reported")
    assert other.level == 1  # the open one beside it did move on
