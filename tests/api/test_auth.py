"""Who may call the API: bearer tokens for integrations, the session (with CSRF) for the
browser; everything else is a 401."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from fangkong.accounts.models import ApiToken, User
from fangkong.accounts.services import api_token_create

pytestmark = pytest.mark.django_db

# A CSRF secret in the form Django keeps in its cookie (32 allowed characters).
CSRF_SECRET = "abcdefghijklmnopqrstuvwxyzABCDEF"


def test_valid_token_authenticates_as_its_user(api, town):
    response = api.get("/me", "grid_worker")
    assert response.status_code == 200
    assert response.json()["username"] == "api_grid_worker"
    assert response.json()["area"]["id"] == town.areas["A1"].pk


def test_token_use_is_recorded(api, town):
    api.get("/me", "grid_worker")
    token = ApiToken.objects.get(user=town.users["grid_worker"])
    assert token.last_used_at is not None


def test_missing_credentials_get_401(api):
    response = api.get("/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


@pytest.mark.parametrize("header", [
    "Bearer fk_not-a-real-token",
    "Bearer not-even-our-prefix",
    "Bearer ",
    "Token fk_whatever",
    "Basic YWRtaW46YWRtaW4=",
])
def test_unknown_token_gets_401(api, header):
    response = api.client.get("/api/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_revoked_token_gets_401(api, town):
    ApiToken.objects.filter(user=town.users["grid_worker"]).update(revoked_at=timezone.now())
    assert api.get("/me", "grid_worker").status_code == 401


def test_expired_token_gets_401(api, town):
    _row, clear = api_token_create(user=town.users["grid_worker"], name="short",
                                   expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get("/me", token=clear).status_code == 401


def test_token_before_its_expiry_works(api, town):
    _row, clear = api_token_create(user=town.users["grid_worker"], name="long",
                                   expires_at=timezone.now() + timedelta(days=1))
    assert api.get("/me", token=clear).status_code == 200


def test_token_of_a_deactivated_user_gets_401(api, town):
    User.objects.filter(pk=town.users["grid_worker"].pk).update(is_active=False)
    assert api.get("/me", "grid_worker").status_code == 401


def test_bad_token_is_401_even_with_a_session(api, town):
    api.client.force_login(town.users["grid_worker"])
    response = api.client.get("/api/me", HTTP_AUTHORIZATION="Bearer fk_revoked")
    assert response.status_code == 401


def test_session_authenticates_reads(town):
    client = Client(enforce_csrf_checks=True)
    client.force_login(town.users["grid_worker"])
    response = client.get(f"/api/residents/{town.resident('A1').pk}")
    assert response.status_code == 200


def test_session_write_without_csrf_token_gets_403(town):
    client = Client(enforce_csrf_checks=True)
    client.force_login(town.users["grid_worker"])
    resident = town.resident("A1")
    response = client.patch(f"/api/residents/{resident.pk}",
                            json.dumps({"version": resident.version, "remarks": "x"}),
                            content_type="application/json")
    assert response.status_code == 403
    resident.refresh_from_db()
    assert resident.remarks == ""


def test_session_write_with_csrf_token_succeeds(town):
    client = Client(enforce_csrf_checks=True)
    client.force_login(town.users["grid_worker"])
    client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET
    resident = town.resident("A1")
    response = client.patch(f"/api/residents/{resident.pk}",
                            json.dumps({"version": resident.version, "remarks": "会说方言"}),
                            content_type="application/json", HTTP_X_CSRFTOKEN=CSRF_SECRET)
    assert response.status_code == 200
    assert response.json()["remarks"] == "会说方言"


def test_token_writes_need_no_csrf_token(api, town):
    api.client = Client(enforce_csrf_checks=True)
    resident = town.resident("A1")
    response = api.patch(f"/residents/{resident.pk}",
                         {"version": resident.version, "remarks": "x"}, "grid_worker")
    assert response.status_code == 200


def test_anonymous_write_is_401_not_a_csrf_403(town):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/residents", json.dumps({}), content_type="application/json")
    assert response.status_code == 401
