"""The synthetic city: deterministic, realistic where it matters, and loaded correctly by
the large-load path (parallel grids, indexes and foreign keys checked once)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count

from fangkong.lib import bulk, crypto
from fangkong.lib.idcard import parse_id_number
from fangkong.places.models import Area, AreaKind, AreaStats, Household
from fangkong.residents.models import Resident
from fangkong.synth import load
from fangkong.synth.city import REFERENCE_DATE, CitySpec, plan_shape
from fangkong.synth.load import GridJob, build_grid

pytestmark = pytest.mark.django_db


def _job(index: int) -> GridJob:
    return GridJob(index=index, seed=3, region="420102", households=60, estate="幸福花园",
                   road="和平路", data_key=settings.DATA_KEY)


def test_a_grid_is_the_same_every_time_it_is_made():
    first, again = build_grid(_job(5)), build_grid(_job(5))
    people = [(r[2], r[5], r[6], r[7]) for r in first.residents]  # name, gender, birth, ID
    assert people == [(r[2], r[5], r[6], r[7]) for r in again.residents]
    assert people != [(r[2], r[5], r[6], r[7]) for r in build_grid(_job(6)).residents]


def test_generated_id_numbers_agree_with_birth_date_gender_and_district():
    rows = build_grid(_job(1)).residents
    for r in rows:
        info = parse_id_number(r[7])
        assert (info.birth_date, info.gender) == (r[6], r[5])
        assert info.region_code == "420102" or r[1] == "tenant" or r[1] == "self"
        assert crypto.unseal(r[8], purpose="id_number") == r[7]


def test_households_have_one_to_six_people_and_a_householder():
    rows = build_grid(GridJob(index=0, seed=9, region="420102", households=400, estate="e",
                              road="r", data_key=settings.DATA_KEY))
    sizes = Counter(r[0] for r in rows.residents)
    assert set(sizes.values()) <= set(range(1, 7))
    heads = Counter(r[0] for r in rows.residents if r[1] == "self")
    assert all(heads[h] == 1 for h in sizes)
    assert len(sizes) == len(rows.households)


def test_the_age_pyramid_has_many_elderly_and_many_of_them_live_alone():
    rows = build_grid(GridJob(index=0, seed=9, region="420102", households=2000, estate="e",
                              road="r", data_key=settings.DATA_KEY))
    ages = [(REFERENCE_DATE - r[6]).days // 365 for r in rows.residents]
    elderly = sum(a >= 65 for a in ages) / len(ages)
    assert 0.10 <= elderly <= 0.30
    alone_ids = {i for i, slug in rows.tags if slug == "elderly_alone"}
    alone = [r for i, r in enumerate(rows.residents) if i in alone_ids]
    assert alone, "some elderly people live alone"
    sizes = Counter(r[0] for r in rows.residents)
    assert all(sizes[r[0]] == 1 and (REFERENCE_DATE - r[6]).days // 365 >= 65 for r in alone)


def test_shape_follows_the_size():
    shape = plan_shape(CitySpec(residents=1_000_000))
    households = sum(g.households for g in shape.grids)
    assert 300 <= households / len(shape.grids) <= 500
    assert 350_000 <= households <= 420_000
    assert shape.districts >= 1


def test_large_load_path_builds_indexes_and_checks_foreign_keys_once(monkeypatch):
    """The path taken from 50,000 residents on, exercised here on a small city."""
    monkeypatch.setattr(load, "BIG_LOAD", 300)
    before = {t: sorted(n for n, _ in bulk.secondary_indexes(t))
              for t in ("residents_resident", "places_household")}
    report = load.load_city(CitySpec(residents=900, seed=11, city="460100", streets=1,
                                     communities=4), processes=2)
    assert report.grids >= 4  # enough grids for the process pool to be used
    after = {t: sorted(n for n, _ in bulk.secondary_indexes(t))
             for t in ("residents_resident", "places_household")}
    assert before == after and after["residents_resident"]
    city = report.city
    assert city.name == "海口市"
    loaded = Resident.objects.filter(district__parent=city)
    assert loaded.count() == report.residents > 800
    # Every ID number is unique across the whole registry (the unique index is back).
    dupes = (Resident.objects.exclude(id_number_index=None).values("id_number_index")
             .annotate(n=Count("id")).filter(n__gt=1))
    assert not dupes.exists()
    # The figures equal a recount.
    for area in Area.objects.filter(path__startswith=city.path).exclude(kind=AreaKind.CITY):
        field = f"{area.kind}_id"
        expected = Resident.objects.filter(**{field: area.pk}, status="active").count()
        assert AreaStats.objects.get(area=area).residents == expected, area.path
    assert AreaStats.objects.get(area=city).residents == report.residents
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND "
                           "conrelid = 'residents_resident'::regclass")
            assert cursor.fetchone()[0] >= 5  # household and the four area columns
    assert Household.objects.filter(district__parent=city).count() == report.households


def test_id_numbers_from_different_grids_never_clash():
    unique = load.UniqueIdNumbers()
    first = "420102199001010012"
    assert unique.claim(first) is None
    replacement = unique.claim(first)
    assert replacement is not None and replacement != first
    info = parse_id_number(replacement)
    assert (info.birth_date, info.gender) == (date(1990, 1, 1), "M")
