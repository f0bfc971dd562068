"""A confidential difficulty is read by its filer and the care officers of its street,
and by nobody else: not the secretary, the street officer, the district administrator or
other workers, through no gate, list, page or dashboard. Readers other than the filer
are written to the audit log."""

from __future__ import annotations

import pytest
from django.http import Http404
from django.urls import reverse

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.care.selectors import (
    area_figures,
    difficulties_for_user,
    difficulties_to_handle,
    difficulty_for_user,
    my_difficulties,
)
from fangkong.care.services import difficulty_file
from fangkong.lib import clock
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db

SECRET = "丈夫确诊住院，孩子无人照看，不想让同事知道"
PLAIN = "防护服尺码太小，需要 XL 号"


@pytest.fixture
def secret(grid_worker, care_officer):  # noqa: ANN001
    return difficulty_file(by=grid_worker, kind="family", details=SECRET, urgency="urgent",
                           confidential=True)


@pytest.fixture
def plain(grid_worker):  # noqa: ANN001
    return difficulty_file(by=grid_worker, kind="ppe", details=PLAIN)


def _pages(user) -> list[str]:  # noqa: ANN001
    urls = [reverse("care:mine"), reverse("care:inbox")]
    for area in filter(None, [user.area, user.area and user.area.parent]):
        urls.append(reverse("care:area", args=[area.pk]))
    return urls


def test_others_never_see_a_confidential_difficulty(secret, others):
    for name, user in others.items():
        with pytest.raises(Http404):
            difficulty_for_user(user, secret.pk)
        assert secret not in difficulties_for_user(user), name
        assert secret not in difficulties_to_handle(user), name
        assert secret not in my_difficulties(user), name
        client = make_client(user)
        assert client.get(reverse("care:difficulty", args=[secret.pk])).status_code == 404
        response = client.post(reverse("care:difficulty", args=[secret.pk]),
                               {"do": "resolve", "resolution": "越权"})
        assert response.status_code == 404, name
        for url in _pages(user):
            body = client.get(url).content.decode()
            assert SECRET not in body, (name, url)
            assert reverse("care:difficulty", args=[secret.pk]) not in body, (name, url)
    assert not AuditEvent.objects.filter(action=AuditAction.DIFFICULTY_VIEW).exists()


@pytest.mark.usefixtures("english")
def test_dashboard_counts_a_confidential_one_without_its_details(secret, plain, street_officer,
                                                                 admin_user):
    clock.advance(hours=25)  # the protective equipment (24 h) is overdue, not the family one
    figures = area_figures(street_officer.area)
    assert (figures.total, figures.confidential, figures.pending) == (2, 1, 2)
    assert (figures.overdue, figures.confidential_overdue) == (1, 0)
    assert [d.pk for d in figures.overdue_items] == [plain.pk]
    clock.advance(hours=12)  # the urgent family one (36 h) too: counted, never listed
    figures = area_figures(street_officer.area)
    assert (figures.overdue, figures.confidential_overdue) == (2, 1)
    assert [d.pk for d in figures.overdue_items] == [plain.pk]
    assert dict(figures.by_kind) == {"Work": 0, "Health": 0, "Family": 1, "Childcare": 0,
                                     "Transport": 0, "Protective equipment": 1, "Pay": 0,
                                     "Other": 0}
    for user in (street_officer, admin_user):
        body = make_client(user).get(reverse("care:area", args=[user.area_id])).content.decode()
        assert SECRET not in body
        assert reverse("care:difficulty", args=[plain.pk]) in body
        assert reverse("care:difficulty", args=[secret.pk]) not in body


def test_filer_and_care_officer_read_it_and_the_officer_is_audited(secret, grid_worker,
                                                                    care_officer):
    for user in (grid_worker, care_officer):
        assert difficulty_for_user(user, secret.pk) == secret
        body = make_client(user).get(reverse("care:difficulty", args=[secret.pk]))
        assert SECRET in body.content.decode()
    events = AuditEvent.objects.filter(action=AuditAction.DIFFICULTY_VIEW)
    assert [(e.actor_id, e.object_id, e.object_label) for e in events] == [
        (care_officer.pk, str(secret.pk), f"#{secret.pk}")]
    assert SECRET not in str(events[0].changes)
    assert secret in difficulties_to_handle(care_officer)
    inbox = make_client(care_officer).get(reverse("care:inbox")).content.decode()
    assert reverse("care:difficulty", args=[secret.pk]) in inbox


def test_plain_difficulty_is_read_by_those_above_in_the_area(plain, community_secretary,
                                                             street_officer, admin_user,
                                                             city):
    for user in (community_secretary, street_officer, admin_user):
        assert difficulty_for_user(user, plain.pk) == plain
    for name in ("other_grid_worker", "other_street_officer", "community_worker",
                 "gate_guard", "volunteer"):
        with pytest.raises(Http404):
            difficulty_for_user(city.persona(name), plain.pk)
    assert not AuditEvent.objects.filter(action=AuditAction.DIFFICULTY_VIEW).exists()
