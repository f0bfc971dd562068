"""The batching pages: who may open the shopping lists and the garbage rounds, what each
sees (a volunteer helper only their round, room numbers only), setting where to buy from
the list, the round's form and its bad input, the pickup buttons, and query counts that do
not grow with the data."""

from __future__ import annotations

from datetime import time

import pytest
from django.urls import reverse

from fangkong.errands import batching
from fangkong.errands.models import Errand, GarbagePickup, GarbageRound, GarbageService
from fangkong.lib import clock
from fangkong.places.models import Building
from tests.errands.batch_fixtures import (
    NOW,
    TODAY,
    ask,
    garbage_for,
    line,
    residents_of_buildings,
    residents_of_households,
)
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

LISTS = reverse("errands:lists")
GARBAGE = reverse("errands:garbage")
# Session, user, the user's area (the page header), then the page's own queries.
LIST_QUERIES = 7
GARBAGE_QUERIES = 6
ROUND_QUERIES = 8


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def homes(grid_worker):  # noqa: ANN001, ANN201
    return residents_of_households(grid_worker.area, 6)


def en(user):  # noqa: ANN001, ANN201
    return make_client(user, language="en")


# Shopping lists ------------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "status"), [
    ("grid_worker", 200), ("community_worker", 200), ("community_secretary", 200),
    ("street_officer", 200), ("other_grid_worker", 200), ("admin", 403),
    ("gate_guard", 403), ("volunteer", 403),
])
def test_lists_open_to_errand_workers_only(city, persona, status):  # noqa: ANN001
    assert en(city.persona(persona)).get(LISTS).status_code == status


def test_lists_ask_anonymous_callers_to_log_in():
    assert make_client().get(LISTS).status_code == 302


def test_lists_show_summed_lines_and_the_delivery_list(grid_worker, other_grid_worker,  # noqa: ANN001
                                                       homes):
    a = ask(homes[0], grid_worker, line("阿莫西林胶囊", 2, strength="0.25g", rx=True),
            supplier="大药房")
    ask(homes[1], grid_worker, line("阿莫西林胶囊", 3, strength="0.25g"), supplier="大药房")
    flagged = ask(homes[2], grid_worker, line("布洛芬", 20))
    (outside,) = residents_of_households(other_grid_worker.area, 1)
    theirs = ask(outside, other_grid_worker, line("连花清瘟胶囊"), supplier="大药房")
    Errand.objects.filter(pk=a.pk).update(vulnerable=True, isolated=True)
    client = en(grid_worker)
    page = client.get(LISTS).content.decode()
    assert "大药房 (2)" in page and "Where to buy not chosen yet (1)" in page
    assert "阿莫西林胶囊" in page and "Prescription (1)" in page
    assert "<strong>5</strong> 盒" in page
    assert reverse("errands:errand", args=[a.pk]) in page
    assert homes[0].name not in page and homes[0].household.label in page
    assert "连花清瘟胶囊" not in page and f"#{theirs.pk}<" not in page
    assert "@media print" in page
    assert "elderly alone / needs care" in page and "in isolation" in page
    assert "布洛芬" not in page  # in the list of the requests without a place to buy
    page = client.get(LISTS, {"supplier": ""}).content.decode()
    assert "布洛芬" in page and "more than usual" in page and "阿莫西林胶囊" not in page
    assert reverse("errands:errand", args=[flagged.pk]) in page


def test_groceries_tab(grid_worker, homes):  # noqa: ANN001
    ask(homes[0], grid_worker, line("大米", 10, unit="斤"), kind="groceries", supplier="超市")
    client = en(grid_worker)
    assert "大米" not in client.get(LISTS).content.decode()
    assert "大米" in client.get(LISTS, {"kind": "groceries"}).content.decode()


def test_lists_query_count_does_not_grow(grid_worker, homes,  # noqa: ANN001
                                         django_assert_max_num_queries):
    client = en(grid_worker)
    ask(homes[0], grid_worker, line("布洛芬", 9), supplier="大药房")
    with django_assert_max_num_queries(LIST_QUERIES):
        assert client.get(LISTS).status_code == 200
    for n, resident in enumerate(residents_of_households(grid_worker.area, 60)):
        ask(resident, grid_worker, line("布洛芬", 9), line(f"药{n % 7}", rx=True),
            supplier="大药房" if n % 5 else f"药房{n % 4}", urgency="urgent" if n % 3 else "normal")
    with django_assert_max_num_queries(LIST_QUERIES):
        page = client.get(LISTS).content.decode()
    assert page.count('name="errand"') == 49 and "药房3 (" in page


def test_supplier_is_set_from_the_list(grid_worker, homes):  # noqa: ANN001
    a, b, c = (ask(r, grid_worker) for r in homes[:3])
    client = en(grid_worker)
    response = client.post(f"{LISTS}?kind=medicine", {
        "errand": [a.pk, b.pk], "supplier": "仁和药房"})
    assert response.status_code == 302 and response["Location"] == f"{LISTS}?kind=medicine"
    assert dict(Errand.objects.filter(pk__in=[a.pk, b.pk, c.pk])
                .values_list("pk", "supplier")) == {a.pk: "仁和药房", b.pk: "仁和药房", c.pk: ""}
    page = client.get(response["Location"]).content.decode()
    assert "2 requests changed: bought at 仁和药房." in page


def test_supplier_for_an_errand_outside_the_area_is_404_and_writes_nothing(  # noqa: ANN001
        grid_worker, other_grid_worker, homes):
    mine = ask(homes[0], grid_worker)
    (outside,) = residents_of_households(other_grid_worker.area, 1)
    theirs = ask(outside, other_grid_worker)
    client = en(grid_worker)
    for ids in ([mine.pk, theirs.pk], [mine.pk, "99999999999999999999"]):
        assert client.post(LISTS, {"errand": ids, "supplier": "大药房"}).status_code == 404
    assert set(Errand.objects.filter(pk__in=[mine.pk, theirs.pk])
               .values_list("supplier", flat=True)) == {""}


def test_bad_supplier_text_is_refused_and_the_ticks_are_kept(grid_worker, homes):  # noqa: ANN001
    a = ask(homes[0], grid_worker)
    response = en(grid_worker).post(LISTS, {"errand": [a.pk], "supplier": "大药房\x07"})
    page = response.content.decode()
    assert response.status_code == 200 and "cannot be stored" in page
    assert f'value="{a.pk}" checked' in page
    assert Errand.objects.get(pk=a.pk).supplier == ""


def test_nothing_ticked_is_refused(grid_worker, homes):  # noqa: ANN001
    ask(homes[0], grid_worker)
    response = en(grid_worker).post(LISTS, {"supplier": "大药房"})
    assert response.status_code == 200 and "Tick at least one request." in response.content.decode()


def test_volunteer_cannot_post_a_supplier(grid_worker, volunteer, homes):  # noqa: ANN001
    a = ask(homes[0], grid_worker)
    assert en(volunteer).post(LISTS, {"errand": [a.pk], "supplier": "大药房"}).status_code == 403
    assert Errand.objects.get(pk=a.pk).supplier == ""


# Garbage rounds ------------------------------------------------------------------------------


@pytest.fixture
def served(grid_worker):  # noqa: ANN001, ANN201
    """Two households in each of two buildings of the grid."""
    return [garbage_for(r, grid_worker) for r in residents_of_buildings(grid_worker.area)]


@pytest.fixture
def helper(make_volunteer):  # noqa: ANN001, ANN201
    return make_volunteer()


@pytest.fixture
def building(grid_worker, served, helper):  # noqa: ANN001, ANN201
    building = Building.objects.get(pk=served[0].building_id)
    batching.garbage_round_set(building=building, at=time(8, 0), helper=helper.user,
                               by=grid_worker)
    return building


def round_url(building) -> str:  # noqa: ANN001
    return reverse("errands:garbage_round", args=[building.pk])


@pytest.mark.parametrize(("persona", "status"), [
    ("grid_worker", 200), ("community_secretary", 200), ("street_officer", 200),
    ("other_grid_worker", 200), ("admin", 403), ("gate_guard", 403), ("volunteer", 403),
])
def test_garbage_page_by_role(city, persona, status, building):  # noqa: ANN001
    response = en(city.persona(persona)).get(GARBAGE)
    assert response.status_code == status
    if persona == "other_grid_worker":
        assert round_url(building) not in response.content.decode()


def test_garbage_page_lists_buildings_with_round_and_progress(grid_worker, building,  # noqa: ANN001
                                                              helper, served):
    batching.garbage_pickup_record(service=served[0], by=grid_worker)
    page = en(grid_worker).get(GARBAGE).content.decode()
    assert round_url(building) in page
    assert "every day at 08:00" in page and helper.user.display_name in page
    assert "collected 1" in page


def test_volunteer_helper_sees_only_their_round(helper, building, served):  # noqa: ANN001
    client = en(helper.user)
    page = client.get(GARBAGE).content.decode()
    assert round_url(building) in page
    others = {s.building_id for s in served} - {building.pk}
    assert all(reverse("errands:garbage_round", args=[pk]) not in page for pk in others)
    page = client.get(round_url(building)).content.decode()
    mine = [s for s in served if s.building_id == building.pk]
    for service in mine:
        household = service.household
        assert f"Unit {household.unit}, room {household.room}" in page
        for resident in household.residents.all():
            assert resident.name not in page
            assert resident.phone_masked not in page or not resident.phone_masked
        assert service.errand.resident.name[0] + "*" not in page
    assert 'name="do" value="round"' not in page and 'value="stop"' not in page
    for pk in others:
        assert client.get(reverse("errands:garbage_round", args=[pk])).status_code == 404


@pytest.mark.parametrize("persona", ["other_grid_worker", "volunteer", "gate_guard", "admin"])
def test_round_of_a_building_outside_is_404(city, persona, building, served):  # noqa: ANN001
    client = en(city.persona(persona))
    assert client.get(round_url(building)).status_code == 404
    for do in ("done", "missed", "stop"):
        assert client.post(round_url(building), {"do": do,
                                                 "service": served[0].pk}).status_code == 404
    assert client.post(round_url(building), {"do": "round", "at": "09:00"}).status_code == 404
    assert not GarbagePickup.objects.exists()
    assert GarbageRound.objects.get(building=building).at == time(8, 0)


def test_worker_sees_masked_names_and_the_round_form(grid_worker, building, served):  # noqa: ANN001
    page = en(grid_worker).get(round_url(building)).content.decode()
    service = next(s for s in served if s.building_id == building.pk)
    name = service.errand.resident.name
    assert name not in page
    assert 'name="do" value="round"' in page and 'value="stop"' in page


def test_helper_buttons_record_todays_pickup_once(helper, building, served):  # noqa: ANN001
    service = next(s for s in served if s.building_id == building.pk)
    client = en(helper.user)
    response = client.post(round_url(building), {"do": "missed", "service": service.pk})
    assert response.status_code == 302 and response["Location"].endswith(f"#s{service.pk}")
    client.post(round_url(building), {"do": "done", "service": service.pk})
    client.post(round_url(building), {"do": "done", "service": service.pk})
    client.post(round_url(building), {"do": "missed", "service": service.pk})
    pickup = GarbagePickup.objects.get(service=service)
    assert (pickup.day, pickup.missed, pickup.by_id) == (TODAY, False, helper.user.pk)


def test_helper_cannot_stop_a_service_or_change_the_round(helper, building, served):  # noqa: ANN001
    service = next(s for s in served if s.building_id == building.pk)
    client = en(helper.user)
    assert client.post(round_url(building), {"do": "stop",
                                             "service": service.pk}).status_code == 404
    assert client.post(round_url(building), {"do": "round", "at": "10:00"}).status_code == 404
    assert GarbageService.objects.get(pk=service.pk).ends_on is None


def test_service_of_another_building_is_404(grid_worker, building, served):  # noqa: ANN001
    other = next(s for s in served if s.building_id != building.pk)
    client = en(grid_worker)
    for service in (other.pk, "99999999999999999999", "x"):
        response = client.post(round_url(building), {"do": "done", "service": service})
        assert response.status_code == 404
    assert not GarbagePickup.objects.exists()


def test_worker_stops_a_service(grid_worker, building, served):  # noqa: ANN001
    service = next(s for s in served if s.building_id == building.pk)
    response = en(grid_worker).post(round_url(building), {"do": "stop", "service": service.pk})
    assert response.status_code == 302
    assert GarbageService.objects.get(pk=service.pk).ends_on == TODAY


def test_worker_sets_the_round(grid_worker, building):  # noqa: ANN001
    response = en(grid_worker).post(round_url(building), {"do": "round", "at": "17：30",
                                                          "helper": grid_worker.pk})
    assert response.status_code == 302
    saved = GarbageRound.objects.get(building=building)
    assert (saved.at, saved.helper_id) == (time(17, 30), grid_worker.pk)


@pytest.mark.parametrize(("at", "chosen", "message"), [
    ("25:00", "", "Write the time as hours and minutes"),
    ("half past eight", "", "Write the time as hours and minutes"),
    ("", "", "This field is required."),
    ("08:30", "999999999", "Choose someone from the list"),
    ("08:30", "other_grid_worker", "Choose someone from the list"),
    ("08:30", "volunteer", "Choose someone from the list"),  # not a verified volunteer
])
def test_round_form_refuses_bad_input(city, grid_worker, building, at, chosen, message):  # noqa: ANN001
    if chosen in ("other_grid_worker", "volunteer"):
        chosen = city.persona(chosen).pk
    response = en(grid_worker).post(round_url(building), {"do": "round", "at": at,
                                                          "helper": chosen})
    assert response.status_code == 200 and message in response.content.decode()
    assert GarbageRound.objects.get(building=building).at == time(8, 0)


def test_unknown_action_is_a_bad_request(grid_worker, building):  # noqa: ANN001
    assert en(grid_worker).post(round_url(building), {"do": "explode"}).status_code == 400


def test_garbage_pages_query_counts_do_not_grow(grid_worker, helper, building, homes,  # noqa: ANN001
                                                django_assert_max_num_queries):
    client = en(grid_worker)
    helper_client = en(helper.user)
    with django_assert_max_num_queries(GARBAGE_QUERIES):
        assert client.get(GARBAGE).status_code == 200
    with django_assert_max_num_queries(ROUND_QUERIES):
        assert client.get(round_url(building)).status_code == 200
    taken = set(GarbageService.objects.values_list("household_id", flat=True))
    for resident in residents_of_households(grid_worker.area, 60):
        if resident.household_id in taken:
            continue
        service = garbage_for(resident, grid_worker)
        batching.garbage_pickup_record(service=service, by=grid_worker)
    with django_assert_max_num_queries(GARBAGE_QUERIES):
        assert client.get(GARBAGE).status_code == 200
    with django_assert_max_num_queries(ROUND_QUERIES):
        page = client.get(round_url(building)).content.decode()
    assert page.count('value="stop"') > 4
    with django_assert_max_num_queries(GARBAGE_QUERIES):
        assert helper_client.get(GARBAGE).status_code == 200
    with django_assert_max_num_queries(ROUND_QUERIES):
        assert helper_client.get(round_url(building)).status_code == 200
