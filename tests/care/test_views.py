"""The care pages: filing, acting and rating through the forms; lists in a fixed number
of queries; the designation page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.care.models import CareOfficer, Difficulty, DifficultyStatus
from fangkong.care.services import difficulty_file
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db


def test_file_act_and_rate_through_the_pages(grid_worker, community_secretary, care_officer):
    worker = make_client(grid_worker)
    response = worker.post(reverse("care:mine"), {"kind": "transport", "urgency": "urgent",
                                                  "details": "夜班后没有公交回家"})
    assert response.status_code == 302
    difficulty = Difficulty.objects.get(filed_by=grid_worker)
    assert difficulty.deadline_hours == 36
    assert "夜班后没有公交回家" not in worker.get(reverse("care:mine")).content.decode()
    assert reverse("care:difficulty", args=[difficulty.pk]) in worker.get(
        reverse("care:mine")).content.decode()
    url = reverse("care:difficulty", args=[difficulty.pk])
    # The filer cannot act on it, only rate it once resolved.
    assert worker.post(url, {"do": "acknowledge"}).status_code == 403
    secretary = make_client(community_secretary)
    assert secretary.post(url, {"do": "acknowledge"}).status_code == 302
    assert secretary.post(url, {"do": "assign", "to": care_officer.pk}).status_code == 302
    officer = make_client(care_officer)
    response = officer.post(url, {"do": "resolve", "resolution": ""})
    assert response.status_code == 200
    assert response.context["resolve_form"].errors
    assert officer.post(url, {"do": "resolve", "resolution": "安排了接送车"}).status_code == 302
    assert worker.post(url, {"do": "rate", "rating": "9"}).status_code == 200
    assert worker.post(url, {"do": "rate", "rating": "4", "comment": "谢谢"}).status_code == 302
    difficulty.refresh_from_db()
    assert (difficulty.status, difficulty.rating) == (DifficultyStatus.CLOSED, 4)
    assert worker.post(url, {"do": "rate", "rating": "1"}).status_code == 403


def test_filing_form_refuses_unsafe_details(grid_worker):
    response = make_client(grid_worker).post(reverse("care:mine"), {
        "kind": "work", "urgency": "normal", "details": "坏\x07字"})
    assert response.status_code == 200
    assert "details" in response.context["form"].errors
    assert not Difficulty.objects.filter(filed_by=grid_worker).exists()


def test_lists_take_a_fixed_number_of_queries(grid_worker, community_secretary, care_officer,
                                              street_officer, django_assert_max_num_queries):
    for n in range(12):
        difficulty_file(by=grid_worker, kind="work", details=f"第{n}件",
                        confidential=n % 3 == 0)
    pages = [(grid_worker, reverse("care:mine")), (community_secretary, reverse("care:inbox")),
             (care_officer, reverse("care:inbox")),
             (street_officer, reverse("care:area", args=[street_officer.area_id]))]
    for user, url in pages:
        client = make_client(user)
        client.get(url)
        with django_assert_max_num_queries(12):
            response = client.get(url)
        assert response.status_code == 200


def test_street_officer_designates_and_ends_a_care_officer(street_officer, community_secretary):
    client = make_client(street_officer)
    url = reverse("care:street_officers", args=[street_officer.area_id])
    assert street_officer.area.name in client.get(reverse("care:officers")).content.decode()
    assert client.post(url, {"do": "add", "user": community_secretary.pk}).status_code == 302
    officer = CareOfficer.objects.get(street=street_officer.area)
    assert officer.user == community_secretary
    assert client.post(url, {"do": "remove", "officer": officer.pk}).status_code == 302
    assert not CareOfficer.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.CARE_OFFICER_CHANGE).count() == 2


def test_designation_pages_are_closed_to_other_roles(city, street_officer):
    url = reverse("care:street_officers", args=[street_officer.area_id])
    for name in ("community_secretary", "grid_worker", "other_street_officer"):
        client = make_client(city.persona(name))
        assert client.get(url).status_code == 404, name
    assert make_client(city.persona("grid_worker")).get(
        reverse("care:officers")).status_code == 403


def test_the_secretarys_inbox_says_how_many_staff_are_overloaded(community_secretary,
                                                                grid_worker, street_officer):
    from datetime import date

    from fangkong.care.models import OverloadWarning

    OverloadWarning.objects.create(user=grid_worker, community=community_secretary.area,
                                   on_day=date(2026, 12, 1), reasons=[])
    workload = reverse("care:workload", args=[community_secretary.area_id])
    assert workload in make_client(community_secretary).get(
        reverse("care:inbox")).content.decode()
    # Only the community's secretary is warned.
    assert workload not in make_client(street_officer).get(
        reverse("care:inbox")).content.decode()
