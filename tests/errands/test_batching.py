"""Batching: shopping lists per supplier (lines summed, prescriptions and unusual
quantities marked, households in walking order, cut past the cap, scoped to the errands
one handles, a fixed number of queries), where to buy set for many requests at once, and
garbage rounds (counts, the round's helper, idempotent pickups, helper-only access,
stopping a household)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from fangkong.errands import batching, services
from fangkong.errands.models import (
    Errand,
    ErrandEvent,
    ErrandStatus,
    GarbagePickup,
    GarbageRound,
    GarbageService,
)
from fangkong.errands.volunteers import volunteer_suspend
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
from tests.factories import field_messages

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture(autouse=True)
def pinned():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def homes(grid_worker):  # noqa: ANN001, ANN201
    """Residents of six households of the grid worker's grid."""
    return residents_of_households(grid_worker.area, 6)


def supplier_list(user, name: str, **kwargs) -> batching.SupplierList:  # noqa: ANN001, ANN003
    """The list of one supplier, its lines and households filled in."""
    shown = batching.shopping_lists(user, supplier=name, **kwargs).shown
    assert shown is not None and shown.supplier == name
    return shown


# Shopping lists ------------------------------------------------------------------------------


def test_same_name_strength_and_unit_are_summed(grid_worker, homes):  # noqa: ANN001
    ask(homes[0], grid_worker, line("阿莫西林胶囊", 2, strength="0.25g"), supplier="大药房")
    ask(homes[1], grid_worker, line("阿莫西林胶囊", 3, strength="0.25g"),
        line("阿莫西林胶囊", 1, strength="0.5g"), supplier="大药房")
    ask(homes[2], grid_worker, line("阿莫西林胶囊", 1, strength="0.25g", unit="瓶"),
        supplier="大药房")
    found = {(li.name, li.strength, li.unit): (li.quantity, li.errands)
             for li in supplier_list(grid_worker, "大药房").lines}
    assert found == {("阿莫西林胶囊", "0.25g", "盒"): (5, 2), ("阿莫西林胶囊", "0.5g", "盒"): (1, 1),
                     ("阿莫西林胶囊", "0.25g", "瓶"): (1, 1)}


def test_prescription_lines_are_marked_with_how_many_requests(grid_worker, homes):  # noqa: ANN001
    ask(homes[0], grid_worker, line("硝苯地平控释片", 1, rx=True), supplier="大药房")
    ask(homes[1], grid_worker, line("硝苯地平控释片", 2), supplier="大药房")
    ask(homes[2], grid_worker, line("维生素C", 1), supplier="大药房")
    lines = {li.name: li for li in supplier_list(grid_worker, "大药房").lines}
    assert (lines["硝苯地平控释片"].quantity, lines["硝苯地平控释片"].prescriptions) == (3, 1)
    assert lines["维生素C"].prescriptions == 0


def test_unusual_quantities_are_shown_with_their_flag_and_request(grid_worker, homes):  # noqa: ANN001
    flagged = ask(homes[0], grid_worker, line("布洛芬", 12), supplier="大药房")
    ask(homes[1], grid_worker, line("布洛芬", 1), supplier="大药房")
    (ibuprofen,) = supplier_list(grid_worker, "大药房").lines
    assert ibuprofen.quantity == 13
    assert [(f.errand_id, f.quantity) for f in ibuprofen.flagged] == [(flagged.pk, 12)]
    assert "more than usual" in ibuprofen.flagged[0].flag


def test_requests_are_grouped_by_supplier_with_the_unchosen_last(grid_worker, homes):  # noqa: ANN001
    ask(homes[0], grid_worker, supplier="")
    ask(homes[1], grid_worker, supplier="仁和药房")
    ask(homes[2], grid_worker, supplier="大药房")
    ask(homes[3], grid_worker, supplier="大药房")
    lists = batching.shopping_lists(grid_worker)
    assert [(s.supplier, s.errands, s.households) for s in lists.suppliers] == [
        ("仁和药房", 1, 1), ("大药房", 2, 2), ("", 1, 1)]
    assert lists.unchosen == 1
    assert lists.known_suppliers == ["仁和药房", "大药房"]


def test_one_supplier_is_shown_in_full_by_default_the_first(grid_worker, homes):  # noqa: ANN001
    unchosen = ask(homes[0], grid_worker, line("感冒灵"), supplier="")
    ask(homes[1], grid_worker, line("布洛芬"), supplier="仁和药房")
    first = batching.shopping_lists(grid_worker).shown
    assert first.supplier == "仁和药房" and [li.name for li in first.lines] == ["布洛芬"]
    assert batching.shopping_lists(grid_worker, supplier="不存在的药房").shown.supplier == "仁和药房"
    lists = batching.shopping_lists(grid_worker, supplier="")
    assert [s.errand_id for s in lists.shown.stops] == [unchosen.pk]
    assert [li.name for li in lists.shown.lines] == ["感冒灵"]
    others = [s for s in lists.suppliers if s is not lists.shown]
    assert others and all(not s.lines and not s.stops for s in others)


def test_two_requests_of_one_household_count_it_once(grid_worker, homes):  # noqa: ANN001
    ask(homes[0], grid_worker, supplier="大药房")
    ask(homes[0], grid_worker, supplier="大药房")
    (only,) = batching.shopping_lists(grid_worker).suppliers
    assert (only.errands, only.households, len(only.stops)) == (2, 1, 2)


def test_households_are_listed_in_walking_order(grid_worker, homes):  # noqa: ANN001
    made = {ask(r, grid_worker, supplier="大药房").pk: r.household for r in homes}
    stops = supplier_list(grid_worker, "大药房").stops
    walked = sorted(made, key=lambda pk: (made[pk].building.estate, made[pk].building.number,
                                          made[pk].unit, len(made[pk].room), made[pk].room))
    assert [s.errand_id for s in stops] == walked
    assert [s.label for s in stops] == [made[pk].label for pk in walked]
    assert walked != list(made)  # the households were asked for out of order


def test_rooms_are_walked_by_floor_not_by_text(grid_worker, homes):  # noqa: ANN001
    """Room "12001" is above "9502": text order would put it first."""
    low, high = homes[0].household, homes[1].household
    low.unit, low.room = 9, "9502"
    low.save(update_fields=["unit", "room"])
    high.building, high.unit, high.room = low.building, 9, "12001"
    high.save(update_fields=["building", "unit", "room"])
    first = ask(homes[1], grid_worker, supplier="大药房")
    second = ask(homes[0], grid_worker, supplier="大药房")
    stops = supplier_list(grid_worker, "大药房").stops
    assert [s.errand_id for s in stops] == [second.pk, first.pk]


def test_delivery_list_is_cut_per_supplier_and_says_how_many_more(grid_worker, homes):  # noqa: ANN001
    for resident in homes[:5]:
        ask(resident, grid_worker, supplier="大药房")
    ask(homes[5], grid_worker, supplier="仁和药房")
    big = supplier_list(grid_worker, "大药房", cap=2)
    small = supplier_list(grid_worker, "仁和药房", cap=2)
    assert (len(big.stops), big.stops_cut, big.errands) == (2, 3, 5)
    assert (len(small.stops), small.stops_cut) == (1, 0)


def test_stops_carry_masked_name_urgency_and_marks(grid_worker, homes):  # noqa: ANN001
    errand = ask(homes[0], grid_worker, supplier="大药房", urgency="urgent")
    Errand.objects.filter(pk=errand.pk).update(vulnerable=True, isolated=True)
    clock.advance(hours=3)
    (stop,) = supplier_list(grid_worker, "大药房").stops
    name = homes[0].name
    assert stop.name != name and stop.name[0] == name[0] and "*" in stop.name
    assert (stop.urgency, stop.vulnerable, stop.isolated, stop.overdue) == (
        "urgent", True, True, True)


def test_groceries_are_a_list_of_their_own(grid_worker, homes):  # noqa: ANN001
    ask(homes[0], grid_worker, line("大米", 10, unit="斤"), kind="groceries", supplier="超市")
    ask(homes[1], grid_worker, supplier="大药房")
    medicine = batching.shopping_lists(grid_worker)
    groceries = batching.shopping_lists(grid_worker, kind="groceries")
    assert [s.supplier for s in medicine.suppliers] == ["大药房"]
    assert [s.supplier for s in groceries.suppliers] == ["超市"]
    assert medicine.per_kind == groceries.per_kind == {"medicine": 1, "groceries": 1}


def test_default_is_what_is_still_to_be_bought(grid_worker, homes):  # noqa: ANN001
    buying = ask(homes[0], grid_worker, supplier="大药房")
    services.errand_assign(errand=buying, to=grid_worker, by=grid_worker)
    services.errand_advance(errand=buying, to=ErrandStatus.BUYING, by=grid_worker)
    on_the_way = ask(homes[1], grid_worker, supplier="大药房")
    services.errand_assign(errand=on_the_way, to=grid_worker, by=grid_worker)
    services.errand_advance(errand=on_the_way, to=ErrandStatus.DELIVERING, by=grid_worker)
    cancelled = ask(homes[2], grid_worker, supplier="大药房")
    services.errand_cancel(errand=cancelled, by=grid_worker)

    def shown(**kwargs) -> list[int]:  # noqa: ANN003
        return [s.errand_id for sl in batching.shopping_lists(grid_worker, **kwargs).suppliers
                for s in sl.stops]

    assert shown() == [buying.pk]
    assert shown(statuses=["delivering"]) == [on_the_way.pk]
    assert shown(statuses=["cancelled"]) == [buying.pk]  # not a list status: the default
    assert batching.parse_statuses(["new,buying", "nonsense"]) == ("new", "buying")
    assert batching.parse_statuses([]) == batching.TO_BUY


def test_lists_hold_only_the_errands_one_handles(grid_worker, other_grid_worker,  # noqa: ANN001
                                                 street_officer, community_secretary,
                                                 volunteer, homes):
    mine = ask(homes[0], grid_worker, supplier="大药房")
    (theirs_resident,) = residents_of_households(other_grid_worker.area, 1)
    theirs = ask(theirs_resident, other_grid_worker, supplier="大药房")

    def shown(user) -> set[int]:  # noqa: ANN001
        return {s.errand_id for sl in batching.shopping_lists(user).suppliers for s in sl.stops}

    assert shown(grid_worker) == {mine.pk}
    assert shown(other_grid_worker) == {theirs.pk}
    assert shown(community_secretary) == {mine.pk}  # the other grid is in another community
    assert shown(street_officer) == {mine.pk, theirs.pk}
    assert shown(volunteer) == set()


def test_lists_take_a_fixed_number_of_queries(grid_worker, homes):  # noqa: ANN001
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            lists = batching.shopping_lists(grid_worker)
            assert lists.suppliers
        return len(captured)

    ask(homes[0], grid_worker, line("布洛芬", 9), supplier="大药房")
    few = queries()
    for n, resident in enumerate(homes * 5):
        ask(resident, grid_worker, line("布洛芬", 9), line(f"药{n}", rx=True),
            supplier=f"药房{n % 3}")
    assert queries() == few == 4


# Where to buy, for many at once --------------------------------------------------------------


def test_supplier_is_set_for_the_ticked_requests_with_a_note_each(grid_worker, homes):  # noqa: ANN001
    a, b = ask(homes[0], grid_worker), ask(homes[1], grid_worker)
    untouched = ask(homes[2], grid_worker)
    assert batching.errands_set_supplier(errands=[a, b.pk], supplier="  仁和   药房 ",
                                         by=grid_worker) == 2
    assert set(Errand.objects.filter(supplier="仁和 药房").values_list("pk", flat=True)) == {
        a.pk, b.pk}
    assert Errand.objects.get(pk=untouched.pk).supplier == ""
    notes = ErrandEvent.objects.filter(what="note", errand__in=[a, b])
    assert sorted(notes.values_list("errand_id", "detail", "by_id")) == [
        (a.pk, "Where to buy: 仁和 药房", grid_worker.pk),
        (b.pk, "Where to buy: 仁和 药房", grid_worker.pk)]


def test_setting_the_same_supplier_again_changes_nothing(grid_worker, homes):  # noqa: ANN001
    a = ask(homes[0], grid_worker, supplier="大药房")
    b = ask(homes[1], grid_worker)
    assert batching.errands_set_supplier(errands=[a, b], supplier="大药房", by=grid_worker) == 1
    assert batching.errands_set_supplier(errands=[a, b], supplier="大药房", by=grid_worker) == 0
    assert ErrandEvent.objects.filter(what="note", errand__in=[a, b]).count() == 1


def test_supplier_can_be_cleared(grid_worker, homes):  # noqa: ANN001
    a = ask(homes[0], grid_worker, supplier="大药房")
    batching.errands_set_supplier(errands=[a], supplier="", by=grid_worker)
    assert Errand.objects.get(pk=a.pk).supplier == ""
    assert ErrandEvent.objects.filter(errand=a, what="note").get().detail == (
        "Where to buy: not chosen yet")


def test_setting_a_supplier_refuses_errands_outside_the_area(grid_worker,  # noqa: ANN001
                                                              other_grid_worker, homes):
    mine = ask(homes[0], grid_worker)
    (theirs_resident,) = residents_of_households(other_grid_worker.area, 1)
    theirs = ask(theirs_resident, other_grid_worker)
    with pytest.raises(PermissionDenied):
        batching.errands_set_supplier(errands=[mine, theirs], supplier="大药房", by=grid_worker)
    with pytest.raises(PermissionDenied):
        batching.errands_set_supplier(errands=[mine.pk, 10**9], supplier="大药房",
                                      by=grid_worker)
    assert set(Errand.objects.filter(pk__in=[mine.pk, theirs.pk])
               .values_list("supplier", flat=True)) == {""}
    assert not ErrandEvent.objects.filter(what="note").exists()


def test_setting_a_supplier_refuses_roles_without_errands(grid_worker, volunteer,  # noqa: ANN001
                                                           homes):
    errand = ask(homes[0], grid_worker)
    with pytest.raises(PermissionDenied):
        batching.errands_set_supplier(errands=[errand], supplier="大药房", by=volunteer)


def test_setting_a_supplier_refuses_what_is_no_longer_to_buy(grid_worker, homes):  # noqa: ANN001
    fresh = ask(homes[0], grid_worker)
    gone = ask(homes[1], grid_worker)
    services.errand_assign(errand=gone, to=grid_worker, by=grid_worker)
    services.errand_advance(errand=gone, to=ErrandStatus.DELIVERING, by=grid_worker)
    with pytest.raises(ValidationError) as excinfo:
        batching.errands_set_supplier(errands=[fresh, gone], supplier="大药房", by=grid_worker)
    assert f"#{gone.pk}" in field_messages(excinfo)["errands"]
    assert Errand.objects.get(pk=fresh.pk).supplier == ""


@pytest.mark.parametrize(("supplier", "errands", "field"), [
    ("大药房\x1b", None, "supplier"),
    ("药" * 61, None, "supplier"),
    ("大药房", [], "errands"),
])
def test_setting_a_supplier_refuses_bad_input(grid_worker, homes, supplier, errands,  # noqa: ANN001
                                              field):
    errand = ask(homes[0], grid_worker)
    with pytest.raises(ValidationError) as excinfo:
        batching.errands_set_supplier(errands=[errand] if errands is None else errands,
                                      supplier=supplier, by=grid_worker)
    assert field in field_messages(excinfo)
    assert Errand.objects.get(pk=errand.pk).supplier == ""


# Garbage rounds ------------------------------------------------------------------------------


@pytest.fixture
def served(grid_worker):  # noqa: ANN001, ANN201
    """The garbage services of two households in each of two buildings of the grid."""
    return [garbage_for(r, grid_worker) for r in residents_of_buildings(grid_worker.area)]


def test_buildings_show_households_and_todays_progress(grid_worker, served):  # noqa: ANN001
    batching.garbage_pickup_record(service=served[0], by=grid_worker)
    batching.garbage_pickup_record(service=served[1], by=grid_worker, missed=True)
    rows = {r.building.pk: r for r in batching.garbage_buildings(grid_worker)}
    per_building: dict[int, int] = {}
    for service in served:
        per_building[service.building_id] = per_building.get(service.building_id, 0) + 1
    assert {pk: r.households for pk, r in rows.items()} == per_building
    assert sum(r.done for r in rows.values()) == 1
    assert sum(r.missed for r in rows.values()) == 1
    assert sum(r.waiting for r in rows.values()) == 2


def test_yesterdays_pickups_and_stopped_services_do_not_count_today(grid_worker,  # noqa: ANN001
                                                                     served):
    GarbagePickup.objects.create(service=served[0], day=TODAY - timedelta(days=1),
                                 done_at=NOW - timedelta(days=1), by=grid_worker)
    GarbageService.objects.filter(pk=served[1].pk).update(ends_on=TODAY - timedelta(days=1))
    rows = batching.garbage_buildings(grid_worker)
    assert sum(r.households for r in rows) == 3
    assert sum(r.done for r in rows) == 0


def test_round_is_late_once_its_time_has_passed(grid_worker, served):  # noqa: ANN001
    building = Building.objects.get(pk=served[0].building_id)
    batching.garbage_round_set(building=building, at=time(8, 30), helper=None, by=grid_worker)
    row = next(r for r in batching.garbage_buildings(grid_worker) if r.building.pk == building.pk)
    assert row.late and row.round.at == time(8, 30)
    GarbageRound.objects.filter(building=building).update(at=time(10, 0))
    row = next(r for r in batching.garbage_buildings(grid_worker) if r.building.pk == building.pk)
    assert not row.late


def test_buildings_of_another_grid_are_not_listed(grid_worker, other_grid_worker,  # noqa: ANN001
                                                  street_officer, served):
    assert batching.garbage_buildings(other_grid_worker) == []
    assert {r.building.pk for r in batching.garbage_buildings(street_officer)} == {
        s.building_id for s in served}


def test_garbage_buildings_take_a_fixed_number_of_queries(grid_worker, homes):  # noqa: ANN001
    garbage_for(homes[0], grid_worker)
    with CaptureQueriesContext(connection) as few:
        batching.garbage_buildings(grid_worker)
    for resident in residents_of_households(grid_worker.area, 40)[1:]:
        garbage_for(resident, grid_worker)
    with CaptureQueriesContext(connection) as many:
        assert len({r.building.pk for r in batching.garbage_buildings(grid_worker)}) > 1
    assert len(many) == len(few) == 2


def test_pickups_are_idempotent_and_missed_can_become_collected(grid_worker, served):  # noqa: ANN001
    service = served[0]
    first = batching.garbage_pickup_record(service=service, by=grid_worker, missed=True)
    again = batching.garbage_pickup_record(service=service, by=grid_worker, missed=True)
    assert again.pk == first.pk and again.missed
    clock.advance(minutes=40)
    done = batching.garbage_pickup_record(service=service, by=grid_worker)
    assert not done.missed and done.done_at == clock.now()
    later = batching.garbage_pickup_record(service=service, by=grid_worker, missed=True)
    assert not later.missed and later.done_at == done.done_at
    assert GarbagePickup.objects.filter(service=service).count() == 1
    clock.advance(days=1)
    batching.garbage_pickup_record(service=service, by=grid_worker)
    assert GarbagePickup.objects.filter(service=service).count() == 2


def test_pickups_of_a_stopped_service_are_refused(grid_worker, served):  # noqa: ANN001
    GarbageService.objects.filter(pk=served[0].pk).update(ends_on=TODAY - timedelta(days=1))
    served[0].refresh_from_db()
    with pytest.raises(ValidationError):
        batching.garbage_pickup_record(service=served[0], by=grid_worker)


@pytest.fixture
def helper(make_volunteer):  # noqa: ANN001, ANN201
    """A verified volunteer of the grid worker's community."""
    return make_volunteer()


@pytest.fixture
def building(grid_worker, served, helper):  # noqa: ANN001, ANN201
    """The building of the first service, its round collected by the volunteer."""
    building = Building.objects.get(pk=served[0].building_id)
    batching.garbage_round_set(building=building, at=time(8, 0), helper=helper.user,
                               by=grid_worker)
    return building


def test_the_helper_records_pickups_of_their_round_only(grid_worker, served, helper,  # noqa: ANN001
                                                        building):
    mine = [s for s in served if s.building_id == building.pk]
    others = [s for s in served if s.building_id != building.pk]
    assert batching.garbage_pickup_record(service=mine[0], by=helper.user).by == helper.user
    for service in others:
        with pytest.raises(PermissionDenied):
            batching.garbage_pickup_record(service=service, by=helper.user)


def test_the_helper_cannot_stop_a_service_or_set_the_round(helper, building, served):  # noqa: ANN001
    with pytest.raises(PermissionDenied):
        batching.garbage_service_stop(service=served[0], by=helper.user)
    with pytest.raises(PermissionDenied):
        batching.garbage_round_set(building=building, at=time(9, 0), helper=helper.user,
                                   by=helper.user)


def test_a_worker_of_another_grid_records_nothing(other_grid_worker, served):  # noqa: ANN001
    with pytest.raises(PermissionDenied):
        batching.garbage_pickup_record(service=served[0], by=other_grid_worker)
    with pytest.raises(PermissionDenied):
        batching.garbage_service_stop(service=served[0], by=other_grid_worker)
    assert not GarbagePickup.objects.exists()


def test_round_access_helper_sees_only_their_round_without_names(grid_worker,  # noqa: ANN001
                                                                  other_grid_worker, helper,
                                                                  building, volunteer, served):
    access = batching.round_for_user(helper.user, building.pk)
    assert not access.as_worker
    assert batching.round_for_user(grid_worker, building.pk).as_worker
    for user in (other_grid_worker, volunteer):
        with pytest.raises(Http404):
            batching.round_for_user(user, building.pk)
    other = next(s.building_id for s in served if s.building_id != building.pk)
    with pytest.raises(Http404):
        batching.round_for_user(helper.user, other)
    stops = batching.round_stops(building, with_names=False)
    assert stops and all(s.name == "" for s in stops)
    assert all(s.name for s in batching.round_stops(building, with_names=True))
    assert [r.building.pk for r in batching.garbage_buildings(helper.user)] == [building.pk]


def test_a_suspended_volunteer_loses_the_round(community_secretary, helper, building,  # noqa: ANN001
                                               served):
    volunteer_suspend(volunteer=helper, by=community_secretary, reason="不再参加")
    helper.user.refresh_from_db()
    with pytest.raises(Http404):
        batching.round_for_user(helper.user, building.pk)
    with pytest.raises(PermissionDenied):
        batching.garbage_pickup_record(service=served[0], by=helper.user)


def test_round_stops_are_in_walking_order(grid_worker, homes):  # noqa: ANN001
    building_homes = [r for r in residents_of_households(grid_worker.area, 40)
                      if r.household.building_id == homes[0].household.building_id][:6]
    services_ = [garbage_for(r, grid_worker) for r in building_homes]
    stops = batching.round_stops(Building.objects.get(pk=homes[0].household.building_id),
                                 with_names=True)
    by_pk = {s.pk: s.household for s in services_}
    walked = sorted(by_pk, key=lambda pk: (by_pk[pk].unit, len(by_pk[pk].room),
                                           by_pk[pk].room))
    assert [s.service_id for s in stops] == walked


def test_round_helper_must_be_one_who_may_take_the_errands(grid_worker, other_grid_worker,  # noqa: ANN001
                                                           make_volunteer, served):
    building = Building.objects.get(pk=served[0].building_id)
    waiting = make_volunteer(verified=False, phone="13900000077")
    for user in (other_grid_worker, waiting.user) if waiting.user else (other_grid_worker,):
        with pytest.raises(ValidationError) as excinfo:
            batching.garbage_round_set(building=building, at=time(8, 0), helper=user,
                                       by=grid_worker)
        assert "helper" in field_messages(excinfo)
    assert not GarbageRound.objects.filter(building=building).exists()
    colleague = batching.garbage_round_set(building=building, at=time(7, 45, 30),
                                           helper=grid_worker, by=grid_worker)
    changed = batching.garbage_round_set(building=building, at=time(18, 0), helper=None,
                                         by=grid_worker)
    assert changed.pk == colleague.pk
    assert (changed.at, changed.helper, changed.community_id) == (
        time(18, 0), None, building.community_id)


def test_stopping_a_service_keeps_today_and_notes_the_errand(grid_worker, served):  # noqa: ANN001
    service = served[0]
    batching.garbage_service_stop(service=service, by=grid_worker)
    service.refresh_from_db()
    assert service.ends_on == TODAY
    assert batching.garbage_service_stop(service=service, by=grid_worker).ends_on == TODAY
    assert ErrandEvent.objects.filter(errand_id=service.errand_id, what="note").count() == 1
    building = Building.objects.get(pk=service.building_id)
    today = [s for s in batching.round_stops(building, with_names=True)
             if s.service_id == service.pk]
    assert today[0].ends_on == TODAY
    clock.advance(days=1)
    assert service.pk not in {s.service_id for s in batching.round_stops(building,
                                                                          with_names=True)}
