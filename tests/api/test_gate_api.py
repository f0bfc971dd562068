"""POST /api/gate/scan: a gate device verifies a code and records the passage in one
call, with its own token, at its own gate; its token opens nothing else, and no user
token or session opens the scan."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from fangkong.followup.models import Alert
from fangkong.isolation.models import IsolationPeriod, PeriodKind, PeriodStatus
from fangkong.lib import clock
from fangkong.passes.models import Gate, GateDevice, Pass, Passage, Refusal, Result
from fangkong.passes.tokens import pass_token

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
SCAN = "/api/gate/scan"


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


def make_device(gate: Gate, name: str = "东门扫码机") -> tuple[GateDevice, str]:
    clear = "fkg_" + secrets.token_urlsafe(32)
    device = GateDevice.objects.create(gate=gate, name=name, prefix=clear[4:12],
                                       digest=GateDevice.digest_of(clear), created_at=NOW)
    return device, clear


@pytest.fixture
def gate(town) -> Gate:  # noqa: ANN001
    return Gate.objects.create(community=town.areas["C1"], name="东门", created_at=NOW)


@pytest.fixture
def device(gate) -> tuple[GateDevice, str]:  # noqa: ANN001
    return make_device(gate)


@pytest.fixture
def resident_pass(town) -> Pass:  # noqa: ANN001
    return Pass.objects.create(resident=town.resident("A1"), issued_at=NOW)


def code_of(pass_: Pass) -> str:
    return pass_token(pass_.pk, pass_.version)


def scan(token: str | None, body: dict, client: Client | None = None):  # noqa: ANN201
    # The device asks for English, so the messages can be compared here.
    headers = {"HTTP_ACCEPT_LANGUAGE": "en"}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return (client or Client()).post(SCAN, json.dumps(body), content_type="application/json",
                                     **headers)


def test_a_green_resident_goes_out_and_the_passage_names_the_device(device, resident_pass):  # noqa: ANN001
    row, clear = device
    response = scan(clear, {"code": code_of(resident_pass), "direction": "out",
                            "temperature": 36.5, "client_id": "k1-0001"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["result"] == "passed" and body["refusal"] == ""
    assert (body["colour"], body["kind"], body["fever"], body["duplicate"]) == (
        "green", "resident", False, False)
    assert body["reason"] == "Out: may pass."
    assert body["needs_temperature"] is True and body["protocol"] == []
    person = body["people"][0]
    assert "*" in person["name"] and person["room"] == resident_pass.resident.household.label
    passage = Passage.objects.get(pk=body["passage_id"])
    assert (passage.gate_id, passage.device_id, passage.guard_id, passage.client_id) == (
        row.gate_id, row.pk, None, "k1-0001")
    assert (passage.result, str(passage.temperature), passage.pass_ref_id) == (
        Result.PASSED, "36.5", resident_pass.pk)


def test_a_temperature_typed_as_text_is_read(device, resident_pass):  # noqa: ANN001
    response = scan(device[1], {"code": code_of(resident_pass), "direction": "in",
                                "temperature": "365"})
    assert response.status_code == 200
    assert str(Passage.objects.get(pk=response.json()["passage_id"]).temperature) == "36.5"


def test_a_forged_code_is_refused_and_logged_with_the_device(device, resident_pass):  # noqa: ANN001
    row, clear = device
    genuine = code_of(resident_pass)
    forged = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")
    response = scan(clear, {"code": forged, "direction": "in", "temperature": 36.6})
    assert response.status_code == 200
    body = response.json()
    assert (body["result"], body["refusal"], body["colour"], body["kind"]) == (
        "refused", Refusal.FORGED, "grey", "unknown")
    assert body["people"] == []
    passage = Passage.objects.get(pk=body["passage_id"])
    assert (passage.result, passage.refusal, passage.device_id, passage.gate_id) == (
        Result.REFUSED, Refusal.FORGED, row.pk, row.gate_id)


def test_a_fever_is_refused_with_the_protocol_and_alerts_the_grid_worker(device,
                                                                          resident_pass):  # noqa: ANN001
    response = scan(device[1], {"code": code_of(resident_pass), "direction": "out",
                                "temperature": "38.2"})
    assert response.status_code == 200
    body = response.json()
    assert (body["result"], body["refusal"], body["fever"], body["colour"]) == (
        "refused", Refusal.FEVER, True, "red")
    assert len(body["protocol"]) >= 3 and "38.2" in body["reason"]
    alert = Alert.objects.get(resident=resident_pass.resident)
    assert (alert.rule_key, alert.grid_id) == ("gate_fever", resident_pass.resident.grid_id)


@pytest.mark.parametrize("temperature", [45, "45.0", "33.9", "abc", "NaN"])
def test_an_impossible_temperature_is_a_400_and_nothing_is_recorded(device, resident_pass,
                                                                    temperature):  # noqa: ANN001
    response = scan(device[1], {"code": code_of(resident_pass), "direction": "out",
                                "temperature": temperature, "client_id": "t-1"})
    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) == {"temperature"} and body["detail"]
    assert not Passage.objects.exists()


def test_a_missing_temperature_is_asked_for(device, resident_pass):  # noqa: ANN001
    response = scan(device[1], {"code": code_of(resident_pass), "direction": "out"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"temperature": ["Take the temperature first."]}
    assert not Passage.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"direction": "sideways"}, "direction"),
    ({"direction": "in", "at": "2026-12-01T08:59:00"}, "at"),  # no time zone
    ({"direction": "in", "at": "2026-12-01T10:00:00+08:00"}, "at"),  # in the future
])
def test_a_wrong_direction_or_time_is_a_400(device, resident_pass, body, field):  # noqa: ANN001
    response = scan(device[1], {"code": code_of(resident_pass), "temperature": 36.5, **body})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}
    assert not Passage.objects.exists()


def test_a_scan_queued_offline_keeps_its_time(device, resident_pass):  # noqa: ANN001
    response = scan(device[1], {"code": code_of(resident_pass), "direction": "in",
                                "temperature": 36.5, "at": "2026-12-01T07:30:00+08:00"})
    assert response.status_code == 200
    passage = Passage.objects.get(pk=response.json()["passage_id"])
    assert passage.at == NOW - timedelta(minutes=90) and passage.received_at == NOW


def test_a_scan_sent_twice_with_the_same_client_id_is_recorded_once(device, resident_pass):  # noqa: ANN001
    body = {"code": code_of(resident_pass), "direction": "out", "temperature": 36.5,
            "client_id": "retry-7"}
    first = scan(device[1], body).json()
    clock.advance(seconds=20)
    again = scan(device[1], body).json()
    assert again["passage_id"] == first["passage_id"]
    assert (first["duplicate"], again["duplicate"], again["result"]) == (False, True, "passed")
    assert Passage.objects.count() == 1


def test_a_red_resident_may_come_in_but_not_go_out(town, device, resident_pass):  # noqa: ANN001
    IsolationPeriod.objects.create(resident=resident_pass.resident, kind=PeriodKind.ISOLATION,
                                   starts_on=NOW.date(),
                                   planned_end=NOW.date() + timedelta(days=14),
                                   status=PeriodStatus.OPEN, reason="密接")
    out = scan(device[1], {"code": code_of(resident_pass), "direction": "out",
                           "temperature": 36.5}).json()
    assert (out["result"], out["refusal"], out["colour"]) == (
        "refused", Refusal.MAY_NOT_LEAVE, "red")
    came_in = scan(device[1], {"code": code_of(resident_pass), "direction": "in",
                               "temperature": 36.5}).json()
    assert came_in["result"] == "passed"


def test_a_device_records_at_its_own_gate_only(town, resident_pass):  # noqa: ANN001
    """A device of another community's gate: the pass of a resident of C1 is refused
    there (other community), and the passage is that gate's."""
    other_gate = Gate.objects.create(community=town.areas["C2"], name="南门", created_at=NOW)
    row, clear = make_device(other_gate, "南门终端")
    response = scan(clear, {"code": code_of(resident_pass), "direction": "in",
                            "temperature": 36.5})
    assert response.status_code == 200
    body = response.json()
    assert (body["result"], body["refusal"]) == ("refused", Refusal.OTHER_COMMUNITY)
    passage = Passage.objects.get(pk=body["passage_id"])
    assert (passage.gate_id, passage.community_id, passage.device_id) == (
        other_gate.pk, town.areas["C2"].pk, row.pk)


# Who may scan --------------------------------------------------------------------------


def test_a_revoked_device_gets_401(device, resident_pass):  # noqa: ANN001
    row, clear = device
    GateDevice.objects.filter(pk=row.pk).update(revoked_at=NOW)
    response = scan(clear, {"code": code_of(resident_pass), "direction": "in",
                            "temperature": 36.5})
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}
    assert not Passage.objects.exists()


def test_a_device_of_a_gate_no_longer_in_use_gets_401(gate, device, resident_pass):  # noqa: ANN001
    Gate.objects.filter(pk=gate.pk).update(active=False)
    response = scan(device[1], {"code": code_of(resident_pass), "direction": "in",
                                "temperature": 36.5})
    assert response.status_code == 401
    assert not Passage.objects.exists()


@pytest.mark.parametrize("token", [None, "", "fkg_unknown-token", "fkg_" + "x" * 200])
def test_a_missing_or_unknown_device_token_gets_401(device, resident_pass, token):  # noqa: ANN001
    response = scan(token, {"code": code_of(resident_pass), "direction": "in",
                            "temperature": 36.5})
    assert response.status_code == 401
    assert not Passage.objects.exists()


def test_a_user_token_cannot_scan(town, device, resident_pass):  # noqa: ANN001
    for persona in ("gate_guard", "admin"):
        response = scan(town.tokens[persona], {"code": code_of(resident_pass),
                                               "direction": "in", "temperature": 36.5})
        assert response.status_code == 401, persona
    assert not Passage.objects.exists()


def test_a_session_cannot_scan(town, device, resident_pass):  # noqa: ANN001
    client = Client()
    client.force_login(town.users["gate_guard"])
    response = scan(None, {"code": code_of(resident_pass), "direction": "in",
                           "temperature": 36.5}, client)
    assert response.status_code == 401
    assert not Passage.objects.exists()


@pytest.mark.parametrize("path", ["/api/residents", "/api/me",
                                  "/api/followup/alerts"])
def test_a_device_token_reads_nothing_else(device, path):  # noqa: ANN001
    response = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {device[1]}")
    assert response.status_code == 401


def test_a_device_token_cannot_write_elsewhere(town, device):  # noqa: ANN001
    response = Client().post("/api/followup/isolation", json.dumps({
        "resident_id": town.resident("A1").pk, "kind": "isolation"}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {device[1]}")
    assert response.status_code == 401


def test_device_use_is_recorded_at_most_once_a_minute(device, resident_pass):  # noqa: ANN001
    row, clear = device
    body = {"code": "not a pass", "direction": "in"}
    scan(clear, body)
    row.refresh_from_db()
    assert row.last_used_at == NOW
    clock.advance(seconds=30)
    scan(clear, body)
    row.refresh_from_db()
    assert row.last_used_at == NOW
    clock.advance(seconds=31)
    scan(clear, body)
    row.refresh_from_db()
    assert row.last_used_at == NOW + timedelta(seconds=61)


def test_one_scan_takes_a_few_queries(device, resident_pass, django_assert_max_num_queries):  # noqa: ANN001
    scan(device[1], {"code": "warm-up", "direction": "in"})  # device marked as used
    clock.advance(seconds=5)
    with django_assert_max_num_queries(10):
        response = scan(device[1], {"code": code_of(resident_pass), "direction": "out",
                                    "temperature": 36.5, "client_id": "q-1"})
    assert response.json()["result"] == "passed"
