"""Property: any table of valid residents, written as .xlsx (by fangkong's own export
writer) or as CSV in any supported encoding, imports as exactly those residents."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fangkong.lib import crypto
from fangkong.lib.idcard import make_id_number
from fangkong.lib.spreadsheets.write import Column, Layout, write_csv, write_xlsx
from fangkong.places.models import AreaKind
from fangkong.residents.models import Resident
from fangkong.residents.personal import ID_NUMBER, PHONE
from fangkong.rosters.models import ImportStatus
from tests.rosters.helpers import commit, csv_bytes, preview

HEADER = ["姓名", "身份证号", "联系电话", "楼栋", "单元", "房号", "网格"]
# Common characters of Chinese names (all in GBK, so every encoding can carry them).
NAME_CHARS = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余" \
             "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红梅玉珍德福"


@st.composite
def residents(draw) -> list[dict]:  # noqa: ANN001
    n = draw(st.integers(1, 12))
    seqs = draw(st.lists(st.integers(0, 999), min_size=n, max_size=n, unique=True))
    out = []
    for i, seq in enumerate(seqs):
        born = draw(st.dates(date(1920, 1, 1), date(2020, 12, 31)))
        out.append({
            "name": draw(st.text(NAME_CHARS, min_size=2, max_size=4)),
            "id": make_id_number("420102", born, seq),
            "phone": draw(st.sampled_from("3456789")) and "1" + draw(
                st.sampled_from("3456789")) + f"{draw(st.integers(0, 10**9 - 1)):09d}",
            "building": draw(st.integers(60, 70)), "unit": draw(st.integers(1, 6)),
            "room": f"{draw(st.integers(1, 33))}{draw(st.integers(1, 4)):02d}" + str(i % 1),
        })
    # One person per room, so that no two rows are the same household by chance.
    seen, unique = set(), []
    for person in out:
        key = (person["building"], person["unit"], person["room"])
        if key not in seen:
            seen.add(key)
            unique.append(person)
    return unique


def as_rows(people: list[dict], grid: str) -> list[list]:
    return [[p["name"], p["id"], p["phone"], str(p["building"]), str(p["unit"]), p["room"],
             grid] for p in people]


def as_file(people: list[dict], grid: str, fmt: str) -> tuple[bytes, str]:
    rows = as_rows(people, grid)
    if fmt in ("utf-8", "utf-8-sig", "gb18030"):
        return csv_bytes([HEADER, *rows], encoding=fmt), "名单.csv"
    layout = Layout(title="新华社区居民信息登记表", subtitle="区域：新华社区",
                    columns=tuple(Column(h) for h in HEADER),
                    footer="导出人：测试  导出时间：2026-11-29 10:00",
                    watermark="测试 2026-11-29 仅限社区防控工作使用")
    out = io.BytesIO()
    if fmt == "export-csv":
        write_csv(out, layout, rows)
        return out.getvalue(), "导出.csv"
    write_xlsx(out, layout, rows)
    return out.getvalue(), "导出.xlsx"


@pytest.mark.django_db
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(people=residents(),
       fmt=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "export-xlsx", "export-csv"]))
def test_valid_residents_round_trip(community_secretary, people, fmt):
    community = community_secretary.area
    grid = community.children.filter(kind=AreaKind.GRID).first().name
    data, filename = as_file(people, grid, fmt)
    with transaction.atomic():
        ri = preview(community_secretary, community, data, filename=filename)
        if ri.status == ImportStatus.NEEDS_ENCODING:  # a tie is asked, never guessed
            assert fmt in ("utf-8", "gb18030")
            transaction.set_rollback(True)
            return
        assert ri.status == ImportStatus.READY, ri.message
        assert ri.counts["new"] == len(people), list(ri.problems.values_list("message"))
        assert not ri.problems.exists()
        commit(community_secretary, ri)
        ids = {crypto.keyring().blind_index(p["id"], purpose=ID_NUMBER): p for p in people}
        stored = Resident.objects.filter(id_number_index__in=ids).select_related("household")
        assert len(stored) == len(people)
        for resident in stored:
            person = ids[resident.id_number_index]
            assert resident.name == person["name"]
            assert crypto.unseal(resident.id_number_sealed, purpose=ID_NUMBER) == person["id"]
            assert crypto.unseal(resident.phone_sealed, purpose=PHONE) == person["phone"]
            assert (resident.household.building.number, resident.household.unit,
                    resident.household.room) == (person["building"], person["unit"],
                                                 person["room"])
        transaction.set_rollback(True)
