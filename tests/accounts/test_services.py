"""Staff accounts, API tokens, failed logins and the back office."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from fangkong.accounts.models import ApiToken, Role, User
from fangkong.accounts.services import api_token_create, api_token_user, staff_create
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.places.models import AreaKind
from tests.factories import PASSWORD, field_messages
from tests.views.clients import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

STRONG = "plum-river-7-lantern"


@pytest.fixture(autouse=True)
def fast_hashing(settings):  # noqa: ANN001
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Staff ---------------------------------------------------------------------------------------


def test_staff_create_makes_a_user_with_role_and_area_and_audits_it(city, community_secretary):
    grid = city.areas(AreaKind.GRID)[0]
    user = staff_create(username=" new_grid ", password=STRONG, role=Role.GRID_WORKER,
                        area=grid, full_name=" 王 芳 ", by=community_secretary)
    user.refresh_from_db()
    assert (user.username, user.role, user.area_id, user.full_name) == (
        "new_grid", Role.GRID_WORKER, grid.pk, "王 芳")
    assert user.check_password(STRONG)
    assert not user.is_staff and not user.is_superuser
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.actor_id, event.area_path) == (
        AuditAction.STAFF_CREATE, community_secretary.pk, grid.path)
    assert STRONG not in str(event.changes)


@pytest.mark.parametrize(("role", "kind", "words"), [
    (Role.GRID_WORKER, AreaKind.COMMUNITY, ("Grid worker", "Grid", "Community")),
    (Role.COMMUNITY_SECRETARY, AreaKind.GRID, ("Community secretary", "Community", "Grid")),
    (Role.STREET_OFFICER, AreaKind.DISTRICT, ("Street officer", "Street", "District")),
    (Role.ADMIN, AreaKind.STREET, ("administrator", "District", "Street")),
    (Role.GATE_GUARD, AreaKind.CITY, ("Gate guard", "Community", "City")),
])
def test_staff_create_refuses_a_role_at_the_wrong_kind_of_area(city, role, kind, words):
    before = User.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        staff_create(username="misplaced", password=STRONG, role=role,
                     area=city.areas(kind)[0])
    message = field_messages(excinfo)["area"]
    for word in words:
        assert word in message, message
    assert User.objects.count() == before


@pytest.mark.parametrize("username", ["grid_worker", "GRID_Worker"])
def test_staff_create_refuses_a_taken_user_name_in_any_case(city, username):
    before = User.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        staff_create(username=username, password=STRONG, role=Role.GRID_WORKER,
                     area=city.areas(AreaKind.GRID)[0])
    assert "taken" in field_messages(excinfo)["username"]
    assert User.objects.count() == before


@pytest.mark.parametrize("password", ["12345", "password123", "2718281828459",
                                      "weakling_grid"])
def test_staff_create_refuses_a_weak_password(city, password):
    with pytest.raises(ValidationError) as excinfo:
        staff_create(username="weakling_grid", password=password, role=Role.GRID_WORKER,
                     area=city.areas(AreaKind.GRID)[0])
    assert field_messages(excinfo)["password"]
    assert not User.objects.filter(username="weakling_grid").exists()


def test_staff_create_reports_every_problem_at_once(city):
    with pytest.raises(ValidationError) as excinfo:
        staff_create(username="", password="1", role="janitor",
                     area=city.areas(AreaKind.GRID)[0])
    errors = field_messages(excinfo)
    assert {"username", "role", "password"} <= set(errors)
    assert "janitor" in errors["role"]


# API tokens ----------------------------------------------------------------------------------


def test_api_token_is_shown_once_and_stored_as_a_hash(grid_worker):
    token, clear = api_token_create(user=grid_worker, name="对接")
    assert clear.startswith("fk_")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == ApiToken.digest_of(clear)
    assert clear not in (stored.digest, stored.prefix, stored.name)
    assert AuditEvent.objects.order_by("-id").first().action == AuditAction.TOKEN_CREATE


def test_valid_api_token_gives_its_user_and_marks_it_used(grid_worker):
    token, clear = api_token_create(user=grid_worker, name="对接",
                                    expires_at=timezone.now() + timedelta(days=1))
    assert api_token_user(clear) == grid_worker
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_revoked_api_token_gives_nobody(grid_worker):
    token, clear = api_token_create(user=grid_worker, name="对接")
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert api_token_user(clear) is None


def test_expired_api_token_gives_nobody(grid_worker):
    _token, clear = api_token_create(user=grid_worker, name="对接",
                                     expires_at=timezone.now() - timedelta(seconds=1))
    assert api_token_user(clear) is None


def test_api_token_of_an_inactive_user_gives_nobody(grid_worker):
    _token, clear = api_token_create(user=grid_worker, name="对接")
    User.objects.filter(pk=grid_worker.pk).update(is_active=False)
    assert api_token_user(clear) is None


@pytest.mark.parametrize("clear", ["", "fk_", "fk_not-a-real-token", "Bearer fk_x"])
def test_unknown_api_token_gives_nobody(grid_worker, clear):
    api_token_create(user=grid_worker, name="对接")
    assert api_token_user(clear) is None


def test_api_token_authenticates_the_api_until_revoked(grid_worker):
    token, clear = api_token_create(user=grid_worker, name="对接")
    client = make_client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {clear}"}
    me = client.get("/api/me", **headers)
    assert me.status_code == 200
    assert me.json()["username"] == "grid_worker"
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert client.get("/api/me", **headers).status_code == 401


# Login and the back office -----------------------------------------------------------------------


def _fast_password(user: User) -> None:
    """Re-hash the persona's password with the test hasher (PBKDF2 takes ~0.5 s)."""
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])


def test_failed_login_is_audited_without_the_password(grid_worker):
    _fast_password(grid_worker)
    client = make_client()
    response = client.post(reverse("accounts:login"),
                           {"username": "grid_worker", "password": "wrong-guess-123"},
                           REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.object_label, event.ip) == (
        AuditAction.LOGIN_FAILED, "grid_worker", "10.9.8.7")
    assert "wrong-guess-123" not in str(event.changes)


def test_login_with_the_right_password_goes_home(grid_worker):
    _fast_password(grid_worker)
    client = make_client()
    response = client.post(reverse("accounts:login"),
                           {"username": "grid_worker", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("places:home")


@pytest.mark.parametrize("persona", ["admin", "community_secretary", "grid_worker"])
def test_back_office_refuses_every_role_even_marked_as_staff(city, persona):
    user = city.persona(persona)
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.refresh_from_db()
    client = make_client(user)
    for url in ("/admin/", "/admin/accounts/user/", "/admin/audit/auditevent/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


def test_back_office_opens_for_a_superuser(city):
    root = User.objects.create_superuser(username="accounts_root", password=None)
    client = make_client(root)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200


def test_logins_pause_after_too_many_wrong_passwords(grid_worker, settings):
    settings.LOGIN_MAX_FAILURES = 3
    _fast_password(grid_worker)
    client = make_client()
    for _ in range(3):
        client.post(reverse("accounts:login"),
                    {"username": "grid_worker", "password": "wrong-guess-123"})
    # Now even the right password is refused, with the reason.
    response = client.post(reverse("accounts:login"),
                           {"username": "grid_worker", "password": PASSWORD},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    assert "Too many wrong passwords" in response.content.decode()
    # Another user name is not affected.
    other = User.objects.get(username="other_grid_worker")
    _fast_password(other)
    response = make_client().post(reverse("accounts:login"),
                                  {"username": "other_grid_worker", "password": PASSWORD})
    assert response.status_code == 302
