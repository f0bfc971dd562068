"""The visitor pages: the guard's form on a phone and its result with the leaving code,
the code's picture, the workers' list (scoped, masked, a fixed number of queries) and
one visitor with the tap that starts home isolation."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fangkong.followup.models import Alert
from fangkong.isolation.models import IsolationPeriod, PeriodStatus
from fangkong.lib import clock
from fangkong.lib.idcard import make_id_number
from fangkong.passes.models import Gate, Passage, Visitor
from fangkong.passes.visitors import GATE_RETURNEE_RULE
from fangkong.places.models import Household
from tests.passes.conftest import NOW
from tests.passes.test_visitors import VISITOR_ID, VISITOR_PHONE, register, typed_room
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def host(resident) -> Household:  # noqa: ANN001
    return Household.objects.select_related("building").get(pk=resident.household_id)


def form_data(host: Household, **changes) -> dict:  # noqa: ANN003
    data = {"name": "欧阳明华", "phone": VISITOR_PHONE, "id_number": VISITOR_ID,
            "came_from": "武汉市江岸区", "purpose": "探亲", "host_room": typed_room(host),
            "temperature": "36.5", "client_id": "page-1"}
    data.update(changes)
    return data


def test_the_guard_registers_a_visitor_and_sees_their_leaving_code(gate, gate_guard, host):  # noqa: ANN001
    client = make_client(gate_guard, language="en")
    url = reverse("passes:visitor_new", args=[gate.pk])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'inputmode="tel"' in html and 'inputmode="decimal"' in html
    assert page.context["form"].initial["client_id"]
    done = client.post(url, form_data(host, from_risk_area="on"))
    assert done.status_code == 200
    visitor = Visitor.objects.get()
    html = done.content.decode()
    assert reverse("passes:visitor_code_png", args=[visitor.pk]) in html
    assert "欧**华" in html and "欧阳明华" not in html and VISITOR_PHONE not in html
    assert "Visitor may come in" in html and "09:00" in html
    assert visitor.from_risk_area and Alert.objects.filter(rule_key=GATE_RETURNEE_RULE).exists()
    # Sent again (a reload of the answer, a double tap): the same visitor.
    again = client.post(url, form_data(host, from_risk_area="on"))
    assert again.status_code == 200 and again.context["visitor"].pk == visitor.pk
    assert Visitor.objects.count() == 1 and Passage.objects.count() == 1


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_saved(gate, gate_guard, host):  # noqa: ANN001
    client = make_client(gate_guard, language="en")
    page = client.post(reverse("passes:visitor_new", args=[gate.pk]),
                       form_data(host, id_number=VISITOR_ID[:-1], phone="12345",
                                 host_room="88栋8单元808", temperature="50"))
    assert page.status_code == 200
    errors = page.context["form"].errors
    assert {"id_number", "phone", "host_room", "temperature"} <= set(errors)
    assert "ID number has 17 characters" in errors["id_number"][0]
    html = page.content.decode()
    assert "No household" in html and 'value="欧阳明华"' in html
    assert not Visitor.objects.exists() and not Passage.objects.exists()


def test_a_fever_shows_the_refusal_and_the_protocol_and_no_code(gate, gate_guard, host):  # noqa: ANN001
    client = make_client(gate_guard, language="en")
    page = client.post(reverse("passes:visitor_new", args=[gate.pk]),
                       form_data(host, temperature="38.6"))
    html = page.content.decode()
    assert "May not come in" in html and "Fever protocol" in html
    assert "code.png" not in html


def test_the_form_is_only_for_a_guard_on_duty_at_that_gate(gate, gate_guard, grid_worker,
                                                           volunteer):  # noqa: ANN001
    other = Gate.objects.create(community=gate.community, name="西门", created_at=NOW)
    url = reverse("passes:visitor_new", args=[other.pk])
    assert make_client(gate_guard).get(url).status_code == 404
    assert make_client(volunteer).get(reverse("passes:visitor_new",
                                              args=[gate.pk])).status_code == 404


def test_the_code_picture_is_for_the_guard_on_duty_and_the_visitors_workers(
        gate, gate_guard, host, grid_worker, community_secretary, other_grid_worker,
        volunteer):  # noqa: ANN001
    visitor, _outcome = register(gate, gate_guard, host)
    url = reverse("passes:visitor_code_png", args=[visitor.pk])
    for user in (gate_guard, grid_worker, community_secretary):
        picture = make_client(user).get(url)
        assert picture.status_code == 200, user.username
        assert picture["Content-Type"] == "image/png" and picture["Cache-Control"] == "no-store"
        assert picture.content.startswith(b"\x89PNG")
    for user in (other_grid_worker, volunteer):
        assert make_client(user).get(url).status_code == 404, user.username
    gate.guards.remove(gate_guard)
    assert make_client(gate_guard).get(url).status_code == 404


def test_the_list_is_scoped_masked_and_filtered(gate, gate_guard, host, grid_worker,
                                                community_secretary, other_grid_worker):  # noqa: ANN001
    returnee, _outcome = register(gate, gate_guard, host, from_risk_area=True)
    clock.advance(minutes=5)
    other_id = make_id_number("110101", NOW.date().replace(year=1970), 11)
    register(gate, gate_guard, host, id_number=other_id, name="李四")
    url = reverse("passes:visitors")
    page = make_client(community_secretary, language="en").get(url)
    assert page.status_code == 200
    assert page.context["data"].counts == {"today": 2, "inside": 2, "risk": 1}
    html = page.content.decode()
    assert "139****5678" in html and VISITOR_PHONE not in html and VISITOR_ID not in html
    risky = make_client(grid_worker).get(url, {"show": "risk"})
    assert [v.pk for v in risky.context["data"].page] == [returnee.pk]
    assert not list(make_client(other_grid_worker).get(url).context["data"].page)
    assert make_client(gate_guard).get(url).status_code == 403


def test_the_list_reads_a_fixed_number_of_queries(gate, gate_guard, host, community_secretary):  # noqa: ANN001
    client = make_client(community_secretary)
    url = reverse("passes:visitors")
    register(gate, gate_guard, host)
    client.get(url)  # sessions, translations warmed up
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for n in range(5):
        register(gate, gate_guard, host, id_number=make_id_number(
            "110101", NOW.date().replace(year=1980), 20 + n), from_risk_area=n % 2 == 0)
    with CaptureQueriesContext(connection) as six:
        client.get(url)
    assert len(six) == len(one)


def test_a_visitors_page_is_404_outside_the_area_before_any_403(
        gate, gate_guard, host, other_grid_worker, volunteer, grid_worker):  # noqa: ANN001
    visitor, _outcome = register(gate, gate_guard, host)
    url = reverse("passes:visitor", args=[visitor.pk])
    assert make_client(other_grid_worker).get(url).status_code == 404
    assert make_client(other_grid_worker).post(url, {"do": "isolate"}).status_code == 404
    # The guard and the volunteer work in the visitor's community but read no visitors.
    assert make_client(gate_guard).get(url).status_code == 403
    assert make_client(volunteer).post(url, {"do": "isolate"}).status_code == 403
    page = make_client(grid_worker, language="en").get(url)
    assert page.status_code == 200 and page.context["may_isolate"]
    assert "Start home isolation" in page.content.decode()
    assert not Visitor.objects.filter(isolation_resident__isnull=False).exists()


def test_the_grid_worker_starts_home_isolation_from_the_visitors_page(
        gate, gate_guard, host, grid_worker):  # noqa: ANN001
    visitor, _outcome = register(gate, gate_guard, host, from_risk_area=True)
    client = make_client(grid_worker, language="en")
    url = reverse("passes:visitor", args=[visitor.pk])
    answer = client.post(url, {"do": "isolate"})
    assert answer.status_code == 302 and answer["Location"] == url
    visitor.refresh_from_db()
    period = IsolationPeriod.objects.get(resident=visitor.isolation_resident)
    assert period.status == PeriodStatus.OPEN
    page = client.get(url)
    html = page.content.decode()
    assert "Home isolation recorded" in html and not page.context["may_isolate"]
    assert reverse("residents:detail", args=[visitor.isolation_resident_id]) in html
    refused = client.post(url, {"do": "isolate"}, follow=True)
    assert "already handed to home isolation" in refused.content.decode()
