"""Managing a community's gates: the services (gates, staff on duty, rules, devices and
their tokens), who may open the pages (404 outside one's area before 403 for a role
that cannot manage gates), and the pages' forms."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.lib import clock
from fangkong.passes import gate_services as gs
from fangkong.passes.models import Gate, GateDevice, GatePolicy
from fangkong.places.models import Area, AreaKind
from tests.factories import field_messages
from tests.passes.conftest import NOW
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

POLICY = {"opens_at": time(6), "closes_at": time(22), "outings_per_household": 1,
          "outing_days": 2, "visitors_allowed": False, "fever_threshold": Decimal("37.5"),
          "temperature_for_all": True}


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def community(community_secretary) -> Area:  # noqa: ANN001
    return community_secretary.area


def other_community(city) -> Area:  # noqa: ANN001
    return city.persona("other_grid_worker").area.parent


def gate_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.GATE_CHANGE).order_by("pk"))


# Gates ------------------------------------------------------------------------------------


def test_a_secretary_adds_a_gate_and_it_is_audited(community, community_secretary):  # noqa: ANN001
    gate = gs.gate_create(community=community, name="  北门 ", by=community_secretary)
    assert (gate.name, gate.active, gate.community_id) == ("北门", True, community.pk)
    [event] = gate_events()
    assert (event.object_type, event.object_id, event.area_path) == (
        "gate", str(gate.pk), community.path)


def test_a_gate_name_is_unique_in_its_community_only(city, community, community_secretary,  # noqa: ANN001
                                                     street_officer):
    gs.gate_create(community=community, name="北门", by=community_secretary)
    with pytest.raises(ValidationError) as excinfo:
        gs.gate_create(community=community, name="北门", by=community_secretary)
    assert "already has a gate called 北门" in field_messages(excinfo)["name"]
    other = gs.gate_create(community=other_community(city), name="北门", by=street_officer)
    assert other.community_id != community.pk
    with pytest.raises(ValidationError) as excinfo:
        gs.gate_create(community=community, name="   ", by=community_secretary)
    assert "Give the gate a name" in field_messages(excinfo)["name"]


@pytest.mark.parametrize("persona", ["grid_worker", "community_worker", "gate_guard",
                                     "other_street_officer"])
def test_who_cannot_manage_gates_is_refused(city, community, persona):  # noqa: ANN001
    with pytest.raises(PermissionDenied):
        gs.gate_create(community=community, name="北门", by=city.persona(persona))
    assert not Gate.objects.filter(name="北门").exists()


def test_a_gate_is_renamed_and_taken_out_of_use(community, community_secretary, gate):  # noqa: ANN001
    gs.gate_create(community=community, name="西门", by=community_secretary)
    with pytest.raises(ValidationError):
        gs.gate_update(gate=gate, name="西门", by=community_secretary)
    gs.gate_update(gate=gate, name="东大门", active=False, by=community_secretary)
    gate.refresh_from_db()
    assert (gate.name, gate.active) == ("东大门", False)
    assert gate_events()[-1].changes == {"name": ["东门", "东大门"], "active": [True, False]}


# Staff on duty ----------------------------------------------------------------------------


def test_staff_are_put_on_duty_and_taken_off(community_secretary, gate, gate_guard,  # noqa: ANN001
                                             volunteer, grid_worker, community_worker):
    eligible = set(gs.eligible_guards(gate.community))
    assert {gate_guard, volunteer, grid_worker, community_worker} <= eligible
    gs.gate_guards_set(gate=gate, guards=[volunteer, grid_worker], by=community_secretary)
    assert set(gate.guards.all()) == {volunteer, grid_worker}
    change = gate_events()[-1].changes["guards"]
    assert change == ["gate_guard", "grid_worker, volunteer"]
    gs.gate_guards_set(gate=gate, guards=[], by=community_secretary)
    assert not gate.guards.exists()


@pytest.mark.parametrize("persona", ["other_grid_worker", "street_officer", "admin"])
def test_only_scanning_staff_of_the_community_go_on_duty(city, community_secretary, gate,  # noqa: ANN001
                                                         gate_guard, persona):
    with pytest.raises(ValidationError) as excinfo:
        gs.gate_guards_set(gate=gate, guards=[gate_guard, city.persona(persona)],
                           by=community_secretary)
    assert "Only guards, volunteers and workers" in field_messages(excinfo)["guards"]
    assert list(gate.guards.all()) == [gate_guard]


# The rules --------------------------------------------------------------------------------


def test_the_rules_are_saved_and_audited(community, community_secretary):  # noqa: ANN001
    policy = gs.gate_policy_update(community=community, by=community_secretary, **POLICY)
    policy.refresh_from_db()
    assert (policy.opens_at, policy.outings_per_household, policy.outing_days,
            policy.visitors_allowed, policy.fever_threshold, policy.updated_by_id) == (
        time(6), 1, 2, False, Decimal("37.5"), community_secretary.pk)
    event = gate_events()[-1]
    assert event.object_type == "gate_policy"
    assert event.changes["opens_at"] == [None, "06:00"]
    assert event.changes["fever_threshold"] == ["37.3", "37.5"]
    gs.gate_policy_update(community=community, by=community_secretary,
                          **{**POLICY, "opens_at": None, "closes_at": None})
    assert GatePolicy.objects.get(community=community).opens_at is None


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"closes_at": None}, "closes_at", "both the opening and the closing time"),
    ({"opens_at": None}, "opens_at", "both the opening and the closing time"),
    ({"closes_at": time(6)}, "closes_at", "cannot close when it opens"),
    ({"fever_threshold": Decimal("35.9")}, "fever_threshold", "between 36.0 and 39.0"),
    ({"fever_threshold": Decimal("39.1")}, "fever_threshold", "between 36.0 and 39.0"),
    ({"fever_threshold": "hot"}, "fever_threshold", "between 36.0 and 39.0"),
    ({"outing_days": 0}, "outing_days", "from 1 to 30"),
    ({"outings_per_household": -1}, "outings_per_household", "0 (no limit)"),
])
def test_bad_rules_are_refused_on_their_field(community, community_secretary, change, field,  # noqa: ANN001
                                              says):
    with pytest.raises(ValidationError) as excinfo:
        gs.gate_policy_update(community=community, by=community_secretary,
                              **{**POLICY, **change})
    assert says in field_messages(excinfo)[field]
    assert not GatePolicy.objects.filter(community=community).exists()
    assert not gate_events()


# Devices ----------------------------------------------------------------------------------


def test_a_device_token_is_shown_once_and_only_its_hash_is_kept(community_secretary, gate):  # noqa: ANN001
    device, clear = gs.gate_device_create(gate=gate, name="测温机", by=community_secretary)
    assert clear.startswith("fkg_") and len(clear) > 40
    device.refresh_from_db()
    assert device.prefix == clear[4:12]
    assert device.digest == GateDevice.digest_of(clear) and clear not in device.digest
    assert clear not in str(gate_events()[-1].changes)
    found = gs.gate_device_for_token(clear)
    assert found == device and found.gate == gate


def test_a_device_is_marked_used_at_most_once_a_minute(community_secretary, gate):  # noqa: ANN001
    device, clear = gs.gate_device_create(gate=gate, name="扫码机", by=community_secretary)
    gs.gate_device_for_token(clear)
    device.refresh_from_db()
    assert device.last_used_at == NOW
    with clock.pinned(NOW + timedelta(seconds=30)):
        gs.gate_device_for_token(clear)
    device.refresh_from_db()
    assert device.last_used_at == NOW
    with clock.pinned(NOW + timedelta(seconds=61)):
        gs.gate_device_for_token(clear)
    device.refresh_from_db()
    assert device.last_used_at == NOW + timedelta(seconds=61)


def test_a_revoked_device_or_a_gate_out_of_use_opens_nothing(community_secretary, gate):  # noqa: ANN001
    device, clear = gs.gate_device_create(gate=gate, name="扫码机", by=community_secretary)
    other, other_clear = gs.gate_device_create(gate=gate, name="测温机", by=community_secretary)
    assert gs.gate_device_for_token("fkg_not-a-token") is None
    assert gs.gate_device_for_token(clear[4:]) is None
    assert gs.gate_device_for_token("") is None
    gs.gate_device_revoke(device=device, by=community_secretary)
    assert gs.gate_device_for_token(clear) is None
    assert gs.gate_device_for_token(other_clear) == other
    gs.gate_update(gate=gate, active=False, by=community_secretary)
    assert gs.gate_device_for_token(other_clear) is None


def test_a_community_worker_cannot_add_a_device(community_worker, gate):  # noqa: ANN001
    with pytest.raises(PermissionDenied):
        gs.gate_device_create(gate=gate, name="扫码机", by=community_worker)
    assert not GateDevice.objects.exists()


# The pages --------------------------------------------------------------------------------


def gates_url(community: Area) -> str:
    return reverse("passes:gates", args=[community.pk])


def gate_url(gate: Gate) -> str:
    return reverse("passes:gate", args=[gate.pk])


@pytest.mark.parametrize(("persona", "status"), [
    ("community_secretary", 200), ("street_officer", 200), ("admin", 200),
    ("community_worker", 403), ("gate_guard", 403), ("volunteer", 403),
    ("grid_worker", 404), ("other_grid_worker", 404), ("other_street_officer", 404),
])
def test_who_opens_the_gates_page(city, community, gate, persona, status):  # noqa: ANN001
    client = make_client(city.persona(persona), language="en")
    assert client.get(gates_url(community)).status_code == status
    assert client.get(gate_url(gate)).status_code == status


def test_a_grid_or_street_is_not_a_community_with_gates(city, street_officer):  # noqa: ANN001
    client = make_client(street_officer, language="en")
    assert client.get(gates_url(street_officer.area)).status_code == 404
    grid = Area.objects.filter(kind=AreaKind.GRID, path__startswith=street_officer.area.path)
    assert client.get(gates_url(grid.first())).status_code == 404


def test_outside_the_area_is_404_even_without_the_capability(city, gate):  # noqa: ANN001
    client = make_client(city.persona("other_grid_worker"), language="en")
    assert client.get(gate_url(gate)).status_code == 404
    assert client.post(gate_url(gate), {"action": "edit", "name": "x"}).status_code == 404


def test_the_page_adds_a_gate_and_refuses_a_duplicate(community, community_secretary, gate):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    page = client.get(gates_url(community))
    assert "东门" in page.content.decode()
    response = client.post(gates_url(community), {"action": "add_gate", "name": "南门"})
    added = Gate.objects.get(name="南门")
    assert response.status_code == 302 and response["Location"] == gate_url(added)
    response = client.post(gates_url(community), {"action": "add_gate", "name": "东门"})
    assert response.status_code == 200
    assert "This community already has a gate called 东门" in response.content.decode()
    assert Gate.objects.filter(community=community).count() == 2


def test_the_page_saves_the_rules_or_says_what_is_wrong(community, community_secretary):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    form = {"action": "policy", "opens_at": "06:00", "closes_at": "", "outings_per_household": "1",
            "outing_days": "2", "visitors_allowed": "on", "fever_threshold": "37.3",
            "temperature_for_all": "on"}
    response = client.post(gates_url(community), form)
    assert response.status_code == 200
    assert "Give both the opening and the closing time" in response.content.decode()
    assert not GatePolicy.objects.exists()
    response = client.post(gates_url(community), {**form, "fever_threshold": "40"})
    assert "Fever starts between 36.0 and 39.0" in response.content.decode()
    response = client.post(gates_url(community), {**form, "closes_at": "22:00"})
    assert response.status_code == 302
    policy = GatePolicy.objects.get(community=community)
    assert (policy.closes_at, policy.outing_days, policy.visitors_allowed) == (time(22), 2, True)


def test_the_gate_page_puts_staff_on_duty(community_secretary, gate, gate_guard, volunteer):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    page = client.get(gate_url(gate)).content.decode()
    assert "Volunteer" in page and 'value="guards"' in page
    response = client.post(gate_url(gate), {"action": "guards",
                                            "guards": [gate_guard.pk, volunteer.pk]})
    assert response.status_code == 302
    assert set(gate.guards.all()) == {gate_guard, volunteer}


def test_the_gate_page_refuses_staff_of_another_community(city, community_secretary, gate,  # noqa: ANN001
                                                          gate_guard):
    client = make_client(community_secretary, language="en")
    outsider = city.persona("other_grid_worker")
    response = client.post(gate_url(gate), {"action": "guards", "guards": [outsider.pk]})
    assert response.status_code == 200
    assert "Only guards, volunteers and workers" in response.content.decode()
    assert list(gate.guards.all()) == [gate_guard]


def test_the_device_key_is_shown_on_the_one_response(community_secretary, gate):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    response = client.post(gate_url(gate), {"action": "device_add", "name": "测温机"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    device = GateDevice.objects.get()
    text = response.content.decode()
    clear = text.split('id="device-token">')[1].split("<")[0]
    assert clear.startswith("fkg_") and GateDevice.digest_of(clear) == device.digest
    assert clear not in client.get(gate_url(gate)).content.decode()
    response = client.post(gate_url(gate), {"action": "device_revoke", "device": device.pk})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.revoked_at == NOW


def test_a_device_of_another_gate_cannot_be_revoked_here(community, community_secretary,  # noqa: ANN001
                                                         gate):
    other_gate = gs.gate_create(community=community, name="西门", by=community_secretary)
    device, _clear = gs.gate_device_create(gate=other_gate, name="扫码机",
                                           by=community_secretary)
    client = make_client(community_secretary, language="en")
    response = client.post(gate_url(gate), {"action": "device_revoke", "device": device.pk})
    assert response.status_code == 404
    device.refresh_from_db()
    assert device.revoked_at is None


def test_the_gate_page_renames_and_takes_out_of_use(community_secretary, gate):  # noqa: ANN001
    client = make_client(community_secretary, language="en")
    response = client.post(gate_url(gate), {"action": "edit", "name": "东大门"})
    assert response.status_code == 302
    gate.refresh_from_db()
    assert (gate.name, gate.active) == ("东大门", False)
    response = client.post(gate_url(gate), {"action": "edit", "name": ""})
    assert "Give the gate a name" in response.content.decode()


def test_the_community_page_links_to_its_gates(city, community, community_secretary):  # noqa: ANN001
    url = reverse("places:area", args=[community.pk])
    link = gates_url(community)
    assert link in make_client(community_secretary, language="en").get(url).content.decode()
    worker_page = make_client(city.persona("community_worker"), language="en").get(url)
    assert link not in worker_page.content.decode()
