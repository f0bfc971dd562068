"""A community secretary imports a roster on a phone: upload a CSV whose name column has
a name fangkong does not know, wait while the embedded worker reads it (the page polls
with htmx and reloads itself), choose the name column by hand, wait for the preview, see
the row with an error, import the valid rows and find the new resident."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from datetime import date
from pathlib import Path

import pytest
from django.utils import translation

from fangkong.lib.idcard import make_id_number

pytestmark = pytest.mark.browser

# /tmp/roster_*.png on Linux: the preview at phone size, and the other steps beside it.
SHOTS = Path(tempfile.gettempdir())
SCREENSHOT = SHOTS / "roster_preview.png"
REGION = "650102"  # not used by the synthetic city
NEW_NAME = "欧阳测岚"
BAD_NAME = "司马测误"
WAIT_MS = 60_000  # the worker polls every few seconds; the first run also loads modules


def _zh(message: str) -> str:
    """What the interface shows for `message` (Chinese is the default language)."""
    with translation.override("zh-hans"):
        return translation.gettext(message)


def _roster() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([
        ["XX社区居民信息登记表"],
        # 住户名称 holds the names, but the automatic mapping does not know it.
        ["序号", "住户名称", "身份证号", "联系电话", "楼栋", "单元", "房号"],
        [1, NEW_NAME, make_id_number(REGION, date(1948, 6, 7), 121), "13912340001", "77",
         "2", "301"],
        [2, BAD_NAME, "65010219480607", "13912340002", "77", "2", "302"],  # 14 digits
    ])
    return out.getvalue().encode("utf-8-sig")


def _log_in(page, url: str, username: str, password: str) -> None:  # noqa: ANN001
    page.goto(url + "/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(url + "/")


def _no_sideways_scroll(page) -> None:  # noqa: ANN001
    """Nothing on the page is wider than the phone's screen."""
    # A mobile browser widens its layout to hold what is too wide (and zooms out), so
    # compare with the screen, not with the window.
    overflow = page.evaluate("document.documentElement.scrollWidth - screen.width")
    assert overflow <= 1, f"the page is {overflow}px wider than the screen"


def test_secretary_imports_a_roster_on_a_phone(app_server, phone_page):
    page, url = phone_page, app_server["url"]
    _log_in(page, url, "community_secretary", app_server["password"])

    # 1. Upload.
    page.goto(url + "/rosters/")
    _no_sideways_scroll(page)
    page.locator("#id_file").set_input_files(files=[{
        "name": "XX社区居民信息登记表.csv", "mimeType": "text/csv", "buffer": _roster()}])
    page.locator("#upload button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/rosters/\d+/$"))
    detail = page.url

    # 2. The mapping screen comes by itself once the worker has read the file.
    page.locator("#mapping").wait_for(timeout=WAIT_MS)
    _no_sideways_scroll(page)
    names = page.get_by_label("住户名称")
    assert names.input_value() == ""  # not recognised: the user must choose
    assert page.get_by_label("身份证号").input_value() == "id_number"
    assert page.get_by_label("房号").input_value() == "room"
    box = names.bounding_box()
    assert box["height"] >= 40 and box["width"] >= 150, box  # a target a thumb can hit
    page.screenshot(path=str(SHOTS / "roster_mapping.png"), full_page=True)
    names.select_option(label=_zh("Name"))
    assert names.input_value() == "name"
    page.locator("#mapping button[type=submit]").click()

    # 3. The preview: one new resident, one row with an error.
    page.wait_for_url(detail)
    commit = page.locator("#commit")
    commit.wait_for(timeout=WAIT_MS)
    figures = {label.strip(): n.strip() for n, label in zip(
        page.locator(".figure .n").all_inner_texts(),
        page.locator(".figure .l").all_inner_texts(), strict=True)}
    assert figures[_zh("New residents")] == "1", figures
    assert figures[_zh("With errors")] == "1", figures
    problem = page.locator("table.problems tbody tr")
    assert problem.count() == 1
    cells = problem.first.locator("td").all_inner_texts()
    assert cells[:2] == ["4", "身份证号"]
    assert "身份证号" in cells[2] and "18" in cells[2]  # the reason, in Chinese
    assert commit.inner_text().strip() == _zh("Import all valid rows")
    _no_sideways_scroll(page)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # 4. Import, then find the new resident.
    commit.click()
    page.get_by_role("heading", name=_zh("Imported"), exact=True).wait_for(timeout=WAIT_MS)
    assert page.locator("form[action$='/undo/'] button").is_visible()
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / "roster_done.png"), full_page=True)
    page.locator("main a[href*='/areas/']").last.click()
    page.wait_for_url(re.compile(r".*/areas/\d+/$"))
    page.locator("details.card > summary").click()  # the export form fits the phone too
    page.locator("form.export").wait_for()
    page.screenshot(path=str(SHOTS / "roster_area_export.png"))
    _no_sideways_scroll(page)
    page.get_by_role("searchbox").fill(NEW_NAME)
    page.get_by_role("button", name="搜索").click()
    found = page.locator("#resident-rows a", has_text=NEW_NAME)
    found.first.wait_for()
    assert page.locator("#resident-rows a", has_text=BAD_NAME).count() == 0

    # The list of imports fits the phone too.
    page.goto(url + "/rosters/")
    assert page.locator("main .imports a", has_text="XX社区居民信息登记表.csv").count() >= 1
    page.screenshot(path=str(SHOTS / "roster_list.png"), full_page=True)
    _no_sideways_scroll(page)
