"""The rota pages: a secretary sets up posts and staff, makes and publishes a rota through
the forms; a worker sees their shifts and swaps one; access is the community's rota
managers only; the board takes a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from fangkong.care import rota_services
from fangkong.care.models import (
    Attendance,
    PlanStatus,
    Post,
    PostShift,
    RotaMember,
    RotaPlan,
    ShiftSwap,
    SwapStatus,
)
from tests.care.rota_fixtures import FIRST_DAY, rota_community
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_solver(settings):  # noqa: ANN001
    settings.CARE_ROTA_SECONDS = 1


@pytest.fixture
def rc(community_secretary):  # noqa: ANN001, ANN201
    return rota_community(community_secretary)


def test_setup_make_and_publish_through_the_pages(community_secretary, city):  # noqa: ANN001
    community_worker = city.persona("community_worker")
    client = make_client(community_secretary)
    community = community_secretary.area
    setup = reverse("care:rota_setup", args=[community.pk])
    assert client.post(setup, {"do": "post_add", "post-name": "南门", "post-kind": "gate"}
                       ).status_code == 302
    post = Post.objects.get(community=community, name="南门")
    # A shift too long is refused next to its field; a good one is added.
    response = client.post(setup, {"do": "shift_add", "shift-post": post.pk,
                                   "shift-name": "全天", "shift-start_hour": 0,
                                   "shift-end_hour": 24, "shift-people": 1})
    assert response.status_code == 200
    assert "end_hour" in response.context["shift_add"].errors
    for name, start, end in (("白班", 8, 20), ("夜班", 20, 8)):
        assert client.post(setup, {"do": "shift_add", "shift-post": post.pk,
                                   "shift-name": name, "shift-start_hour": start,
                                   "shift-end_hour": end, "shift-people": 1}
                           ).status_code == 302
    assert PostShift.objects.filter(post=post).count() == 2
    assert client.post(setup, {"do": "member_add", "member-user": community_worker.pk,
                               "member-team": "A", "member-kind": "worker"}).status_code == 302
    member = RotaMember.objects.get(user=community_worker)
    assert client.post(setup, {"do": "member_edit", "member": member.pk,
                               f"m{member.pk}-team": "B", f"m{member.pk}-kind": "cadre",
                               f"m{member.pk}-skills": "驾驶", f"m{member.pk}-active": "on"}
                       ).status_code == 302
    member.refresh_from_db()
    assert (member.team, member.kind, member.skills) == ("B", "cadre", "驾驶")
    board = reverse("care:rota", args=[community.pk])
    response = client.post(board, {"do": "make", "first_day": FIRST_DAY.isoformat(),
                                   "weeks": 1, "ab_mode": "off", "ab_block_days": 1})
    plan = RotaPlan.objects.get(community=community)
    assert response.status_code == 302 and response.url == reverse("care:plan",
                                                                   args=[plan.pk])
    page = client.get(response.url).content.decode()
    # One person cannot work 7 days: what could not be covered is said, with why.
    assert plan.uncovered > 0
    assert plan.conflicts[0]["message"] in page
    assert client.post(response.url, {"do": "publish"}).status_code == 302
    plan.refresh_from_db()
    assert plan.status == PlanStatus.PUBLISHED
    mine = make_client(community_worker).get(reverse("care:my_shifts")).content.decode()
    assert "南门" in mine


def test_a_worker_swaps_a_shift_and_the_secretary_approves(rc):  # noqa: ANN001
    plan = rota_services.rota_plan_publish(plan=rota_services.rota_plan_make(
        community=rc.community, first_day=FIRST_DAY, days=7, ab_mode="prefer",
        ab_block_days=1, by=rc.secretary), by=rc.secretary)
    shift = plan.assignments.filter(shift=rc.day).order_by("day").last()
    busy = set(plan.assignments.filter(day__gte=shift.day - timedelta(days=1),
                                       day__lte=shift.day + timedelta(days=1))
               .values_list("user_id", flat=True))
    colleague = next(m.user for m in rc.members if m.user_id not in busy)
    worker = make_client(shift.user)
    assert reverse("care:swap_ask", args=[shift.pk]) in worker.get(
        reverse("care:my_shifts")).content.decode()
    response = worker.post(reverse("care:swap_ask", args=[shift.pk]),
                           {"colleague": colleague.pk, "in_return": "", "note": "家里有事"})
    swap = ShiftSwap.objects.get(shift=shift)
    assert response.status_code == 302
    url = reverse("care:swap", args=[swap.pk])
    other = make_client(colleague)
    assert url in other.get(reverse("care:my_shifts")).content.decode()
    assert other.post(url, {"do": "agree"}).status_code == 302
    secretary = make_client(rc.secretary)
    assert url in secretary.get(reverse("care:rota", args=[rc.community.pk])).content.decode()
    response = secretary.post(url, {"do": "refuse", "reason": ""})
    assert response.status_code == 200 and response.context["form"].errors
    assert secretary.post(url, {"do": "approve"}).status_code == 302
    swap.refresh_from_db()
    shift.refresh_from_db()
    assert swap.status == SwapStatus.APPROVED and shift.user_id == colleague.pk
    # Someone outside the swap and the community's management sees nothing.
    stranger = make_client(rc.user(7) if rc.user(7).pk not in (shift.user_id,
                                                               swap.asked_by_id)
                           else rc.user(6))
    assert stranger.get(url).status_code == 404


def test_a_swap_asked_of_a_colleague_who_may_not_take_it_is_refused_on_the_form(rc):  # noqa: ANN001
    plan = rota_services.rota_plan_publish(plan=rota_services.rota_plan_make(
        community=rc.community, first_day=FIRST_DAY, days=7, ab_mode="prefer",
        ab_block_days=1, by=rc.secretary), by=rc.secretary)
    night = plan.assignments.filter(shift=rc.night).order_by("day").last()
    day_shift = plan.assignments.filter(shift=rc.day, day=night.day).first()
    response = make_client(day_shift.user).post(
        reverse("care:swap_ask", args=[day_shift.pk]),
        {"colleague": night.user_id, "in_return": "", "note": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["colleague"]
    assert not ShiftSwap.objects.exists()


def test_a_worker_cannot_swap_someone_elses_shift(rc):  # noqa: ANN001
    plan = rota_services.rota_plan_publish(plan=rota_services.rota_plan_make(
        community=rc.community, first_day=FIRST_DAY, days=7, ab_mode="prefer",
        ab_block_days=1, by=rc.secretary), by=rc.secretary)
    shift = plan.assignments.first()
    other = next(m.user for m in rc.members if m.user_id != shift.user_id)
    assert make_client(other).get(reverse("care:swap_ask", args=[shift.pk])).status_code == 404


def test_rota_pages_are_for_the_communitys_managers_only(rc, city):  # noqa: ANN001
    plan = rota_services.rota_plan_make(community=rc.community, first_day=FIRST_DAY, days=7,
                                        ab_mode="prefer", ab_block_days=1, by=rc.secretary)
    urls = [reverse("care:rota", args=[rc.community.pk]),
            reverse("care:rota_setup", args=[rc.community.pk]),
            reverse("care:plan", args=[plan.pk])]
    for persona in ("grid_worker", "community_worker", "other_street_officer", "gate_guard"):
        client = make_client(city.persona(persona))
        for url in urls:
            assert client.get(url).status_code == 404, (persona, url)
    for persona in ("community_secretary", "street_officer", "admin"):
        client = make_client(city.persona(persona))
        for url in urls:
            assert client.get(url).status_code == 200, (persona, url)
    assert make_client(city.persona("grid_worker")).get(
        reverse("care:rota_communities")).status_code == 403
    # A street officer picks among the communities of their street.
    response = make_client(city.persona("street_officer")).get(
        reverse("care:rota_communities"))
    assert response.status_code == 200 and len(response.context["communities"]) > 1


def test_marking_an_absence_on_the_board(rc):  # noqa: ANN001
    from fangkong.lib import clock

    plan = rota_services.rota_plan_publish(plan=rota_services.rota_plan_make(
        community=rc.community, first_day=FIRST_DAY, days=7, ab_mode="prefer",
        ab_block_days=1, by=rc.secretary), by=rc.secretary)
    with clock.pinned(clock.now() + timedelta(days=3)):
        client = make_client(rc.secretary)
        board = reverse("care:rota", args=[rc.community.pk])
        shift = plan.assignments.order_by("day", "starts_at").first()
        assert client.post(board, {"do": "absent", "assignment": shift.pk, "note": "病了"}
                           ).status_code == 302
        shift.refresh_from_db()
        assert (shift.attendance, shift.absence_note) == (Attendance.ABSENT, "病了")
        assert client.post(board, {"do": "present", "assignment": shift.pk}).status_code == 302
        shift.refresh_from_db()
        assert shift.attendance == Attendance.PLANNED


def test_board_and_my_shifts_take_a_fixed_number_of_queries(  # noqa: ANN001
        rc, django_assert_max_num_queries):
    plan = rota_services.rota_plan_publish(plan=rota_services.rota_plan_make(
        community=rc.community, first_day=FIRST_DAY, days=14, ab_mode="prefer",
        ab_block_days=1, by=rc.secretary), by=rc.secretary)
    secretary = make_client(rc.secretary)
    worker = make_client(plan.assignments.first().user)
    pages = [(secretary, reverse("care:rota", args=[rc.community.pk])),
             (secretary, reverse("care:plan", args=[plan.pk])),
             (secretary, reverse("care:rota_setup", args=[rc.community.pk])),
             (worker, reverse("care:my_shifts"))]
    for client, url in pages:
        client.get(url)  # warm the session and the caches
        with django_assert_max_num_queries(16):
            assert client.get(url).status_code == 200


def test_the_street_page_lists_its_communities_and_drafts_them_all(rc, city):  # noqa: ANN001
    client = make_client(city.persona("street_officer"))
    url = reverse("care:rota_communities")
    response = client.get(url)
    assert rc.community in response.context["communities"]
    response = client.post(url, {"first_day": FIRST_DAY.isoformat(), "weeks": 1,
                                 "ab_mode": "prefer", "ab_block_days": 1})
    assert response.status_code == 302
    plan = RotaPlan.objects.get(community=rc.community)
    assert plan.status == PlanStatus.DRAFT
    page = client.get(url).content.decode()
    assert reverse("care:rota", args=[rc.community.pk]) in page
    bad = client.post(url, {"first_day": "2020-01-01", "weeks": 1, "ab_mode": "prefer",
                            "ab_block_days": 1})
    assert bad.status_code == 200 and "first_day" in bad.context["form"].errors
