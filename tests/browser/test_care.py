"""A worker files a confidential difficulty from a phone; the care officer of the street
acknowledges and resolves it from theirs; the worker rates the result."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.test_grid_worker import log_in

pytestmark = pytest.mark.browser

DESIGNATE = """
import json
import django
django.setup()
from fangkong.accounts.models import Role, User
from fangkong.accounts.services import staff_create
from fangkong.care.services import care_officer_designate
from tests.factories import PASSWORD
street_officer = User.objects.select_related("area").get(username="street_officer")
secretary = User.objects.get(username="community_secretary")
officer = User.objects.filter(username="care_officer").first() or staff_create(
    username="care_officer", password=PASSWORD, role=Role.COMMUNITY_WORKER,
    area=secretary.area, full_name="关爱专员小李", check_password=False)
if not officer.care_posts.exists():
    care_officer_designate(street=street_officer.area, user=officer, by=street_officer)
print(json.dumps({"officer": officer.username}))
"""
DETAILS = "爱人住院，孩子在家没人照看，下班太晚"


def test_worker_files_officer_resolves_worker_rates(app_server, server_python, new_page):
    from tests.browser.conftest import PHONE

    url, password = app_server["url"], app_server["password"]
    officer = server_python(DESIGNATE)["officer"]

    worker = new_page(PHONE)
    log_in(worker, url, "grid_worker", password)
    worker.get_by_role("link", name="关爱", exact=True).click()
    worker.wait_for_url(url + "/care/")
    worker.get_by_label("子女照看").check()
    worker.get_by_label("具体情况").fill(DETAILS)
    worker.get_by_label("紧急", exact=True).check()
    worker.get_by_label("保密", exact=True).check()
    worker.get_by_role("button", name="提交", exact=True).click()
    worker.wait_for_url(url + "/care/")
    worker.get_by_text("已提交").wait_for()
    item = worker.locator("main .list a", has_text="子女照看").first
    assert "关爱专员小李" in item.inner_text()
    assert "保密" in item.inner_text()
    # The form fits a phone: no sideways scrolling.
    assert worker.evaluate("document.documentElement.scrollWidth") <= 390

    carer = new_page(PHONE)
    log_in(carer, url, officer, password)
    carer.goto(url + "/care/inbox/")
    carer.locator("main .list a", has_text="子女照看").first.click()
    carer.wait_for_url(re.compile(r".*/care/\d+/$"))
    assert DETAILS in carer.locator("main").inner_text()
    carer.get_by_role("button", name="接收").click()
    carer.get_by_text("已接收").first.wait_for()
    carer.get_by_label("办理结果").fill("已联系社区托育点，明天起每天 8:00-20:00 照看")
    carer.get_by_role("button", name="标记为已解决").click()
    carer.get_by_text("已解决，等待提出人评价").wait_for()

    worker.reload()
    worker.locator("main .list a", has_text="子女照看").first.click()
    worker.wait_for_url(re.compile(r".*/care/\d+/$"))
    assert "托育点" in worker.locator("main").inner_text()
    worker.get_by_label("★★★★★", exact=True).check()
    worker.get_by_label("评价", exact=True).fill("很及时，谢谢")
    worker.get_by_role("button", name="提交评价").click()
    worker.get_by_text("感谢您的评价").wait_for()
    main = worker.locator("main").inner_text()
    assert "★★★★★" in main and "已结束" in main
    Path("test-results").mkdir(exist_ok=True)
    worker.screenshot(path="test-results/care-rated.png", full_page=True)
