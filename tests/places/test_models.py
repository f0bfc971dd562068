"""The rows under an area, as every list, page and export filters them."""

from __future__ import annotations

import pytest

from fangkong.places.models import Area, AreaKind, Building
from fangkong.places.services import area_create, building_create
from fangkong.residents.models import Resident

pytestmark = pytest.mark.django_db


def test_rows_under_an_area_are_those_of_its_subtree_only(city):
    other_city = area_create(kind=AreaKind.CITY, name="海口市", parent=None, code="460100")
    district = area_create(kind=AreaKind.DISTRICT, name="龙华区", parent=other_city,
                           code="460106")
    street = area_create(kind=AreaKind.STREET, name="中山街道", parent=district)
    community = area_create(kind=AreaKind.COMMUNITY, name="海秀社区", parent=street)
    grid = area_create(kind=AreaKind.GRID, name="第1网格", parent=community)
    far = building_create(grid=grid, number=1)
    assert set(Building.objects.filter(other_city.scoped_rows_q())) == {far}
    assert far not in Building.objects.filter(city.root.scoped_rows_q())
    assert Resident.objects.filter(city.root.scoped_rows_q()).count() == Resident.objects.count()
    for area in Area.objects.filter(path__startswith=city.root.path + ".")[:20]:
        under = Resident.objects.filter(area.scoped_rows_q())
        assert under.count() == Resident.objects.filter(
            grid__path__startswith=area.path).count(), area.path
