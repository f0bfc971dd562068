from __future__ import annotations

from fangkong.places.models import AreaKind
from fangkong.residents.models import Resident
from fangkong.rosters.models import ImportStatus
from tests.rosters.helpers import commit, csv_bytes, preview


def test_smoke(city, community_secretary):
    community = community_secretary.area
    grid = city.areas(AreaKind.GRID)[0]
    rows = [["XX社区居民信息登记表"], ["序号", "姓名", "身份证号", "联系电话", "楼栋", "单元", "房号", "网格"],
            [1, "李大爷", "110101194001011234", "13812345678", "99", "1", "101", grid.name]]
    from fangkong.lib.idcard import check_digit
    rows[2][2] = "11010119400101123" + check_digit("11010119400101123")
    ri = preview(community_secretary, community, csv_bytes(rows))
    assert ri.status == ImportStatus.READY, ri.message
    print(ri.counts, list(ri.problems.values_list("row", "column", "message")))
    assert ri.counts["new"] == 1
    ri = commit(community_secretary, ri)
    assert ri.status == ImportStatus.DONE, ri.message
    assert Resident.objects.filter(name="李大爷").exists()
