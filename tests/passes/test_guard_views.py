"""The guard's pages: only at the gates one is on duty at; check and record in JSON; a
forged code refused and logged at once; a temperature to take again records nothing; a
scan sent twice counts once; the last-digits search stays in the gate's community and
is rate-limited; CSRF holds."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from fangkong.followup.channels.base import masked_name
from fangkong.followup.models import Alert
from fangkong.isolation.models import IsolationPeriod
from fangkong.lib import clock
from fangkong.passes.guard_views import FIND_LIMIT, found_ref
from fangkong.passes.models import Gate, Passage, Refusal, Result
from fangkong.residents.models import Resident
from tests.passes.conftest import NOW, code_of
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
FORGED = "FK1.1.1.AAAAAAAAAAAAAAAAAAAAAA"


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def guard_client(gate_guard):  # noqa: ANN001, ANN201
    return make_client(gate_guard, language="en")


def call(client: Client, name: str, gate: Gate, **data):  # noqa: ANN003, ANN201
    return client.post(reverse(f"passes:{name}", args=[gate.pk]), json.dumps(data),
                       content_type="application/json")


# ---- Pages and access -------------------------------------------------------------------

def test_the_guard_with_one_gate_goes_straight_to_its_scanner(guard_client, gate):  # noqa: ANN001
    response = guard_client.get(reverse("passes:my_gates"))
    assert response.status_code == 302
    assert response.url == reverse("passes:scan", args=[gate.pk])
    page = guard_client.get(response.url)
    assert page.status_code == 200
    html = page.content.decode()
    assert gate.name in html and 'id="guard-setup"' in html
    assert "passes/guard.js" in html and "vendor/jsQR-1.4.0.js" in html
    assert 'capture="environment"' in html
    setup = page.context["setup"]
    assert setup["urls"]["record"] == reverse("passes:record", args=[gate.pk])
    assert setup["text"]["queued"].startswith("Network down")
    # No script on the page but the data blob and the two files.
    assert html.count("<script") == 3


def test_a_guard_with_several_gates_picks_one(guard_client, gate, gate_guard):  # noqa: ANN001
    west = Gate.objects.create(community=gate.community, name="西门", created_at=NOW)
    west.guards.add(gate_guard)
    Gate.objects.create(community=gate.community, name="北门", created_at=NOW)
    page = guard_client.get(reverse("passes:my_gates"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "东门" in html and "西门" in html and "北门" not in html
    assert reverse("passes:my_gates") in guard_client.get(
        reverse("passes:scan", args=[west.pk])).content.decode()


def test_a_guard_has_no_gate_yet(city):  # noqa: ANN001
    page = make_client(city.persona("volunteer"), language="en").get(reverse("passes:my_gates"))
    assert page.status_code == 200 and "not on duty at any gate" in page.content.decode()


def test_the_nav_leads_guards_to_their_gates(guard_client, gate):  # noqa: ANN001
    home = guard_client.get(reverse("places:home"))
    assert reverse("passes:my_gates") in home.content.decode()


@pytest.mark.parametrize("where", ["same_community", "other_community"])
def test_a_gate_one_is_not_on_duty_at_is_not_found(city, guard_client, gate, where,  # noqa: ANN001
                                                   resident_pass):
    community = gate.community if where == "same_community" else city.areas("community")[1]
    other = Gate.objects.create(community=community, name="南门", created_at=NOW)
    assert guard_client.get(reverse("passes:scan", args=[other.pk])).status_code == 404
    for name in ("check", "record", "find"):
        response = call(guard_client, name, other, code=code_of(resident_pass),
                        direction="in", temperature="36.5", digits="1234")
        assert response.status_code == 404 and "not on duty" in response.json()["detail"]
    assert not Passage.objects.exists()


def test_a_role_that_may_not_scan_reaches_no_gate_even_when_put_on_duty(city, gate,
                                                                      resident_pass):  # noqa: ANN001
    # A street officer works at the street, not at the community's gates.
    officer = city.persona("street_officer")
    gate.guards.add(officer)
    client = make_client(officer, language="en")
    assert client.get(reverse("passes:scan", args=[gate.pk])).status_code == 404
    assert client.get(reverse("passes:my_gates")).status_code == 403
    response = call(client, "record", gate, code=code_of(resident_pass), direction="in",
                    temperature="36.5")
    assert response.status_code == 404
    assert not Passage.objects.exists()


def test_a_gate_out_of_use_is_not_found(guard_client, gate):  # noqa: ANN001
    Gate.objects.filter(pk=gate.pk).update(active=False)
    assert guard_client.get(reverse("passes:scan", args=[gate.pk])).status_code == 404


def test_logged_out_means_the_login_page(gate):  # noqa: ANN001
    client = make_client()
    assert client.get(reverse("passes:scan", args=[gate.pk])).status_code == 302
    response = call(client, "check", gate, code="x", direction="in")
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_the_calls_take_only_post(guard_client, gate):  # noqa: ANN001
    assert guard_client.get(reverse("passes:check", args=[gate.pk])).status_code == 405


def test_csrf_is_enforced(gate_guard, gate, resident_pass):  # noqa: ANN001
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(gate_guard)
    body = json.dumps({"code": code_of(resident_pass), "direction": "in"})
    url = reverse("passes:check", args=[gate.pk])
    assert client.post(url, body, content_type="application/json").status_code == 403
    client.get(reverse("passes:scan", args=[gate.pk]))
    token = client.cookies["csrftoken"].value
    answer = client.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert answer.status_code == 200 and answer.json()["colour"] == "green"


# ---- check ------------------------------------------------------------------------------

def test_check_says_who_it_is_and_asks_for_the_temperature(guard_client, gate, resident_pass):  # noqa: ANN001
    answer = call(guard_client, "check", gate, code=code_of(resident_pass), direction="out",
                  client_id="c1")
    assert answer.status_code == 200
    resident = resident_pass.resident
    assert answer.json() == {
        "recorded": False, "passage_id": None, "result": None, "refusal": "", "at": "",
        "temperature": None, "colour": "green", "reason": "May pass.",
        "people": [{"name": masked_name(resident.name), "room": resident.household.label}],
        "kind": "resident", "needs_temperature": True, "fever": False, "protocol": [],
        "duplicate": False}
    assert resident.name not in answer.content.decode("utf-8")
    assert not Passage.objects.exists()


def test_a_forged_code_is_refused_and_logged_at_once(guard_client, gate, gate_guard):  # noqa: ANN001
    answer = call(guard_client, "check", gate, code=FORGED, direction="in", client_id="f1")
    data = answer.json()
    assert answer.status_code == 200
    assert (data["recorded"], data["result"], data["refusal"], data["colour"]) == (
        True, "refused", "forged", "grey")
    assert "Forged" in data["reason"] and not data["needs_temperature"]
    row = Passage.objects.get()
    assert (row.refusal, row.guard_id, row.client_id, row.gate_id) == (
        Refusal.FORGED, gate_guard.pk, "f1", gate.pk)
    # The same check sent again (its answer was lost) is not logged twice.
    again = call(guard_client, "check", gate, code=FORGED, direction="in", client_id="f1")
    assert again.json()["duplicate"] and Passage.objects.count() == 1


@pytest.mark.parametrize("code", ["https://weixin.qq.com/x", "FK1.3d7.1", "x" * 5000])
def test_malformed_codes_are_refused_with_the_reason(guard_client, gate, code):  # noqa: ANN001
    data = call(guard_client, "check", gate, code=code, direction="in").json()
    assert (data["refusal"], data["colour"]) == ("malformed", "grey")
    assert data["reason"] == "Not a pass code."


def test_red_going_out_is_refused_at_once_coming_in_asks_the_temperature(
        guard_client, gate, resident_pass):  # noqa: ANN001
    IsolationPeriod.objects.create(resident=resident_pass.resident, kind="isolation",
                                   starts_on=NOW.date(), reason="密接",
                                   planned_end=NOW.date() + timedelta(days=13))
    out = call(guard_client, "check", gate, code=code_of(resident_pass), direction="out").json()
    assert (out["recorded"], out["refusal"], out["colour"]) == (True, "may_not_leave", "red")
    going_in = call(guard_client, "check", gate, code=code_of(resident_pass),
                    direction="in").json()
    assert (going_in["recorded"], going_in["needs_temperature"]) == (False, True)
    assert Passage.objects.count() == 1


def test_a_code_of_another_community_is_refused_at_once(city, guard_client, gate):  # noqa: ANN001
    from fangkong.passes.models import Pass

    elsewhere = Pass.objects.create(resident=city.resident_outside(gate.community),
                                    issued_at=NOW)
    data = call(guard_client, "check", gate, code=code_of(elsewhere), direction="in").json()
    assert (data["recorded"], data["refusal"]) == (True, "other_community")


def test_bad_input_is_a_400_in_json(guard_client, gate, resident_pass):  # noqa: ANN001
    for body in ({"code": code_of(resident_pass), "direction": "sideways"},
                 {"direction": "in"},
                 {"code": code_of(resident_pass), "resident_id": 1, "direction": "in"},
                 {"code": ["x"], "direction": "in"}):
        response = call(guard_client, "check", gate, **body)
        assert response.status_code == 400 and response.json()["errors"], body
    broken = guard_client.post(reverse("passes:check", args=[gate.pk]), "{not json",
                               content_type="application/json")
    assert broken.status_code == 400 and "unreadable" in broken.json()["detail"]


# ---- record -----------------------------------------------------------------------------

def test_record_lets_a_green_resident_out(guard_client, gate, gate_guard, resident_pass):  # noqa: ANN001
    answer = call(guard_client, "record", gate, code=code_of(resident_pass), direction="out",
                  temperature="365", client_id="r1")
    data = answer.json()
    assert answer.status_code == 200
    assert (data["recorded"], data["result"], data["temperature"], data["reason"]) == (
        True, "passed", "36.5", "Out: may pass.")
    assert data["at"] == "09:00" and data["passage_id"] == Passage.objects.get().pk
    row = Passage.objects.get()
    assert (row.result, row.guard_id, row.client_id, str(row.temperature)) == (
        Result.PASSED, gate_guard.pk, "r1", "36.5")


@pytest.mark.parametrize("typed", ["33.9", "43.1", "abc", ""])
def test_a_temperature_to_take_again_is_a_400_and_records_nothing(
        guard_client, gate, resident_pass, typed):  # noqa: ANN001
    answer = call(guard_client, "record", gate, code=code_of(resident_pass), direction="in",
                  temperature=typed, client_id="t1")
    assert answer.status_code == 400
    data = answer.json()
    assert list(data["errors"]) == ["temperature"] and data["detail"]
    assert not Passage.objects.exists()


def test_a_fever_is_refused_with_the_protocol_and_alerts_the_grid_worker(
        guard_client, gate, resident_pass):  # noqa: ANN001
    data = call(guard_client, "record", gate, code=code_of(resident_pass), direction="in",
                temperature="38.5", client_id="fever").json()
    assert (data["result"], data["refusal"], data["fever"], data["colour"]) == (
        "refused", "fever", True, "red")
    assert len(data["protocol"]) >= 3 and "38.5" in data["reason"]
    alert = Alert.objects.get(resident=resident_pass.resident)
    assert alert.rule_key == "gate_fever"


def test_a_scan_sent_twice_is_recorded_once(guard_client, gate, resident_pass):  # noqa: ANN001
    body = {"code": code_of(resident_pass), "direction": "in", "temperature": "36.6",
            "client_id": "twice"}
    first = call(guard_client, "record", gate, **body).json()
    clock.advance(seconds=40)
    again = call(guard_client, "record", gate, **body).json()
    assert (again["duplicate"], again["passage_id"], again["result"]) == (
        True, first["passage_id"], "passed")
    assert Passage.objects.count() == 1


def test_a_queued_scan_keeps_its_time_even_with_a_wrong_phone_clock(guard_client, gate,  # noqa: ANN001
                                                                    resident_pass):
    phone_now = NOW + timedelta(minutes=47)  # the phone's clock is 47 minutes fast
    scanned = phone_now - timedelta(hours=3)
    call(guard_client, "record", gate, code=code_of(resident_pass), direction="in",
         temperature="36.5", client_id="q1", at=scanned.isoformat(),
         sent_at=phone_now.isoformat())
    row = Passage.objects.get()
    assert row.at == NOW - timedelta(hours=3) and row.received_at == NOW
    stale = call(guard_client, "record", gate, code=code_of(resident_pass), direction="in",
                 temperature="36.5", client_id="q2",
                 at=(NOW - timedelta(days=2)).isoformat())
    assert stale.status_code == 400 and "at" in stale.json()["errors"]
    unreadable = call(guard_client, "record", gate, code=code_of(resident_pass),
                      direction="in", temperature="36.5", at="yesterday")
    assert unreadable.status_code == 400 and "at" in unreadable.json()["errors"]
    assert Passage.objects.count() == 1


# ---- find, and a resident picked from it -------------------------------------------------

def _find_key(user) -> str:  # noqa: ANN001
    return f"passes.find.{user.pk}"


@pytest.fixture
def fresh_find(gate_guard):  # noqa: ANN001, ANN201
    cache.delete(_find_key(gate_guard))
    yield
    cache.delete(_find_key(gate_guard))


@pytest.mark.usefixtures("fresh_find")
def test_find_by_phone_or_id_digits_within_the_gates_community(city, guard_client, gate,  # noqa: ANN001
                                                               resident):
    by_phone = call(guard_client, "find", gate, digits=resident.phone_last4).json()
    assert resident.pk in [p["id"] for p in by_phone["people"]]
    person = next(p for p in by_phone["people"] if p["id"] == resident.pk)
    assert person == {"id": resident.pk, "name": masked_name(resident.name),
                      "room": resident.household.label, "ref": person["ref"]}
    last4 = resident.id_number_masked[-4:].lower()
    by_id = call(guard_client, "find", gate, digits=last4).json()
    assert resident.pk in [p["id"] for p in by_id["people"]]
    assert len(by_id["people"]) <= 6
    outsider = city.resident_outside(gate.community)
    there = call(guard_client, "find", gate, digits=outsider.phone_last4).json()
    assert outsider.pk not in [p["id"] for p in there["people"]]
    ids = [p["id"] for p in by_phone["people"] + by_id["people"] + there["people"]]
    assert set(Resident.objects.filter(pk__in=ids).values_list("community_id", flat=True)) == {
        gate.community_id}


@pytest.mark.usefixtures("fresh_find")
def test_find_takes_exactly_four_digits(guard_client, gate):  # noqa: ANN001
    for digits in ("123", "12345", "12X4", "abcd", ""):
        assert call(guard_client, "find", gate, digits=digits).status_code == 400


@pytest.mark.usefixtures("fresh_find")
def test_find_is_rate_limited_per_guard(guard_client, gate):  # noqa: ANN001
    for _ in range(FIND_LIMIT):
        assert call(guard_client, "find", gate, digits="0000").status_code == 200
    limited = call(guard_client, "find", gate, digits="0000")
    assert limited.status_code == 429 and "Too many" in limited.json()["detail"]


def _found(client: Client, gate: Gate, resident: Resident) -> dict:
    people = call(client, "find", gate, digits=resident.phone_last4).json()["people"]
    return next(p for p in people if p["id"] == resident.pk)


@pytest.mark.usefixtures("fresh_find")
def test_a_resident_picked_by_digits_is_checked_and_recorded(guard_client, gate, resident):  # noqa: ANN001
    found = _found(guard_client, gate, resident)
    data = call(guard_client, "check", gate, resident_id=found["id"], ref=found["ref"],
                direction="in").json()
    assert (data["colour"], data["needs_temperature"], data["people"][0]["room"]) == (
        "green", True, resident.household.label)
    done = call(guard_client, "record", gate, resident_id=str(resident.pk), ref=found["ref"],
                direction="in", temperature="36.4", client_id="d1").json()
    assert done["result"] == "passed"
    assert Passage.objects.get().resident_id == resident.pk


@pytest.mark.usefixtures("fresh_find")
def test_a_resident_id_not_found_by_this_guard_here_is_refused(city, guard_client, gate,  # noqa: ANN001
                                                               gate_guard, resident):
    """Ids cannot be tried one after another: only those a search of this guard at this
    gate gave (the colour would tell who is isolated)."""
    found = _found(guard_client, gate, resident)
    west = Gate.objects.create(community=gate.community, name="西门", created_at=NOW)
    west.guards.add(gate_guard)
    neighbour = Resident.objects.filter(community_id=gate.community_id, status="active").exclude(
        pk=resident.pk).order_by("pk").first()
    for body in ({"resident_id": resident.pk},
                 {"resident_id": resident.pk, "ref": found["ref"] + "x"},
                 {"resident_id": neighbour.pk, "ref": found["ref"]},
                 {"resident_id": resident.pk, "ref": found_ref(gate, city.persona(
                     "volunteer").pk, resident.pk)}):
        answer = call(guard_client, "check", gate, direction="in", **body)
        assert answer.status_code == 400 and "Find the person again" in answer.json()["detail"]
    other_gate = call(guard_client, "check", west, direction="in", resident_id=resident.pk,
                      ref=found["ref"])
    assert other_gate.status_code == 400
    assert not Passage.objects.exists()


def test_a_resident_who_moved_since_the_search_is_refused(city, guard_client, gate,  # noqa: ANN001
                                                          gate_guard):
    outsider = city.resident_outside(gate.community)
    ref = found_ref(gate, gate_guard.pk, outsider.pk)
    for name in ("check", "record"):
        answer = call(guard_client, name, gate, resident_id=outsider.pk, ref=ref,
                      direction="in", temperature="36.5")
        assert answer.status_code == 400 and "resident_id" in answer.json()["errors"]
        assert "another community" in answer.json()["detail"] or "Not a resident" in (
            answer.json()["detail"])
    assert not Passage.objects.exists()
