"""The area tree, buildings and households, and the figures rolled up for every area."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from fangkong.places.models import Area, AreaKind, AreaStats, Building, Household
from fangkong.places.services import (
    ELDERLY_AGE,
    area_create,
    building_create,
    household_create,
    stats_refresh,
)
from fangkong.residents.models import Resident, ResidentStatus
from tests.factories import field_messages

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

FIGURES = ("residents", "households", "buildings", "elderly", "by_tag")


# Areas --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [AreaKind.DISTRICT, AreaKind.STREET, AreaKind.GRID])
def test_only_a_city_can_be_at_the_root(city, kind):
    before = Area.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        area_create(kind=kind, name="无上级", parent=None)
    assert "Only a city" in field_messages(excinfo)["parent"]
    assert Area.objects.count() == before


def test_a_city_can_be_created_at_the_root(city):
    other = area_create(kind=AreaKind.CITY, name="宜昌市", parent=None, code="420500")
    assert (other.path, other.depth, other.parent_id) == ("420500", 0, None)
    assert AreaStats.objects.filter(area=other).exists()


def test_database_refuses_a_root_that_is_not_a_city(city):
    with pytest.raises(IntegrityError), transaction.atomic():
        Area.objects.create(kind=AreaKind.DISTRICT, name="孤儿区", path="999999", depth=1)


@pytest.mark.parametrize(("parent_kind", "kind", "expected_child"), [
    (AreaKind.CITY, AreaKind.STREET, "District"),
    (AreaKind.DISTRICT, AreaKind.COMMUNITY, "Street"),
    (AreaKind.STREET, AreaKind.GRID, "Community"),
    (AreaKind.COMMUNITY, AreaKind.STREET, "Grid"),
    (AreaKind.GRID, AreaKind.GRID, ""),  # a grid has no areas below it
])
def test_child_kind_must_be_the_next_level(city, parent_kind, kind, expected_child):
    parent = city.areas(parent_kind)[0]
    before = Area.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        area_create(kind=kind, name="错层", parent=parent)
    errors = field_messages(excinfo)
    assert set(errors) <= {"kind", "parent"} and errors, errors
    message = " ".join(errors.values())
    assert (expected_child or "grid").lower() in message.lower(), message
    assert Area.objects.count() == before


def test_area_name_is_required(city):
    with pytest.raises(ValidationError) as excinfo:
        area_create(kind=AreaKind.COMMUNITY, name="   ", parent=city.areas(AreaKind.STREET)[0])
    assert "name" in field_messages(excinfo)


def test_new_area_is_numbered_after_its_siblings_with_empty_figures(city):
    street = city.areas(AreaKind.STREET)[0]
    siblings = Area.objects.filter(parent=street).count()
    community = area_create(kind=AreaKind.COMMUNITY, name=" 新建社区 ", parent=street)
    assert community.name == "新建社区"
    assert community.path == f"{street.path}.{siblings + 1:03d}"
    assert community.depth == 3
    grid = area_create(kind=AreaKind.GRID, name="第1网格", parent=community)
    assert grid.path == f"{community.path}.01"
    stats = AreaStats.objects.get(area=grid)
    assert (stats.residents, stats.households, stats.buildings) == (0, 0, 0)


def test_district_takes_its_official_code_as_path_segment_and_refuses_a_duplicate(city):
    district = area_create(kind=AreaKind.DISTRICT, name="新区", parent=city.root,
                           code="420199")
    assert district.path == f"{city.root.path}.420199"
    before = Area.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        area_create(kind=AreaKind.DISTRICT, name="又一个", parent=city.root, code="420199")
    assert "already exists" in field_messages(excinfo)["code"]
    assert Area.objects.count() == before


# Buildings and households -------------------------------------------------------------------


def test_building_copies_the_scope_of_its_grid_and_counts_in_the_figures(city, grid_worker):
    grid = grid_worker.area
    counted = {a: AreaStats.objects.get(area=a).buildings
               for a in (grid.pk, grid.parent_id, city.root.pk)}
    building = building_create(grid=grid, number=901, estate="新苑", floors=18, units=2)
    assert building.name == "901栋"
    assert (building.district_id, building.street_id, building.community_id,
            building.grid_id) == (grid.parent.parent.parent_id, grid.parent.parent_id,
                                  grid.parent_id, grid.pk)
    for area_id, n in counted.items():
        assert AreaStats.objects.get(area_id=area_id).buildings == n + 1


@pytest.mark.parametrize(("number", "words"), [(0, "1 or more"), (-3, "1 or more")])
def test_building_number_must_be_positive(city, grid_worker, number, words):
    with pytest.raises(ValidationError) as excinfo:
        building_create(grid=grid_worker.area, number=number)
    assert words in field_messages(excinfo)["number"]


def test_building_number_is_unique_in_its_estate(city, grid_worker):
    building_create(grid=grid_worker.area, number=902, estate="新苑")
    before = Building.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        building_create(grid=grid_worker.area, number=902, estate="新苑")
    assert "902" in field_messages(excinfo)["number"]
    assert Building.objects.count() == before
    other_estate = building_create(grid=grid_worker.area, number=902, estate="旧苑")
    assert other_estate.pk


def test_building_belongs_to_a_grid(city):
    community = city.areas(AreaKind.COMMUNITY)[0]
    before = Building.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        building_create(grid=community, number=903)
    assert "grid" in field_messages(excinfo)
    assert Building.objects.count() == before


def test_household_gets_its_label_and_scope_and_counts_in_the_figures(city, grid_worker):
    building = building_create(grid=grid_worker.area, number=904, name="4号楼")
    counted = AreaStats.objects.get(area_id=grid_worker.area_id).households
    household = household_create(building=building, unit=2, room=" 501 ")
    assert household.label == "4号楼2单元501"
    assert household.room == "501"
    assert household.grid_id == grid_worker.area_id
    assert household.street_id == building.street_id
    assert AreaStats.objects.get(area_id=grid_worker.area_id).households == counted + 1


@pytest.mark.parametrize(("unit", "room", "field", "words"), [
    (1, "  ", "room", "room number"),
    (0, "101", "unit", "1 to 99"),
    (100, "101", "unit", "1 to 99"),
])
def test_household_input_is_checked(city, grid_worker, unit, room, field, words):
    building = building_create(grid=grid_worker.area, number=905)
    before = Household.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        household_create(building=building, unit=unit, room=room)
    assert words in field_messages(excinfo)[field]
    assert Household.objects.count() == before


def test_household_room_is_unique_in_its_building_unit(city, grid_worker):
    building = building_create(grid=grid_worker.area, number=906)
    household_create(building=building, unit=1, room="101")
    with pytest.raises(ValidationError) as excinfo:
        household_create(building=building, unit=1, room="101")
    assert "already registered" in field_messages(excinfo)["room"]
    assert household_create(building=building, unit=2, room="101").pk


# Figures ------------------------------------------------------------------------------------


def _figures() -> dict[int, tuple]:
    return {s.area_id: tuple(getattr(s, f) for f in FIGURES) for s in AreaStats.objects.all()}


def _recount(area: Area, today: date) -> tuple:
    """The figures of an area counted straight from the rows."""
    scope = (Q(district__parent_id=area.pk) if area.kind == AreaKind.CITY
             else Q(**{f"{area.kind}_id": area.pk}))
    active = Resident.objects.filter(scope, status=ResidentStatus.ACTIVE)
    born_by = today.replace(year=today.year - ELDERLY_AGE) if not (
        today.month == 2 and today.day == 29) else date(today.year - ELDERLY_AGE, 2, 28)
    by_tag = dict(Resident.tags.through.objects.filter(resident__in=active)
                  .values("tag__slug").annotate(n=Count("id")).order_by()
                  .values_list("tag__slug", "n"))
    return (active.count(), Household.objects.filter(scope).count(),
            Building.objects.filter(scope).count(),
            active.filter(birth_date__lte=born_by).count(), by_tag)


def test_stats_refresh_equals_a_recount_for_every_area_and_is_idempotent(city):
    assert stats_refresh() == len(city.areas(AreaKind.GRID))
    first = _figures()
    assert stats_refresh() == len(city.areas(AreaKind.GRID))
    assert _figures() == first
    today = timezone.localdate()
    areas = list(Area.objects.all())
    assert len(areas) == len(first)
    for area in areas:
        assert first[area.pk] == _recount(area, today), (area.kind, area.path)
    assert first[city.root.pk][0] == Resident.objects.filter(
        status=ResidentStatus.ACTIVE).count() > 0


def test_stats_refresh_heals_drift_in_a_grid_and_its_ancestors(city, grid_worker):
    stats_refresh()
    truth = _figures()
    grid = grid_worker.area
    drifted = [grid.pk, grid.parent_id, grid.parent.parent_id, city.root.pk]
    AreaStats.objects.filter(area_id__in=drifted).update(residents=7, elderly=0, by_tag={})
    assert stats_refresh(grid_ids=[grid.pk]) == 1
    assert _figures() == truth


def test_stats_refresh_of_one_grid_leaves_other_grids_alone(city, grid_worker):
    stats_refresh()
    other = Area.objects.filter(kind=AreaKind.GRID).exclude(pk=grid_worker.area_id).first()
    AreaStats.objects.filter(area=other).update(residents=12345)
    stats_refresh(grid_ids=[grid_worker.area_id])
    assert AreaStats.objects.get(area=other).residents == 12345


def test_stats_refresh_counts_moved_out_residents_out(city, grid_worker):
    stats_refresh()
    before = _figures()[grid_worker.area_id][0]
    Resident.objects.filter(pk=city.resident_in(grid_worker.area).pk).update(
        status=ResidentStatus.MOVED_OUT)
    stats_refresh(grid_ids=[grid_worker.area_id])
    assert _figures()[grid_worker.area_id][0] == before - 1
    assert _figures()[grid_worker.area_id] == _recount(grid_worker.area, timezone.localdate())


def test_new_area_after_a_deleted_sibling_gets_a_free_path_segment(city):
    street = city.areas(AreaKind.STREET)[0]
    community = area_create(kind=AreaKind.COMMUNITY, name="新社区", parent=street)
    first = area_create(kind=AreaKind.GRID, name="第1网格", parent=community)
    second = area_create(kind=AreaKind.GRID, name="第2网格", parent=community)
    AreaStats.objects.filter(area=first).delete()
    first.delete()  # e.g. in the back office: an empty grid entered by mistake
    third = area_create(kind=AreaKind.GRID, name="第3网格", parent=community)
    assert third.path != second.path
    assert third.parent_id == community.pk
