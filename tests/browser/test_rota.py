"""A worker asks a colleague to take a shift from a phone; the colleague agrees from
theirs; the secretary approves; the shift shows on the colleague's list."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_grid_worker import log_in

pytestmark = pytest.mark.browser

ROTA = """
import json
from datetime import timedelta
import django
django.setup()
from fangkong.accounts.models import User
from fangkong.care import rota_services
from fangkong.care.models import RotaMember
from fangkong.lib import clock
from tests.care.rota_fixtures import rota_community
from tests.factories import PASSWORD
secretary = User.objects.select_related("area").get(username="community_secretary")
if not RotaMember.objects.filter(community=secretary.area).exists():
    rc = rota_community(secretary)
    for m in rc.members:
        m.user.set_password(PASSWORD)
        m.user.save(update_fields=["password"])
    plan = rota_services.rota_plan_make(
        community=secretary.area, first_day=clock.local_today() + timedelta(days=1), days=7,
        ab_mode="prefer", ab_block_days=1, by=secretary, time_limit_s=1)
    rota_services.rota_plan_publish(plan=plan, by=secretary)
plan = secretary.area.rota_plans.get(status="published")
shift = plan.assignments.filter(shift__name="白班").order_by("day").last()
busy = set(plan.assignments.filter(day__gte=shift.day - timedelta(days=1),
                                   day__lte=shift.day + timedelta(days=1))
           .values_list("user_id", flat=True))
colleague = (RotaMember.objects.filter(community=secretary.area, active=True)
             .exclude(user_id__in=busy).select_related("user").first().user)
print(json.dumps({"worker": shift.user.username, "colleague": colleague.username,
                  "colleague_id": colleague.pk,
                  "colleague_name": colleague.display_name, "shift": shift.pk,
                  "day": shift.day.strftime("%m-%d"), "community": secretary.area_id}))
"""


def test_worker_asks_colleague_agrees_secretary_approves(app_server, server_python, new_page):
    from tests.browser.conftest import PHONE

    url, password = app_server["url"], app_server["password"]
    facts = server_python(ROTA)

    worker = new_page(PHONE)
    log_in(worker, url, facts["worker"], password)
    worker.goto(url + "/care/shifts/")
    row = worker.locator("main .list.shifts li", has_text=facts["day"]).filter(
        has_text="白班")
    row.get_by_role("link", name="换班").click()
    worker.wait_for_url(re.compile(r".*/care/shifts/\d+/swap/$"))
    worker.get_by_label("请同事替班").select_option(value=str(facts["colleague_id"]))
    worker.get_by_label("给同事的留言").fill("孩子发烧，想换一天")
    worker.get_by_role("button", name="发出请求").click()
    worker.wait_for_url(re.compile(r".*/care/swaps/\d+/$"))
    worker.get_by_text("等待同事答复").first.wait_for()
    swap_url = worker.url
    # The pages fit a phone: no sideways scrolling.
    assert worker.evaluate("document.documentElement.scrollWidth") <= 390

    colleague = new_page(PHONE)
    log_in(colleague, url, facts["colleague"], password)
    colleague.goto(url + "/care/shifts/")
    colleague.locator("main .list a", has_text="白班").first.click()
    colleague.wait_for_url(swap_url)
    assert "孩子发烧" in colleague.locator("main").inner_text()
    colleague.get_by_role("button", name="我来上").click()
    colleague.get_by_text("等待书记审批").first.wait_for()

    secretary = new_page(PHONE)
    log_in(secretary, url, "community_secretary", password)
    secretary.goto(url + f"/care/rota/{facts['community']}/")
    secretary.get_by_text("待审批的换班").wait_for()
    secretary.locator("main .list a", has_text=facts["colleague_name"]).first.click()
    secretary.wait_for_url(swap_url)
    secretary.get_by_role("button", name="批准换班").click()
    secretary.get_by_text("已批准").first.wait_for()

    colleague.goto(url + "/care/shifts/")
    taken = colleague.locator("main .list.shifts li", has_text=facts["day"]).filter(
        has_text="白班")
    assert "接替" in taken.inner_text()
