"""The registry's write services: validation per field, sealing, duplicates, moves between
grids with exact area figures, and refusal outside the actor's area."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404

from fangkong.accounts.models import User
from fangkong.audit.models import AuditAction, AuditEvent
from fangkong.lib import crypto
from fangkong.lib.idcard import check_digit, make_id_number
from fangkong.places.models import Area, AreaKind, AreaStats, Household
from fangkong.residents.models import Proxy, Resident, ResidentStatus
from fangkong.residents.personal import seal_id_number
from fangkong.residents.services import (
    ResidentInput,
    proxy_add,
    resident_create,
    resident_reveal,
    resident_update,
)
from tests.factories import field_messages

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

REGION = "650102"  # not used by the synthetic city


def _id(birth: date = date(1975, 3, 9), seq: int = 31) -> str:
    return make_id_number(REGION, birth, seq)


def _household(user: User) -> Household:
    return Household.objects.filter(grid_id=user.area_id).order_by("pk").first()


def _create(by: User, **fields) -> Resident:  # noqa: ANN003
    data = {"household": _household(by), "name": "测试人", "relation": "self",
            "id_number": _id(), "phone": "13911112222", **fields}
    return resident_create(by=by, data=ResidentInput(**data))


def _written() -> tuple[int, int, int]:
    return Resident.objects.count(), AuditEvent.objects.count(), Proxy.objects.count()


# Create ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"name": ""}, "name", "name"),
    ({"name": "x" * 65}, "name", "too long"),
    ({"name": "王\ufffd"}, "name", "broken characters"),
    ({"id_number": _id()[:17] + ("0" if check_digit(_id()[:17]) != "0" else "1")},
     "id_number", "check digit"),
    ({"id_number": "12345"}, "id_number", "expected 18"),
    ({"id_number": "99" + _id()[2:]}, "id_number", "province"),
    ({"phone": "1381234567"}, "phone", "11"),
    ({"phone": "85551234"}, "phone", "area code"),
    ({"birth_date": date(1975, 3, 10)}, "birth_date", "1975-03-09"),
    ({"gender": "F"}, "gender", "does not match"),
    ({"id_number": "", "birth_date": date(2999, 1, 1)}, "birth_date", "future"),
    ({"relation": "cousin"}, "relation", "not a valid"),
    ({"preferred_channel": "fax"}, "preferred_channel", "not a valid"),
    ({"status": "lost"}, "status", "not a valid"),
    ({"language_note": "x" * 65}, "language_note", "at most 64"),
], ids=["blank-name", "long-name", "broken-name", "check-digit", "id-length", "province",
        "mobile-length", "no-area-code", "birth-vs-id", "gender-vs-id", "future-birth",
        "relation", "channel", "status", "language-note"])
def test_resident_create_refuses_bad_field_with_its_message(grid_worker, fields, field, words):
    before = _written()
    with pytest.raises(ValidationError) as excinfo:
        _create(grid_worker, **fields)
    errors = field_messages(excinfo)
    assert field in errors, errors
    assert words.lower() in errors[field].lower(), errors[field]
    assert _written() == before


def test_resident_create_reports_every_bad_field_at_once(grid_worker):
    with pytest.raises(ValidationError) as excinfo:
        _create(grid_worker, name="", id_number="123", phone="abc")
    assert {"name", "id_number", "phone"} <= set(excinfo.value.message_dict)


def test_resident_create_without_household_is_refused(grid_worker):
    with pytest.raises(ValidationError) as excinfo:
        resident_create(by=grid_worker, data=ResidentInput(name="无家", relation="self"))
    assert "household" in excinfo.value.message_dict


def test_resident_create_seals_id_and_phone_and_takes_gender_and_birth_from_the_id(
        grid_worker):
    grid_stats = AreaStats.objects.get(area_id=grid_worker.area_id).residents
    resident = _create(grid_worker, phone="+86 139-1111-2222")
    resident.refresh_from_db()
    assert crypto.unseal(bytes(resident.id_number_sealed), purpose="id_number") == _id()
    assert crypto.unseal(bytes(resident.phone_sealed), purpose="phone") == "13911112222"
    assert resident.phone_masked == "139****2222"
    assert resident.phone_last4 == "2222"
    assert (resident.gender, resident.birth_date) == ("M", date(1975, 3, 9))
    assert resident.id_number_index == seal_id_number(_id()).index
    assert resident.name_initials
    assert (resident.district_id, resident.street_id, resident.community_id,
            resident.grid_id) == (grid_worker.area.parent.parent.parent_id,
                                  grid_worker.area.parent.parent_id,
                                  grid_worker.area.parent_id, grid_worker.area_id)
    assert AreaStats.objects.get(area_id=grid_worker.area_id).residents == grid_stats + 1
    event = AuditEvent.objects.order_by("-id").first()
    assert event.action == AuditAction.RESIDENT_CREATE
    assert _id() not in json.dumps(event.changes)
    assert "13911112222" not in json.dumps(event.changes)


def test_fifteen_digit_id_number_is_converted_to_eighteen(grid_worker):
    eighteen = _id(date(1975, 3, 9), 31)
    fifteen = eighteen[:6] + eighteen[8:17]  # drop the century and the check digit
    resident = _create(grid_worker, id_number=fifteen)
    assert crypto.unseal(bytes(resident.id_number_sealed), purpose="id_number") == eighteen
    assert resident.birth_date == date(1975, 3, 9)
    assert resident.id_number_masked.endswith(eighteen[-4:])
    assert len(resident.id_number_masked) == 18


def test_duplicate_id_number_is_refused_also_when_typed_the_old_way(grid_worker):
    first = _create(grid_worker)
    before = _written()
    eighteen = _id()
    for typed in (eighteen, eighteen[:6] + eighteen[8:17], " " + eighteen.lower() + " "):
        with pytest.raises(ValidationError) as excinfo:
            _create(grid_worker, name="另一人", phone="13933334444", id_number=typed)
        assert first.id_number_masked in field_messages(excinfo)["id_number"]
    assert _written() == before


def test_database_refuses_two_residents_with_one_id_number(grid_worker):
    """The unique index holds even when two registrations race past the service's check."""
    household = _household(grid_worker)
    sealed = seal_id_number(_id())

    def row() -> Resident:
        resident = Resident(household=household, name="竞争", name_initials="jz",
                            id_number_sealed=sealed.sealed, id_number_index=sealed.index,
                            id_number_masked=sealed.masked)
        resident.copy_scope_from(household)
        return resident

    row().save()
    with pytest.raises(IntegrityError), transaction.atomic():
        row().save()
    assert Resident.objects.filter(id_number_index=sealed.index).count() == 1


def test_database_refuses_sealed_id_number_without_its_index(grid_worker):
    household = _household(grid_worker)
    resident = Resident(household=household, name="半截", name_initials="bj",
                        id_number_sealed=seal_id_number(_id()).sealed)
    resident.copy_scope_from(household)
    with pytest.raises(IntegrityError), transaction.atomic():
        resident.save()


def test_role_without_edit_cannot_create(street_officer):
    household = _household_in(street_officer.area)
    before = _written()
    with pytest.raises(PermissionDenied):
        resident_create(by=street_officer, data=ResidentInput(
            household=household, name="测试人", relation="self"))
    assert _written() == before


def _household_in(area: Area) -> Household:
    return Household.objects.filter(**{f"{area.kind}_id": area.pk}).order_by("pk").first()


# Update ----------------------------------------------------------------------------------


def test_resident_update_records_masked_before_and_after_and_bumps_version(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    updated = resident_update(by=grid_worker, resident=resident, version=resident.version,
                              data=ResidentInput(phone="13955556666", remarks="腿脚不便"))
    assert updated.version == resident.version + 1
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.object_id) == (AuditAction.RESIDENT_UPDATE, str(resident.pk))
    assert event.changes["phone"] == [resident.phone_masked, "139****6666"]
    assert event.changes["remarks"] == ["", "腿脚不便"]
    assert "13955556666" not in json.dumps(event.changes)


def test_resident_update_without_change_writes_nothing(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    before = _written()
    same = resident_update(by=grid_worker, resident=resident, version=resident.version,
                           data=ResidentInput(name=resident.name))
    assert same.version == resident.version
    assert _written() == before


def test_resident_update_of_stale_version_is_refused(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    resident_update(by=grid_worker, resident=resident, version=resident.version,
                    data=ResidentInput(remarks="第一次"))
    before = _written()
    with pytest.raises(ValidationError) as excinfo:
        resident_update(by=grid_worker, resident=resident, version=resident.version,
                        data=ResidentInput(remarks="第二次"))
    assert "Someone else changed" in field_messages(excinfo)["__all__"]
    assert Resident.objects.get(pk=resident.pk).remarks == "第一次"
    assert _written() == before


def test_resident_update_to_a_registered_id_number_is_refused(city, grid_worker):
    first, second = Resident.objects.filter(
        grid_id=grid_worker.area_id, id_number_index__isnull=False).order_by("pk")[:2]
    taken = crypto.unseal(bytes(first.id_number_sealed), purpose="id_number")
    with pytest.raises(ValidationError) as excinfo:
        resident_update(by=grid_worker, resident=second, data=ResidentInput(id_number=taken))
    assert first.id_number_masked in field_messages(excinfo)["id_number"]
    assert Resident.objects.get(pk=second.pk).id_number_index == second.id_number_index


def test_moving_out_is_audited_as_such_and_drops_out_of_the_figures(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    counted = AreaStats.objects.get(area_id=grid_worker.area_id).residents
    resident_update(by=grid_worker, resident=resident,
                    data=ResidentInput(status=ResidentStatus.MOVED_OUT))
    assert AuditEvent.objects.order_by("-id").first().action == AuditAction.RESIDENT_MOVE_OUT
    assert AreaStats.objects.get(area_id=grid_worker.area_id).residents == counted - 1


@pytest.mark.parametrize("field", ["birth_date", "gender"])
def test_resident_update_refuses_birth_date_or_gender_contradicting_the_stored_id(
        city, grid_worker, field):
    resident = city.resident_in(grid_worker.area)
    wrong = {"birth_date": resident.birth_date.replace(year=resident.birth_date.year - 1),
             "gender": "F" if resident.gender == "M" else "M"}[field]
    with pytest.raises(ValidationError) as excinfo:
        resident_update(by=grid_worker, resident=resident,
                        data=ResidentInput(**{field: wrong}))
    assert field in excinfo.value.message_dict


def _counts_by_area() -> dict[int, int]:
    return dict(AreaStats.objects.values_list("area_id", "residents"))


def test_move_to_a_household_in_another_grid_updates_scope_columns_and_both_grids(city):
    root = User.objects.create_superuser(username="svc_root", password=None)
    streets = city.areas(AreaKind.STREET)
    resident = city.resident_in(streets[0])
    target = _household_in(streets[1])
    old = {k: getattr(resident, f"{k}_id") for k in ("district", "street", "community",
                                                     "grid")}
    figures = _counts_by_area()
    resident_update(by=root, resident=resident, data=ResidentInput(household=target),
                    version=resident.version)
    moved = Resident.objects.get(pk=resident.pk)
    assert moved.household_id == target.pk
    assert (moved.district_id, moved.street_id, moved.community_id, moved.grid_id) == (
        target.district_id, target.street_id, target.community_id, target.grid_id)
    after = _counts_by_area()
    for kind in ("street", "community", "grid"):
        assert after[old[kind]] == figures[old[kind]] - 1, kind
        new_area = getattr(target, f"{kind}_id")
        assert after[new_area] == figures[new_area] + 1, kind
    assert after[old["district"]] == figures[old["district"]]
    assert after[city.root.pk] == figures[city.root.pk]
    event = AuditEvent.objects.order_by("-id").first()
    assert event.changes["household"][1].startswith(target.label)
    assert event.area_path == target.grid.path


def test_grid_worker_cannot_move_a_resident_into_another_grid(
        city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    target = Household.objects.exclude(grid_id=grid_worker.area_id).order_by("pk").first()
    before = _written()
    with pytest.raises(Http404):
        resident_update(by=grid_worker, resident=resident,
                        data=ResidentInput(household=target))
    assert Resident.objects.get(pk=resident.pk).household_id == resident.household_id
    assert _written() == before


# Outside the area --------------------------------------------------------------------------


def test_services_refuse_a_resident_outside_the_actors_area_and_write_nothing(
        city, grid_worker):
    stranger = city.resident_outside(grid_worker.area)
    before = _written()
    with pytest.raises(Http404):
        resident_update(by=grid_worker, resident=stranger, data=ResidentInput(name="越界"))
    with pytest.raises(Http404):
        resident_create(by=grid_worker, data=ResidentInput(
            household=stranger.household, name="越界", relation="self"))
    with pytest.raises(Http404):
        proxy_add(by=grid_worker, resident=stranger, name="女儿", relation="女儿",
                  phone="13977778888")
    assert _written() == before
    fresh = Resident.objects.get(pk=stranger.pk)
    assert (fresh.name, fresh.version) == (stranger.name, stranger.version)


def test_reveal_of_a_resident_outside_the_actors_area_raises_not_found(city, grid_worker):
    stranger = city.resident_outside(grid_worker.area)
    before = _written()
    with pytest.raises(Http404):
        resident_reveal(by=grid_worker, resident=stranger, what="phone")
    assert _written() == before


# Reveal -----------------------------------------------------------------------------------


def test_reveal_returns_clear_value_and_appends_one_audit_event(city, community_secretary):
    resident = city.resident_in(community_secretary.area)
    events = AuditEvent.objects.count()
    phone = resident_reveal(by=community_secretary, resident=resident, what="phone", ip="::1")
    id_number = resident_reveal(by=community_secretary, resident=resident, what="id_number")
    assert phone == crypto.unseal(bytes(resident.phone_sealed), purpose="phone")
    assert id_number == crypto.unseal(bytes(resident.id_number_sealed), purpose="id_number")
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))[events:]
    assert actions == [AuditAction.REVEAL_PHONE, AuditAction.REVEAL_ID_NUMBER]


@pytest.mark.parametrize(("persona", "what"), [
    ("grid_worker", "id_number"), ("street_officer", "id_number"),
])
def test_reveal_without_the_permission_is_refused_and_not_audited(city, persona, what):
    user = city.persona(persona)
    resident = city.resident_in(user.area)
    events = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        resident_reveal(by=user, resident=resident, what=what)
    assert AuditEvent.objects.count() == events


def test_reveal_of_a_missing_phone_is_empty_and_not_audited(grid_worker):
    resident = _create(grid_worker, phone="")
    events = AuditEvent.objects.count()
    assert resident_reveal(by=grid_worker, resident=resident, what="phone") == ""
    assert AuditEvent.objects.count() == events


# Proxies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"name": " "}, "proxy_name", "name"),
    ({"relation": ""}, "proxy_relation", "related"),
    ({"phone": "123"}, "proxy_phone", "digits"),
], ids=["name", "relation", "phone"])
def test_proxy_add_refuses_bad_field_with_its_message(city, grid_worker, fields, field, words):
    resident = city.resident_in(grid_worker.area)
    before = _written()
    with pytest.raises(ValidationError) as excinfo:
        proxy_add(by=grid_worker, resident=resident,
                  **{"name": "李芳", "relation": "女儿", "phone": "13977778888", **fields})
    errors = field_messages(excinfo)
    assert words in errors[field].lower(), errors
    assert _written() == before


def test_proxy_add_stores_sealed_phone_and_audits_it_masked(city, grid_worker):
    resident = city.resident_in(grid_worker.area)
    proxy = proxy_add(by=grid_worker, resident=resident, name=" 李 芳 ", relation="女儿",
                      phone="139 7777 8888")
    proxy.refresh_from_db()
    assert proxy.name == "李 芳"
    assert crypto.unseal(bytes(proxy.phone_sealed), purpose="phone") == "13977778888"
    assert proxy.phone_masked == "139****8888"
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.object_id) == (AuditAction.RESIDENT_UPDATE, str(resident.pk))
    assert "139****8888" in event.changes["proxy"][1]
    assert "13977778888" not in json.dumps(event.changes)


# Review findings -----------------------------------------------------------------------


def test_duplicate_id_number_outside_the_area_is_refused_without_saying_whose(city, grid_worker):
    outside = city.resident_outside(grid_worker.area)
    taken = crypto.unseal(bytes(outside.id_number_sealed), purpose="id_number")
    before = _written()
    with pytest.raises(ValidationError) as excinfo:
        _create(grid_worker, id_number=taken)
    message = field_messages(excinfo)["id_number"]
    assert "another area" in message
    assert outside.name not in message and outside.id_number_masked not in message
    assert _written()[0] == before[0]
    # The attempt itself is on record, with the number masked and nothing about the other.
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.actor_id, event.object_label) == (
        AuditAction.ID_NUMBER_CLASH, grid_worker.pk, outside.id_number_masked)
    assert event.area_path == grid_worker.area.path


@pytest.mark.parametrize(("field", "value"), [
    ("name", "王\x00芳"), ("name", "王\ud800"), ("remarks", "needs\x00help"),
    ("language_note", "武汉话\x1b"), ("remarks", "坏\ud83d"),
])
def test_text_that_cannot_be_stored_is_refused_with_its_field(grid_worker, field, value):
    before = _written()
    with pytest.raises(ValidationError) as excinfo:
        _create(grid_worker, **{field: value})
    assert field in excinfo.value.message_dict
    assert _written() == before


def test_remarks_may_have_several_lines(grid_worker):
    resident = _create(grid_worker, remarks="第一行\n第二行\t备注")
    assert resident.remarks == "第一行\n第二行\t备注"


def test_staff_create_by_a_grid_worker_is_refused(city, grid_worker):
    from fangkong.accounts.services import staff_create

    with pytest.raises(PermissionDenied):
        staff_create(username="newbie", password="x" * 12, role="grid_worker",
                     area=grid_worker.area, by=grid_worker, check_password=False)


def test_staff_create_by_a_secretary_outside_their_area_is_not_found(city,
                                                                     community_secretary):
    from fangkong.accounts.services import staff_create

    other = Area.objects.filter(kind=AreaKind.GRID).exclude(
        parent=community_secretary.area).first()
    with pytest.raises(Http404):
        staff_create(username="newbie", password="x" * 12, role="grid_worker", area=other,
                     by=community_secretary, check_password=False)
    own = Area.objects.filter(kind=AreaKind.GRID, parent=community_secretary.area).first()
    user = staff_create(username="newbie", password="x" * 12, role="grid_worker", area=own,
                        by=community_secretary, check_password=False)
    assert user.area == own
