"""The pages themselves: query counts that do not grow with the rows shown, masked
personal data, audited reveal, adding and editing residents through the HTML forms, and
the language of the interface."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.lib import crypto
from fangkong.lib.idcard import check_digit, make_id_number
from fangkong.places.models import Area, Building, Household
from fangkong.places.services import building_create, household_create
from fangkong.residents.models import Resident, ResidentStatus, Tag
from fangkong.residents.services import ResidentInput, resident_create
from tests.views.clients import make_client

pytestmark = pytest.mark.django_db

REGION = "650102"  # not used by the synthetic city
# A page must not need more queries than this, whatever the number of rows it shows.
MAX_QUERIES = 10


def _clear_phone(resident: Resident) -> str:
    return crypto.unseal(bytes(resident.phone_sealed), purpose="phone")


def _clear_id(resident: Resident) -> str:
    return crypto.unseal(bytes(resident.id_number_sealed), purpose="id_number")


def _queries(client, url: str, params: dict | None = None) -> tuple[int, object]:  # noqa: ANN001
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200, url
    return len(ctx.captured_queries), response


# Query counts ---------------------------------------------------------------------------


def _name_prefix_with_few_rows(user) -> str:  # noqa: ANN001
    """A surname in the user's area shared by 2 to 10 active residents."""
    names = Resident.objects.filter(**{f"{user.area.kind}_id": user.area_id},
                                    status=ResidentStatus.ACTIVE).values_list("name", flat=True)
    counts: dict[str, int] = {}
    for name in names:
        counts[name[0]] = counts.get(name[0], 0) + 1
    return next(s for s, n in sorted(counts.items()) if 2 <= n <= 10)


@pytest.mark.parametrize("persona", ["grid_worker", "admin"])
def test_resident_list_query_count_does_not_grow_with_rows(city, persona,
                                                            django_assert_max_num_queries):
    user = city.persona(persona)
    client = make_client(user)
    url = reverse("residents:list")
    client.get(url)  # warm the session and any per-process cache
    few_text = _name_prefix_with_few_rows(user)
    with django_assert_max_num_queries(MAX_QUERIES):
        few, few_response = _queries(client, url, {"q": few_text})
    with django_assert_max_num_queries(MAX_QUERIES):
        many, many_response = _queries(client, url, {"q": ""})
    assert 2 <= len(few_response.context["rows"]) <= 10
    assert len(many_response.context["rows"]) == 50
    assert many == few


@pytest.mark.parametrize("persona", ["grid_worker", "admin"])
def test_home_page_query_count_is_bounded(city, persona, django_assert_max_num_queries):
    client = make_client(city.persona(persona))
    client.get(reverse("places:home"))
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(reverse("places:home"))
    assert response.status_code == 200
    assert response.context["area"] == city.persona(persona).area


def test_grid_page_query_count_does_not_grow_with_buildings(city, grid_worker):
    client = make_client(grid_worker)
    url = reverse("places:area", args=[grid_worker.area_id])
    client.get(url)
    before, first = _queries(client, url)
    for number in range(901, 906):
        building = building_create(grid=grid_worker.area, number=number)
        household_create(building=building, unit=1, room="101")
    after, second = _queries(client, url)
    assert len(second.context["buildings"]) == len(first.context["buildings"]) + 5
    assert after == before <= MAX_QUERIES


def test_area_pages_with_children_use_the_same_queries(city, admin_user):
    """A district page (two streets below) and a street page (two communities below)."""
    client = make_client(admin_user)
    district = admin_user.area
    street = Area.objects.filter(parent=district).order_by("path").first()
    client.get(reverse("places:home"))
    n_district, _ = _queries(client, reverse("places:area", args=[district.pk]))
    n_street, _ = _queries(client, reverse("places:area", args=[street.pk]))
    assert n_district == n_street <= MAX_QUERIES


def test_building_page_query_count_does_not_grow_with_households(city, grid_worker):
    client = make_client(grid_worker)
    building = building_create(grid=grid_worker.area, number=950)
    household_create(building=building, unit=1, room="101")
    url = reverse("places:building", args=[building.pk])
    client.get(url)
    before, _ = _queries(client, url)
    for unit in (1, 2):
        for room in ("201", "301", "401"):
            household_create(building=building, unit=unit, room=room)
    after, response = _queries(client, url)
    assert sum(len(h) for _u, h in response.context["units"]) == 7
    assert after == before <= MAX_QUERIES


def test_household_page_query_count_does_not_grow_with_members(city, grid_worker):
    client = make_client(grid_worker)
    building = building_create(grid=grid_worker.area, number=951)
    household = household_create(building=building, unit=1, room="101")
    tags = list(Tag.objects.all()[:2])
    url = reverse("places:household", args=[household.pk])

    def add(seq: int) -> None:
        resident_create(by=grid_worker, data=ResidentInput(
            household=household, name=f"测试{seq}", relation="self" if seq == 1 else "child",
            id_number=make_id_number(REGION, date(1980, 1, seq), seq * 2 + 1),
            phone=f"1390000{seq:04d}", tags=tags))

    add(1)
    client.get(url)
    before, _ = _queries(client, url)
    for seq in range(2, 6):
        add(seq)
    after, response = _queries(client, url)
    assert len(response.context["members"]) == 5
    assert after == before <= MAX_QUERIES


def test_resident_detail_query_count_is_bounded(city, grid_worker,
                                                django_assert_max_num_queries):
    client = make_client(grid_worker)
    resident = city.resident_in(grid_worker.area)
    url = reverse("residents:detail", args=[resident.pk])
    client.get(url)
    with django_assert_max_num_queries(MAX_QUERIES):
        assert client.get(url).status_code == 200


# Masked data and reveal -------------------------------------------------------------------


def test_resident_pages_show_masked_data_only(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    phone, id_number = _clear_phone(resident), _clear_id(resident)
    client = make_client(grid_worker)
    detail = client.get(reverse("residents:detail", args=[resident.pk])).content.decode()
    assert resident.phone_masked in detail
    assert resident.id_number_masked in detail
    for url in (reverse("residents:detail", args=[resident.pk]),
                reverse("residents:edit", args=[resident.pk]),
                reverse("places:household", args=[resident.household_id]),
                reverse("residents:list") + f"?q={resident.phone_last4}"):
        body = client.get(url).content.decode()
        assert phone not in body, url
        assert id_number not in body, url


def test_grid_worker_reveals_phone_and_it_is_audited(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    client = make_client(grid_worker)
    response = client.post(reverse("residents:reveal", args=[resident.pk, "phone"]),
                           REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert _clear_phone(resident) in response.content.decode()
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.actor_id, event.object_id) == (
        AuditAction.REVEAL_PHONE, grid_worker.pk, str(resident.pk))
    assert event.area_path == resident.grid.path
    assert event.ip == "10.1.2.3"


def test_htmx_reveal_returns_only_the_number(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    client = make_client(grid_worker)
    response = client.post(reverse("residents:reveal", args=[resident.pk, "phone"]),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode().strip()
    assert _clear_phone(resident) in body
    assert "<html" not in body


def test_grid_worker_cannot_reveal_id_number(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    events = AuditEvent.objects.count()
    client = make_client(grid_worker)
    response = client.post(reverse("residents:reveal", args=[resident.pk, "id_number"]))
    assert response.status_code == 403
    assert _clear_id(resident) not in response.content.decode()
    assert AuditEvent.objects.count() == events


def test_community_secretary_reveals_id_number_and_it_is_audited(city, community_secretary):
    resident = city.resident_in(community_secretary.area)
    client = make_client(community_secretary)
    response = client.post(reverse("residents:reveal", args=[resident.pk, "id_number"]))
    assert response.status_code == 200
    assert _clear_id(resident) in response.content.decode()
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.actor_id, event.object_id) == (
        AuditAction.REVEAL_ID_NUMBER, community_secretary.pk, str(resident.pk))


def test_reveal_of_something_else_is_refused(city, community_secretary):
    resident = city.resident_in(community_secretary.area)
    events = AuditEvent.objects.count()
    client = make_client(community_secretary)
    response = client.post(reverse("residents:reveal", args=[resident.pk, "name"]))
    assert response.status_code == 403
    assert AuditEvent.objects.count() == events


def test_reveal_needs_post(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    client = make_client(grid_worker)
    response = client.get(reverse("residents:reveal", args=[resident.pk, "phone"]))
    assert response.status_code == 405
    assert _clear_phone(resident) not in response.content.decode()


# Adding and editing through the forms ------------------------------------------------------


def _valid_id(birth: date = date(1985, 6, 15), seq: int = 101) -> str:
    return make_id_number(REGION, birth, seq)  # seq 101: odd, male


def _bad_check_digit(number: str) -> str:
    wrong = "0" if check_digit(number[:17]) != "0" else "1"
    return number[:17] + wrong


def _household(grid_worker) -> Household:  # noqa: ANN001
    return Household.objects.filter(grid_id=grid_worker.area_id).order_by("pk").first()


def _counts() -> tuple[int, int]:
    return Resident.objects.count(), AuditEvent.objects.count()


NEW = {"name": "新居民", "relation": "self", "phone": "13912345678"}


@pytest.mark.parametrize(("change", "field"), [
    ({"id_number": _bad_check_digit(_valid_id())}, "id_number"),
    ({"id_number": "12345"}, "id_number"),
    ({"phone": "1381234567"}, "phone"),
    ({"phone": "电话号码"}, "phone"),
    ({"id_number": _valid_id(), "birth_date": "1985-06-16"}, "birth_date"),
    ({"id_number": _valid_id(), "gender": "F"}, "gender"),
    ({"name": "  "}, "name"),
    ({"name": "张??"}, "name"),
], ids=["check-digit", "length", "phone-short", "phone-chars", "birth-date", "gender",
        "blank-name", "broken-name"])
def test_new_resident_form_with_bad_input_shows_the_error_and_stores_nothing(
        city, grid_worker, change, field):
    client = make_client(grid_worker)
    before = _counts()
    response = client.post(reverse("residents:new", args=[_household(grid_worker).pk]),
                           {**NEW, "id_number": _valid_id(), **change})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors.get(field), form.errors
    assert "errorlist" in response.content.decode()
    assert _counts() == before


def test_new_resident_form_refuses_a_registered_id_number(city, grid_worker):
    other = city.resident_in(grid_worker.area)
    client = make_client(grid_worker)
    before = _counts()
    response = client.post(reverse("residents:new", args=[_household(grid_worker).pk]),
                           {**NEW, "id_number": _clear_id(other)})
    assert response.status_code == 200
    errors = response.context["form"].errors["id_number"]
    assert other.id_number_masked in " ".join(errors)
    assert _counts() == before


def test_new_resident_form_stores_sealed_data_and_a_masked_audit_record(city, grid_worker):
    household = _household(grid_worker)
    client = make_client(grid_worker)
    id_number = _valid_id()
    count = Resident.objects.count()
    response = client.post(reverse("residents:new", args=[household.pk]),
                           {**NEW, "id_number": id_number.lower(), "birth_date": "1985-06-15"})
    assert response.status_code == 302
    resident = Resident.objects.order_by("-pk").first()
    assert response["Location"] == reverse("residents:detail", args=[resident.pk])
    assert Resident.objects.count() == count + 1
    assert (resident.household_id, resident.grid_id) == (household.pk, grid_worker.area_id)
    assert (resident.gender, resident.birth_date) == ("M", date(1985, 6, 15))
    assert _clear_id(resident) == id_number
    assert _clear_phone(resident) == NEW["phone"]
    assert id_number not in resident.id_number_masked
    assert resident.phone_masked == "139****5678"
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.object_id) == (AuditAction.RESIDENT_CREATE, str(resident.pk))
    changes = json.dumps(event.changes, ensure_ascii=False)
    assert resident.phone_masked in changes and resident.id_number_masked in changes
    assert id_number not in changes and NEW["phone"] not in changes


def _edit_data(resident: Resident, **change) -> dict:  # noqa: ANN003
    return {"name": resident.name, "relation": resident.relation, "gender": resident.gender,
            "birth_date": resident.birth_date.isoformat() if resident.birth_date else "",
            "status": resident.status, "version": resident.version,
            "tags": [t.pk for t in resident.tags.all()], **change}


def test_edit_form_changes_phone_with_masked_audit_record(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    old_phone = _clear_phone(resident)
    client = make_client(grid_worker)
    response = client.post(reverse("residents:edit", args=[resident.pk]),
                           _edit_data(resident, phone="139 8765 4321"))
    assert response.status_code == 302
    fresh = Resident.objects.get(pk=resident.pk)
    assert _clear_phone(fresh) == "13987654321"
    assert fresh.version == resident.version + 1
    assert _clear_id(fresh) == _clear_id(resident)  # empty box: unchanged
    event = AuditEvent.objects.order_by("-id").first()
    assert event.action == AuditAction.RESIDENT_UPDATE
    assert event.changes["phone"] == [resident.phone_masked, fresh.phone_masked]
    changes = json.dumps(event.changes)
    assert old_phone not in changes and "13987654321" not in changes


def test_edit_form_with_stale_version_is_refused_and_nothing_saved(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    client = make_client(grid_worker)
    before = _counts()
    response = client.post(reverse("residents:edit", args=[resident.pk]),
                           _edit_data(resident, name="改了名字",
                                      version=resident.version - 1 or 99))
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    fresh = Resident.objects.get(pk=resident.pk)
    assert (fresh.name, fresh.version) == (resident.name, resident.version)
    assert _counts() == before


def test_edit_form_with_bad_phone_shows_the_error_and_saves_nothing(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    client = make_client(grid_worker)
    before = _counts()
    response = client.post(reverse("residents:edit", args=[resident.pk]),
                           _edit_data(resident, name="改了名字", phone="12345"))
    assert response.status_code == 200
    assert response.context["form"].errors["phone"]
    fresh = Resident.objects.get(pk=resident.pk)
    assert (fresh.name, fresh.version) == (resident.name, resident.version)
    assert _counts() == before


def test_edit_form_refuses_birth_date_contradicting_the_stored_id_number(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    client = make_client(grid_worker)
    wrong = resident.birth_date.replace(year=resident.birth_date.year - 1)
    response = client.post(reverse("residents:edit", args=[resident.pk]),
                           _edit_data(resident, birth_date=wrong.isoformat()))
    assert response.status_code == 200
    assert response.context["form"].errors["birth_date"]
    assert Resident.objects.get(pk=resident.pk).birth_date == resident.birth_date


def test_street_officer_cannot_post_the_edit_form(city, street_officer):
    resident = city.resident_in(street_officer.area)
    client = make_client(street_officer)
    before = _counts()
    response = client.post(reverse("residents:edit", args=[resident.pk]),
                           _edit_data(resident, name="改了名字"))
    assert response.status_code == 403
    assert Resident.objects.get(pk=resident.pk).name == resident.name
    assert _counts() == before


# Language -----------------------------------------------------------------------------------


def test_accept_language_en_gives_english(city, grid_worker):
    client = make_client(grid_worker)
    response = client.get(reverse("places:home"), HTTP_ACCEPT_LANGUAGE="en")
    body = response.content.decode()
    assert response["Content-Language"] == "en"
    assert '<html lang="en">' in body
    assert ">Residents<" in body
    assert ">居民<" not in body


def test_language_cookie_and_switch_give_english(city, grid_worker):
    client = make_client(grid_worker)
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert client.cookies["django_language"].value == "en"
    page = client.get(reverse("residents:list"), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert page["Content-Language"] == "en"
    assert '<html lang="en">' in page.content.decode()


def test_chinese_is_the_default_language(city, grid_worker):
    client = make_client(grid_worker)
    response = client.get(reverse("places:home"))
    assert response["Content-Language"] == "zh-hans"
    assert '<html lang="zh-hans">' in response.content.decode()


def test_chinese_interface_is_translated(city, grid_worker):
    client = make_client(grid_worker)
    body = client.get(reverse("places:home"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert ">居民<" in body
    assert ">Residents<" not in body


def test_area_buildings_are_listed_for_the_grid(city, grid_worker):
    """The grid page lists exactly the grid's buildings (and each has a link)."""
    client = make_client(grid_worker)
    response = client.get(reverse("places:area", args=[grid_worker.area_id]))
    shown = {b.pk for b in response.context["buildings"]}
    assert shown == set(Building.objects.filter(grid_id=grid_worker.area_id)
                        .values_list("pk", flat=True))
    body = response.content.decode()
    assert all(reverse("places:building", args=[pk]) in body for pk in shown)
