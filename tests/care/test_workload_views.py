"""The workload page: who may open it for which area, the table and its sorting, the
secretary's warnings and the "noted" button, and a query count that does not grow with
the staff."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fangkong.accounts.models import Role
from fangkong.care.models import OverloadWarning
from fangkong.care.workload import workload_warn
from fangkong.places.models import AreaKind
from tests.care.conftest import NOW
from tests.care.test_workload import days_before, make_alerts, make_shifts, make_visits, staff
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

TODAY = NOW.date()


def url(area) -> str:  # noqa: ANN001
    return reverse("care:workload", args=[area.pk])


@pytest.fixture
def areas(city):  # noqa: ANN001, ANN201
    streets = city.areas(AreaKind.STREET)
    communities = city.areas(AreaKind.COMMUNITY)
    return {"street": streets[0], "other_street": streets[1], "community": communities[0],
            "sibling": communities[1], "far_community": communities[2],
            "grid": city.areas(AreaKind.GRID)[0]}


@pytest.fixture
def overloaded(community_secretary, grid_worker):  # noqa: ANN001, ANN201
    """The first grid worker worked a fortnight without a day off."""
    make_shifts(grid_worker, community_secretary.area, days_before(14))
    return grid_worker


# Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "area", "status"), [
    ("community_secretary", "community", 200),
    ("community_secretary", "grid", 200),
    ("community_secretary", "sibling", 404),
    ("community_secretary", "street", 404),
    ("street_officer", "street", 200),
    ("street_officer", "community", 200),
    ("street_officer", "far_community", 404),
    ("street_officer", "other_street", 404),
    ("other_street_officer", "street", 404),
    ("other_street_officer", "far_community", 200),
    ("admin", "street", 200),
    ("grid_worker", "grid", 404),
    ("community_worker", "community", 404),
    ("gate_guard", "community", 404),
    ("volunteer", "community", 404),
])
def test_who_opens_the_page_of_which_area(city, areas, persona, area, status):  # noqa: ANN001
    client = make_client(city.persona(persona))
    assert client.get(url(areas[area])).status_code == status


def test_anonymous_goes_to_the_login_page(areas):  # noqa: ANN001
    assert make_client().get(url(areas["community"])).status_code == 302


# The table ----------------------------------------------------------------------------------------


def test_the_community_page_lists_its_staff_with_the_overloaded_highlighted(
        community_secretary, overloaded, grid_worker):  # noqa: ANN001
    make_alerts(grid_worker.area, 2, grid=grid_worker.area)
    response = make_client(community_secretary, language="en").get(
        url(community_secretary.area))

    assert response.status_code == 200
    rows = response.context["rows"]
    assert rows[0].user == grid_worker  # the overloaded first
    assert {r.user.username for r in rows} == {"grid_worker", "community_worker",
                                               "community_secretary"}
    page = response.content.decode()
    assert 'class="overloaded"' in page
    assert "worked 56 hours in the last 7 days (limit 48)" in page
    assert 'class="bar"' in page and "width: 100%" in page  # 56 hours is the top bar
    assert "Grid Worker" in page and "Community Worker" in page


def test_the_table_sorts_by_a_column_and_back(community_secretary, grid_worker):  # noqa: ANN001
    make_shifts(community_secretary, community_secretary.area, days_before(2))
    make_shifts(grid_worker, community_secretary.area, days_before(4))
    client = make_client(community_secretary)

    by_hours = client.get(url(community_secretary.area), {"sort": "hours"})
    assert [r.user.username for r in by_hours.context["rows"]][:2] == [
        "grid_worker", "community_secretary"]
    assert by_hours.context["sorts"]["hours"] == "-hours"  # the header link reverses it
    reverse_hours = client.get(url(community_secretary.area), {"sort": "-hours"})
    assert reverse_hours.context["rows"][-1].user == grid_worker
    by_name = client.get(url(community_secretary.area), {"sort": "name"})
    assert [r.user.display_name for r in by_name.context["rows"]] == sorted(
        r.user.display_name for r in by_name.context["rows"])
    assert client.get(url(community_secretary.area), {"sort": "<x>"}).status_code == 200


def test_a_street_page_has_a_line_per_community_and_its_overloaded_people(
        street_officer, overloaded, areas):  # noqa: ANN001
    response = make_client(street_officer).get(url(areas["street"]))

    assert response.status_code == 200
    lines = {line.community.pk: line for line in response.context["workload"].communities}
    assert set(lines) == {areas["community"].pk, areas["sibling"].pk}
    assert (lines[areas["community"].pk].staff, lines[areas["community"].pk].overloaded) == (3, 1)
    assert (lines[areas["sibling"].pk].staff, lines[areas["sibling"].pk].overloaded) == (1, 0)
    assert [r.user for r in response.context["rows"]] == [overloaded]
    page = response.content.decode()
    assert url(areas["community"]) in page and url(areas["sibling"]) in page
    assert response.context["warnings"] == []  # warnings are the secretary's


# Warnings and "noted" --------------------------------------------------------------------------------


def test_the_secretary_notes_a_warning_with_the_button(community_secretary, overloaded):  # noqa: ANN001
    workload_warn(on_day=TODAY, now=NOW)
    warning = OverloadWarning.objects.get()
    client = make_client(community_secretary, language="en")
    page = client.get(url(community_secretary.area))
    assert page.context["warnings"] == [warning]
    body = page.content.decode()
    assert "csrfmiddlewaretoken" in body and f'name="warning" value="{warning.pk}"' in body
    assert "worked 14 days in a row (limit 6)" in body

    response = client.post(url(community_secretary.area), {"warning": warning.pk})

    assert response.status_code == 302 and response["Location"] == url(community_secretary.area)
    warning.refresh_from_db()
    assert (warning.noted_by, warning.noted_at) == (community_secretary, NOW)
    assert client.get(url(community_secretary.area)).context["warnings"] == []
    assert client.post(url(community_secretary.area),
                       {"warning": warning.pk}).status_code == 302  # again: nothing changes


def test_noting_needs_the_csrf_token(community_secretary, overloaded):  # noqa: ANN001
    workload_warn(on_day=TODAY, now=NOW)
    warning = OverloadWarning.objects.get()
    client = make_client(community_secretary, language="en")
    client.handler.enforce_csrf_checks = True
    try:
        response = client.post(url(community_secretary.area), {"warning": warning.pk})
    finally:
        client.handler.enforce_csrf_checks = False
    assert response.status_code == 403
    warning.refresh_from_db()
    assert warning.noted_at is None


def test_only_the_communitys_secretary_notes_its_warnings(
        community_secretary, street_officer, overloaded, city, areas):  # noqa: ANN001
    workload_warn(on_day=TODAY, now=NOW)
    warning = OverloadWarning.objects.get()
    other_secretary = staff("other_secretary", Role.COMMUNITY_SECRETARY, areas["sibling"])

    assert make_client(street_officer).post(url(areas["community"]),
                                             {"warning": warning.pk}).status_code == 403
    assert make_client(other_secretary).post(url(areas["sibling"]),
                                             {"warning": warning.pk}).status_code == 404
    assert make_client(other_secretary).post(url(areas["community"]),
                                             {"warning": warning.pk}).status_code == 404
    assert make_client(city.persona("grid_worker")).post(
        url(areas["grid"]), {"warning": warning.pk}).status_code == 404
    assert make_client(community_secretary).post(url(areas["community"]),
                                                 {"warning": "x"}).status_code == 404
    warning.refresh_from_db()
    assert warning.noted_at is None


# Query count ----------------------------------------------------------------------------------------


def _more_staff(areas, n: int, start: int) -> None:  # noqa: ANN001
    """n more grid and community workers of both communities, with shifts and alerts."""
    for i in range(start, start + n):
        community = areas["community"] if i % 2 else areas["sibling"]
        grid = community.children.get()
        worker = staff(f"gw{i}", Role.GRID_WORKER, grid)
        helper = staff(f"cw{i}", Role.COMMUNITY_WORKER, community)
        make_shifts(worker, community, days_before(3 + i % 5))
        make_shifts(helper, community, days_before(8))
        make_alerts(grid, 1, grid=grid)


def _queries(client, path: str) -> int:  # noqa: ANN001
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(("persona", "area"), [("community_secretary", "community"),
                                               ("street_officer", "street")])
def test_the_page_takes_a_fixed_number_of_queries(city, areas, persona, area, overloaded,
                                                   django_assert_max_num_queries):  # noqa: ANN001
    make_visits(city.persona("community_secretary"), areas["grid"], 3)
    workload_warn(on_day=TODAY, now=NOW)
    client = make_client(city.persona(persona))
    path = url(areas[area])
    _more_staff(areas, 2, 0)
    few = _queries(client, path)
    _more_staff(areas, 12, 2)
    workload_warn(on_day=TODAY, now=NOW)

    with django_assert_max_num_queries(few):
        response = client.get(path)
    assert len(response.context["workload"].rows) >= 15  # 12 more staff than before
    with django_assert_max_num_queries(12):
        client.get(path)
