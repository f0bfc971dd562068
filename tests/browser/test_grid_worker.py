"""A grid worker on a phone: log in, find a resident by the last 4 phone digits, open
their page, see masked data, show the full phone (audited)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def log_in(page, url: str, username: str, password: str) -> None:
    page.goto(url + "/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(url + "/")


def test_grid_worker_finds_resident_by_last4_and_sees_masked_data(app_server, phone_page):
    page, url = phone_page, app_server["url"]
    log_in(page, url, "grid_worker", app_server["password"])
    assert page.locator(".figure").count() >= 4  # the counts of their grid

    page.goto(url + "/residents/")
    page.get_by_role("searchbox").fill(app_server["last4"])
    page.get_by_role("button", name="搜索").click()
    result = page.locator("#resident-rows a", has_text=app_server["name"]).first
    result.wait_for()
    assert app_server["phone_masked"] in result.inner_text()
    result.click()

    page.wait_for_url(re.compile(rf".*/residents/{app_server['resident_id']}/$"))
    body = page.locator("main").inner_text()
    assert app_server["phone_masked"] in body
    assert app_server["id_number_masked"] in body
    assert app_server["phone"] not in body
    # A grid worker may not see the full ID number at all: no button for it.
    assert page.get_by_role("button", name="显示完整身份证号").count() == 0

    page.get_by_role("button", name="显示完整号码").click()
    page.locator("#phone-value .revealed").wait_for()
    assert page.locator("#phone-value").inner_text().strip() == app_server["phone"]
    Path("test-results").mkdir(exist_ok=True)
    page.screenshot(path="test-results/grid-worker-resident.png", full_page=True)
