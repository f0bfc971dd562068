from __future__ import annotations

import pytest
from django.db.models import Q
from django.http import Http404

from fangkong.places.models import AreaKind
from fangkong.residents.selectors import classify, resident_for_user, resident_search


def test_grid_worker_cannot_see_resident_of_other_grid(city, grid_worker):
    other = city.resident_outside(grid_worker.area)
    with pytest.raises(Http404):
        resident_for_user(grid_worker, other.pk)


def test_grid_worker_sees_own_resident(city, grid_worker):
    own = city.resident_in(grid_worker.area)
    assert resident_for_user(grid_worker, own.pk) == own


def test_search_by_last4_finds_own_resident_only(city, grid_worker):
    own = city.resident_in(grid_worker.area)
    query, rows, _ = resident_search(grid_worker, own.phone_last4)
    assert query.kind == "last4"
    assert own in rows
    assert all(r.grid_id == grid_worker.area_id for r in rows)


def test_search_by_initials_and_name_prefix(city, street_officer):
    own = city.resident_in(street_officer.area)
    _, by_initials, _ = resident_search(street_officer, own.name_initials.upper())
    assert own in by_initials or len(by_initials) == 50
    _, by_name, _ = resident_search(street_officer, own.name)
    assert own in by_name
    assert all(r.name.startswith(own.name) for r in by_name)


@pytest.mark.parametrize("text,kind", [
    ("5678", "last4"), ("13812345678", "phone"), ("+86 138 1234 5678", "phone"),
    ("11010519491231002X", "id_number"), ("3-2-501", "room"), ("三号楼二单元501室", "room"),
    ("3栋2单元501", "room"), ("zw", "pinyin"), ("张伟", "name"), ("", "all"),
])
def test_search_text_is_understood(text, kind):
    assert classify(text).kind == kind


def test_city_has_every_level(city):
    for kind in AreaKind.values:
        assert city.areas(kind), kind


def test_search_cursor_outside_the_area_gives_an_empty_page(city, grid_worker):
    outside = city.resident_outside(grid_worker.area)
    _, rows, next_after = resident_search(grid_worker, "a", after=outside.pk)
    assert rows == [] and next_after is None


def test_initials_with_a_vowel_are_found(city, grid_worker):
    from fangkong.residents.models import Resident

    own = city.resident_in(grid_worker.area)
    Resident.objects.filter(pk=own.pk).update(name="张爱国", name_initials="zag",
                                              name_pinyin="zhangaiguo")
    _, rows, _ = resident_search(grid_worker, "zag", limit=200)
    assert own in rows
    _, rows, _ = resident_search(grid_worker, "zhangai", limit=200)
    assert own in rows


def test_pinyin_search_pages_through_every_match_once(city, street_officer):
    from fangkong.residents.models import Resident

    expected = set(Resident.objects.filter(street_id=street_officer.area_id, status="active")
                   .filter(Q(name_pinyin__startswith="zh") | Q(name_initials__startswith="zh"))
                   .values_list("pk", flat=True))
    seen: list[int] = []
    after = None
    while True:
        _, rows, after = resident_search(street_officer, "zh", after=after, limit=7)
        seen.extend(r.pk for r in rows)
        if after is None:
            break
    assert len(seen) == len(set(seen))
    assert set(seen) == expected and len(expected) > 7
