"""Volunteers: joining through the community's signed link (forged links, phone checks,
one phone once per community, floods), verification by the community (a working login,
refusing with a reason, suspending sends their errands back to the queue, every decision
audited) and the figures of each volunteer."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fangkong.accounts.models import Role, User
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.errands import services
from fangkong.errands import volunteers as vol
from fangkong.errands.models import ErrandEvent, ErrandStatus, Volunteer, VolunteerStatus
from fangkong.followup.channels.web.checkin import building_token
from fangkong.lib import clock, crypto
from fangkong.places.models import Area, AreaKind
from tests.factories import PASSWORD, field_messages
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
FORM = {"name": "李志愿", "phone": "139 1234 5678", "skills": ["driver", "language"],
        "availability": "工作日晚上, 周末", "note": "有车"}


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Submissions are counted in the cache: every test starts and ends with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def community(community_secretary) -> Area:  # noqa: ANN001
    return community_secretary.area


def web(**extra) -> Client:  # noqa: ANN003
    """A browser without a login, asking for English pages."""
    return Client(HTTP_ACCEPT_LANGUAGE="en", **extra)


def staff(user: User) -> Client:
    return make_client(user, language="en")


def join_path(community: Area) -> str:
    return reverse("errands:join", args=[vol.join_token(community.pk)])


# Joining ---------------------------------------------------------------------------------


def test_the_join_form_opens_from_the_communitys_link(community):  # noqa: ANN001
    response = web().get(join_path(community))
    assert response.status_code == 200
    assert community.name in response.content.decode()
    assert vol.join_url(community.pk).endswith(join_path(community))


@pytest.mark.parametrize("make_token", [
    lambda c: vol.join_token(c.pk)[:-1] + ("A" if vol.join_token(c.pk)[-1] != "A" else "B"),
    lambda c: vol.join_token(c.pk).replace(vol.join_token(c.pk).split(":")[0], "zz", 1),
    lambda c: building_token(c.pk),  # signed, but for another purpose
    lambda c: vol.join_token(c.parent_id),  # genuine, but a street
    lambda c: "nonsense",
], ids=["signature", "value", "other-salt", "not-a-community", "garbage"])
def test_a_forged_link_is_not_found(community, make_token):  # noqa: ANN001
    client = web()
    url = reverse("errands:join", args=[make_token(community)])
    assert client.get(url).status_code == 404
    assert client.post(url, FORM).status_code == 404
    assert not Volunteer.objects.exists()


def test_joining_creates_a_volunteer_waiting_with_the_phone_sealed(community):  # noqa: ANN001
    response = web().post(join_path(community), FORM)
    assert response.status_code == 200
    volunteer = Volunteer.objects.get()
    assert volunteer.status == VolunteerStatus.APPLIED and volunteer.user is None
    assert volunteer.community == community and volunteer.name == "李志愿"
    assert volunteer.skills == ["driver", "language"]
    assert volunteer.availability == "工作日晚上, 周末" and volunteer.note == "有车"
    assert crypto.unseal(volunteer.phone_sealed, purpose="phone") == "13912345678"
    assert volunteer.phone_masked == "139****5678"
    assert volunteer.phone_index == crypto.blind_index("13912345678", purpose="phone")
    assert volunteer.applied_at == NOW
    # Nothing personal is shown back but the masked phone.
    body = response.content.decode()
    assert "139****5678" in body
    assert "13912345678" not in body and "李志愿" not in body and "有车" not in body


@pytest.mark.parametrize(("phone", "words"), [
    ("12345", "has 5 digits"),
    ("1391234567", "expected 11"),
    ("027-85551234", "Give a mobile number"),
    ("", "empty"),
])
def test_a_wrong_phone_is_refused_next_to_the_field(community, phone, words):  # noqa: ANN001
    response = web().post(join_path(community), {**FORM, "phone": phone})
    assert response.status_code == 400
    assert words in " ".join(response.context["form"].errors["phone"])
    assert not Volunteer.objects.exists()


def test_every_mistake_is_shown_at_once(community):  # noqa: ANN001
    response = web().post(join_path(community), {"name": " ", "phone": "123"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name", "phone"}


def test_unknown_skills_and_control_characters_are_refused(community):  # noqa: ANN001
    with pytest.raises(ValidationError) as excinfo:
        vol.volunteer_apply(community=community, name="李\x00志愿", phone="13912345678",
                            skills=["astronaut"], note="x" * 301)
    assert set(field_messages(excinfo)) == {"name", "skills", "note"}


def test_the_same_phone_twice_in_a_community_is_refused_clearly(city, community):  # noqa: ANN001
    client = web()
    assert client.post(join_path(community), FORM).status_code == 200
    again = client.post(join_path(community), {**FORM, "name": "别人",
                                                "phone": "+86 139-1234-5678"})
    assert again.status_code == 400
    assert "already registered" in " ".join(again.context["form"].errors["phone"])
    assert "the community will contact you" in again.content.decode()
    assert Volunteer.objects.count() == 1
    # Another community may have the same person.
    other = Area.objects.filter(kind=AreaKind.COMMUNITY).exclude(pk=community.pk).first()
    assert client.post(join_path(other), FORM).status_code == 200
    assert Volunteer.objects.count() == 2


def test_floods_from_one_address_are_stopped(community):  # noqa: ANN001
    client = web(REMOTE_ADDR="10.9.8.7")
    for n in range(vol.JOIN_LIMIT):
        response = client.post(join_path(community), {**FORM, "phone": f"1390000{n:04d}"})
        assert response.status_code == 200, n
    blocked = client.post(join_path(community), {**FORM, "phone": "13900009999"})
    assert blocked.status_code == 429
    assert "Too many forms" in blocked.content.decode()
    assert client.get(join_path(community)).status_code == 429
    assert Volunteer.objects.count() == vol.JOIN_LIMIT
    # Wrong forms count too (a bot does not fill them in right), other addresses do not.
    assert web(REMOTE_ADDR="10.9.8.8").post(join_path(community),
                                               {**FORM, "phone": "1"}).status_code == 400
    assert web(REMOTE_ADDR="10.9.8.9").post(
        join_path(community), {**FORM, "phone": "13900009999"}).status_code == 200
    # The window passes.
    cache.clear()
    assert client.get(join_path(community)).status_code == 200


def test_the_join_form_keeps_csrf(community):  # noqa: ANN001
    client = web(enforce_csrf_checks=True)
    assert client.post(join_path(community), FORM).status_code == 403
    page = client.get(join_path(community))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    assert client.post(join_path(community),
                       {**FORM, "csrfmiddlewaretoken": token}).status_code == 200


# The list and the join link --------------------------------------------------------------


def test_the_secretary_sees_the_join_link_and_qr_code(  # noqa: ANN001
        community_secretary, community, make_volunteer):
    make_volunteer(name="王等待", verified=False)
    response = staff(community_secretary).get(reverse("errands:volunteers"))
    body = response.content.decode()
    assert response.status_code == 200
    assert vol.join_url(community.pk) in body
    assert "<svg" in body and 'class="qr"' in body
    assert "王等待" in body and "Waiting for verification" in body


def test_a_street_officer_sees_every_community_of_the_street(city, street_officer,  # noqa: ANN001
                                                             community_secretary,
                                                             make_volunteer):
    communities = [a for a in city.areas(AreaKind.COMMUNITY)
                   if a.parent_id == street_officer.area_id]
    assert len(communities) >= 2
    make_volunteer(name="甲志愿")
    make_volunteer(name="乙志愿", community=communities[1], by=street_officer)
    client = staff(street_officer)
    body = client.get(reverse("errands:volunteers")).content.decode()
    assert "甲志愿" in body and "乙志愿" in body
    assert "Choose a community" in body and "<svg" not in body
    one = client.get(reverse("errands:volunteers"), {"community": communities[1].pk})
    assert "乙志愿" in one.content.decode() and "甲志愿" not in one.content.decode()
    assert vol.join_url(communities[1].pk) in one.content.decode()


def test_others_cannot_see_or_decide_on_volunteers(city, make_volunteer):  # noqa: ANN001
    volunteer = make_volunteer(verified=False)
    for name in ("grid_worker", "community_worker", "volunteer", "gate_guard", "admin"):
        client = staff(city.persona(name))
        assert client.get(reverse("errands:volunteers")).status_code == 403, name
    for name in ("other_street_officer", "grid_worker", "volunteer", "admin"):
        client = staff(city.persona(name))
        url = reverse("errands:volunteer", args=[volunteer.pk])
        assert client.get(url).status_code == 404, name
        assert client.post(url, {"do": "verify"}).status_code == 404, name
        assert client.post(url, {"do": "reveal"}).status_code == 404, name
    body = staff(city.persona("other_street_officer")).get(
        reverse("errands:volunteers")).content.decode()
    assert volunteer.name not in body
    volunteer.refresh_from_db()
    assert volunteer.status == VolunteerStatus.APPLIED
    assert not AuditEvent.objects.filter(object_type="volunteer").exists()


# Verification ----------------------------------------------------------------------------


def test_verifying_creates_a_working_volunteer_login_shown_once(community_secretary,  # noqa: ANN001
                                                                community, make_volunteer):
    volunteer = make_volunteer(verified=False)
    client = staff(community_secretary)
    url = reverse("errands:volunteer", args=[volunteer.pk])
    response = client.post(url, {"do": "verify"})
    assert response.status_code == 200
    login = response.context["new_login"]
    assert login.username == f"v{volunteer.pk}"
    assert login.password and login.password in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    volunteer.refresh_from_db()
    assert volunteer.status == VolunteerStatus.VERIFIED
    assert volunteer.decided_by == community_secretary and volunteer.decided_at == NOW
    user = volunteer.user
    assert (user.role, user.area_id, user.full_name) == (Role.VOLUNTEER, community.pk,
                                                         volunteer.name)
    assert user.is_active and user.check_password(login.password)
    # The volunteer signs in with it and sees their tasks page.
    phone = web()
    assert phone.login(username=login.username, password=login.password)
    assert phone.get(reverse("errands:tasks")).status_code == 200
    # The password is never shown again.
    assert login.password not in client.get(url).content.decode()
    event = AuditEvent.objects.get(action=AuditAction.VOLUNTEER_DECISION)
    assert (event.actor_id, event.object_type, event.object_id) == (
        community_secretary.pk, "volunteer", str(volunteer.pk))
    assert event.changes == {"status": ["applied", "verified"], "user": ["", login.username]}
    assert event.area_path == community.path
    assert AuditEvent.objects.filter(action=AuditAction.STAFF_CREATE,
                                     object_label=login.username).exists()
    # They can now be given errands.
    assert User.objects.filter(services.helpers_q_for(
        services.Errand(community_id=community.pk, grid_id=0)), pk=user.pk).exists()


def test_a_taken_username_gets_a_suffix(community_secretary, make_volunteer):  # noqa: ANN001
    volunteer = make_volunteer(verified=False)
    User.objects.create(username=f"V{volunteer.pk}")
    result = vol.volunteer_verify(volunteer=volunteer, by=community_secretary)
    assert result.username == f"v{volunteer.pk}-2"


def test_verifying_may_give_an_existing_volunteer_login(city, community_secretary,  # noqa: ANN001
                                                        make_volunteer):
    existing = city.persona("volunteer")
    volunteer = make_volunteer(verified=False)
    client = staff(community_secretary)
    url = reverse("errands:volunteer", args=[volunteer.pk])
    page = client.get(url)
    assert existing.username in page.content.decode()
    response = client.post(url, {"do": "verify", "link_user": existing.pk})
    assert response.status_code == 302
    volunteer.refresh_from_db()
    assert volunteer.user == existing and volunteer.status == VolunteerStatus.VERIFIED
    assert User.objects.filter(role=Role.VOLUNTEER).count() == 1
    # A login of another role, or one already held, is refused.
    second = make_volunteer(verified=False)
    with pytest.raises(ValidationError) as excinfo:
        vol.volunteer_verify(volunteer=second, by=community_secretary, link_user=existing)
    assert "link_user" in field_messages(excinfo)
    with pytest.raises(ValidationError):
        vol.volunteer_verify(volunteer=second, by=community_secretary,
                             link_user=city.persona("gate_guard"))


def test_refusing_needs_a_reason(community_secretary, make_volunteer):  # noqa: ANN001
    volunteer = make_volunteer(verified=False)
    client = staff(community_secretary)
    url = reverse("errands:volunteer", args=[volunteer.pk])
    response = client.post(url, {"do": "refuse", "refuse-reason": "  "})
    assert response.status_code == 200
    assert "Say why" in " ".join(response.context["refuse_form"].errors["reason"])
    volunteer.refresh_from_db()
    assert volunteer.status == VolunteerStatus.APPLIED
    assert client.post(url, {"do": "refuse", "refuse-reason": "联系不上"}).status_code == 302
    volunteer.refresh_from_db()
    assert (volunteer.status, volunteer.decision_note, volunteer.user) == (
        VolunteerStatus.REFUSED, "联系不上", None)
    event = AuditEvent.objects.get(action=AuditAction.VOLUNTEER_DECISION)
    assert event.changes == {"status": ["applied", "refused"]}
    # Refused is not suspended: a refused volunteer may still be verified later.
    with pytest.raises(ValidationError):
        vol.volunteer_suspend(volunteer=volunteer, by=community_secretary, reason="x")
    assert vol.volunteer_verify(volunteer=volunteer, by=community_secretary).password


def test_suspending_returns_their_open_errands_to_the_queue(  # noqa: ANN001
        community_secretary, make_volunteer, make_errand):
    volunteer = make_volunteer()
    helper = volunteer.user
    waiting = make_errand(assign_to=helper)
    buying = make_errand(assign_to=helper)
    services.errand_accept(errand=buying, by=helper)
    services.errand_advance(errand=buying, to=ErrandStatus.BUYING, by=helper)
    done = make_errand(assign_to=helper)
    services.errand_advance(errand=done, to=ErrandStatus.DELIVERING, by=helper)
    services.errand_deliver(errand=done, by=helper, code=done.handover_code, hours=1.5)
    phone = web()
    phone.force_login(helper)
    client = staff(community_secretary)
    url = reverse("errands:volunteer", args=[volunteer.pk])
    refused = client.post(url, {"do": "suspend", "suspend-reason": ""})
    assert refused.context["suspend_form"].errors["reason"]
    response = client.post(url, {"do": "suspend", "suspend-reason": "多次爽约"}, follow=True)
    assert "2 open errands went back to the queue" in response.content.decode()
    volunteer.refresh_from_db()
    helper.refresh_from_db()
    assert volunteer.status == VolunteerStatus.SUSPENDED and not helper.is_active
    for errand in (waiting, buying):
        errand.refresh_from_db()
        assert (errand.status, errand.assigned_to, errand.assigned_at, errand.accepted_at) == (
            ErrandStatus.NEW, None, None, None)
        event = ErrandEvent.objects.filter(errand=errand).last()
        assert (event.what, event.status, event.by) == ("released", "new", community_secretary)
        assert "多次爽约" not in event.detail  # the resident reads the history
    done.refresh_from_db()
    assert done.status == ErrandStatus.DELIVERED and done.assigned_to == helper
    # Their session and their password no longer work.
    assert phone.get(reverse("errands:tasks")).status_code == 302
    assert not web().login(username=helper.username, password=PASSWORD)
    event = AuditEvent.objects.filter(action=AuditAction.VOLUNTEER_DECISION).order_by("pk").last()
    assert event.changes == {"status": ["verified", "suspended"], "errands_released": 2}
    # They keep what they did; verifying again reactivates the same login.
    assert vol.volunteer_for_user(community_secretary, volunteer.pk).tasks_done == 1
    again = vol.volunteer_verify(volunteer=volunteer, by=community_secretary)
    helper.refresh_from_db()
    assert again.password is None and again.username == helper.username and helper.is_active


def test_deciding_twice_is_refused_not_crashed(community_secretary, make_volunteer):  # noqa: ANN001
    volunteer = make_volunteer()
    client = staff(community_secretary)
    url = reverse("errands:volunteer", args=[volunteer.pk])
    response = client.post(url, {"do": "verify"})
    assert response.status_code == 200
    assert "verified already" in response.content.decode()
    response = client.post(url, {"do": "refuse", "refuse-reason": "x"})
    assert response.status_code == 200
    assert "Only a volunteer waiting" in response.content.decode()
    assert client.post(url, {"do": "nonsense"}).status_code == 200


def test_the_phone_is_masked_and_each_look_is_audited(  # noqa: ANN001
        community_secretary, community, make_volunteer):
    volunteer = make_volunteer(verified=False, phone="13987654321")
    client = staff(community_secretary)
    url = reverse("errands:volunteer", args=[volunteer.pk])
    page = client.get(url).content.decode()
    assert "139****4321" in page and "13987654321" not in page
    revealed = client.post(url, {"do": "reveal"}).content.decode()
    assert 'href="tel:13987654321"' in revealed
    event = AuditEvent.objects.get(action=AuditAction.REVEAL_PHONE)
    assert (event.actor_id, event.object_type, event.object_id, event.area_path) == (
        community_secretary.pk, "volunteer", str(volunteer.pk), community.path)


def test_the_gate_answers_404_outside_the_users_communities(city, make_volunteer):  # noqa: ANN001
    volunteer = make_volunteer()
    for name in ("other_street_officer", "grid_worker", "volunteer"):
        with pytest.raises(Http404):
            vol.volunteer_for_user(city.persona(name), volunteer.pk)
        with pytest.raises(Http404):
            vol.volunteer_suspend(volunteer=volunteer, by=city.persona(name), reason="x")
        with pytest.raises(Http404):
            vol.volunteer_phone_reveal(volunteer=volunteer, by=city.persona(name))
    assert vol.volunteer_for_user(city.persona("street_officer"), volunteer.pk) == volunteer


# Figures ---------------------------------------------------------------------------------


def test_tasks_done_and_hours_served_per_volunteer(  # noqa: ANN001
        community_secretary, make_volunteer, make_errand):
    busy = make_volunteer(name="忙志愿")
    make_volunteer(name="闲志愿")
    helper = busy.user
    for hours in (1.5, 2, None):
        errand = make_errand(assign_to=helper)
        services.errand_advance(errand=errand, to=ErrandStatus.DELIVERING, by=helper)
        services.errand_deliver(errand=errand, by=helper, code=errand.handover_code,
                                hours=hours)
    failed = make_errand(assign_to=helper)
    services.errand_accept(errand=failed, by=helper)
    services.errand_fail(errand=failed, by=helper, reason="药店没有")
    make_errand(assign_to=helper)  # open
    rows = {v.name: v for v in vol.volunteer_rows(community_secretary)}
    assert (rows["忙志愿"].tasks_done, rows["忙志愿"].hours_served, rows["忙志愿"].open_tasks) == (
        3, Decimal("3.5"), 1)
    assert (rows["闲志愿"].tasks_done, rows["闲志愿"].hours_served, rows["闲志愿"].open_tasks) == (
        0, None, 0)
    body = staff(community_secretary).get(reverse("errands:volunteers")).content.decode()
    assert "3 tasks done" in body and "3.5 h served" in body and "1 open task" in body
    assert "0 tasks done" in body and "0 h served" in body
    detail = staff(community_secretary).get(
        reverse("errands:volunteer", args=[busy.pk])).content.decode()
    assert '<div class="n">3.5</div>' in detail


def test_the_list_takes_the_same_queries_whatever_its_length(community_secretary,  # noqa: ANN001
                                                             make_volunteer, make_errand):
    client = staff(community_secretary)
    url = reverse("errands:volunteers")
    make_volunteer()
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for n in range(6):
        volunteer = make_volunteer(verified=n % 2 == 0)
        if volunteer.user:
            make_errand(assign_to=volunteer.user)
    with CaptureQueriesContext(connection) as seven:
        assert client.get(url).status_code == 200
    assert len(seven) == len(one) <= 10
