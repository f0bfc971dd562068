"""The follow-up robot end to end: a resident answers their one-time web link with a
fever on a phone, the grid worker sees the alert on theirs and resolves it, and the
community secretary reads it in the round's table on a desktop."""

from __future__ import annotations

import re

import pytest
from django.utils import translation

from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser

PURPOSE = "疫情防控每日健康随访：只问体温和症状，仅供本社区工作人员跟进"

# A running campaign of the secretary's community with a round open since a minute ago.
# Its web links go out at once (through the simulated carrier, as the server's worker
# would send them within seconds); the resident is one in the grid worker's grid whose
# link was delivered and who has not answered yet. The round's figures are read once
# nothing more can move on its own (the door visits wait for a person).
ARRANGE = """
import json, sys, time
from datetime import timedelta
import django
django.setup()
from fangkong.accounts.models import User
from fangkong.followup import tables
from fangkong.followup.channels.web.links import contact_link
from fangkong.followup.dispatch import dispatch_pass
from fangkong.followup.models import Contact, Questionnaire
from fangkong.followup.rounds import round_open
from fangkong.followup.services import CampaignInput, campaign_create, campaign_start
from fangkong.lib import clock

secretary = User.objects.select_related("area").get(username="community_secretary")
grid = User.objects.select_related("area").get(username="grid_worker").area
community = secretary.area
assert grid.path.startswith(community.path + "."), "the grid worker's grid is elsewhere"
version = Questionnaire.objects.get(slug="daily_health").versions.order_by("-number").first()
campaign = campaign_start(by=secretary, campaign=campaign_create(by=secretary, data=CampaignInput(
    name="居家健康监测", purpose=%(purpose)r, area=community, version=version,
    times=["09:00"], starts_on=clock.local_today(),
    plan=[{"channel": "web", "at": 0}, {"channel": "visit", "at": 300}],
    quiet_sms=[])))  # links go out at any hour: the test must not depend on the time of day
round_ = round_open(campaign=campaign, scheduled_for=clock.now() - timedelta(minutes=1))
while dispatch_pass(owner="browser-arrange"):
    pass
mine = Contact.objects.filter(round=round_)
deadline = time.monotonic() + 60
while mine.exclude(lease_owner="").exists() or mine.filter(state="pending", step=0).exists():
    assert time.monotonic() < deadline, "the links of the round were not all sent"
    time.sleep(0.2)
contact = (mine.filter(grid=grid, state="pending", attempts__channel="web",
                       attempts__outcome="delivered")
           .select_related("resident").order_by("pk").first())
assert contact is not None, "every link in the grid was answered by the simulation"
_, total = tables.round_table([round_], community)
print(json.dumps({
    "round_id": round_.pk, "link": contact_link(contact.pk), "name": contact.resident.name,
    "grid": grid.name, "answered": total.answered, "web": total.by_channel.get("web", 0),
    "abnormal": total.abnormal, "alerts_open": total.alerts_open,
    "alerts_resolved": total.alerts_resolved}))
"""


def _zh(message: str) -> str:
    """What the interface shows for `message` (Chinese is the default language)."""
    with translation.override("zh-hans"):
        return translation.gettext(message)


def _log_in(page, url: str, username: str, password: str) -> None:  # noqa: ANN001
    page.goto(url + "/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(url + "/")


def _no_sideways_scroll(page) -> None:  # noqa: ANN001
    overflow = page.evaluate("document.documentElement.scrollWidth - screen.width")
    assert overflow <= 1, f"the page is {overflow}px wider than the screen"


def _number(cell: str) -> int:
    """ "1,234 56%" -> 1234 (a count, maybe with its share beside it)."""
    return int(cell.split()[0].replace(",", ""))


def test_fever_answered_by_web_link_is_resolved_and_counted(app_server, server_python,
                                                            new_page):  # noqa: ANN001
    url, password = app_server["url"], app_server["password"]
    round_ = server_python(ARRANGE % {"purpose": PURPOSE})
    name = round_["name"]
    assert round_["link"].startswith(url + "/f/")

    # 1. The resident, on a phone: the purpose, their name masked, four questions.
    resident = new_page(PHONE)
    resident.goto(round_["link"])
    form = resident.locator("form.answer-form")
    assert resident.locator(".purpose").inner_text().strip() == PURPOSE
    masked = name[:1] + "*" * (len(name) - 1)
    assert masked in resident.locator("main .hint").first.inner_text()
    assert name not in resident.content()
    _no_sideways_scroll(resident)
    form.get_by_role("group", name=re.compile("发热")).get_by_role(
        "radio", name=_zh("Yes"), exact=True).check()
    form.get_by_role("group", name="体温（°C）").get_by_role("textbox").fill("38.6")
    form.get_by_role("group", name="有没有咳嗽？").get_by_role(
        "radio", name=_zh("No"), exact=True).check()
    form.get_by_role("button", name=_zh("Send my answers")).click()
    resident.get_by_role("heading", name=_zh("Thank you"), exact=True).wait_for()
    assert _zh("Your answers have been received.") in resident.locator("main").inner_text()
    # The link is used once.
    again = resident.goto(round_["link"])
    assert again.status == 409
    assert resident.get_by_role("alert").inner_text().strip() == _zh(
        "Thank you: the answers for this check-in have been received already. A link can be "
        "used once.")
    assert resident.locator("form").count() == 0

    # 2. The grid worker, on a phone: the fever alert, with the resident's name.
    worker = new_page(PHONE)
    _log_in(worker, url, "grid_worker", password)
    worker.locator("header nav").get_by_role("link", name=_zh("Alerts"), exact=True).click()
    worker.wait_for_url(url + "/followup/alerts/")
    fever = (worker.locator("ul.alerts li")
             .filter(has=worker.locator("strong").get_by_text("发热", exact=True))
             .filter(has_text=name))
    assert fever.count() == 1
    assert "38.6 °C ≥ 37.3 °C" in fever.inner_text()
    link = fever.get_by_role("link")
    href = link.get_attribute("href")
    link.click()
    worker.wait_for_url(url + href)
    assert worker.get_by_role("heading", level=1).inner_text().strip() == "发热"
    card = worker.locator("main section.card").first.inner_text()
    assert name in card and "38.6" in card
    _no_sideways_scroll(worker)
    worker.get_by_role("radio", name=_zh("Sent to a fever clinic"), exact=True).check()
    worker.locator("form.resolve").get_by_role("button", name=_zh("Resolve")).click()
    worker.wait_for_url(url + "/followup/alerts/")
    assert _zh("Alert resolved.") in worker.locator("ul.messages").inner_text()
    assert worker.locator(f"ul.alerts a[href='{href}']").count() == 0
    # Also raised by the same answer, and still open: the fever the resident reported.
    assert (worker.locator("ul.alerts li").filter(has_text=name)
            .filter(has=worker.locator("strong").get_by_text("自述发热", exact=True))
            .count() == 1)
    worker.get_by_role("link", name=_zh("Resolved"), exact=True).click()
    worker.wait_for_url(url + "/followup/alerts/?show=resolved")
    done = worker.locator(f"ul.alerts a[href='{href}']")
    assert done.count() == 1
    assert name in done.inner_text() and _zh("Sent to a fever clinic") in done.inner_text()

    # 3. The community secretary, on a desktop: the round's table counts it all.
    office = new_page(DESKTOP)
    _log_in(office, url, "community_secretary", password)
    office.goto(f"{url}/followup/rounds/{round_['round_id']}/")
    # One read of the whole table: the page swaps it every few seconds while the round runs.
    head, foot, grid_row = office.evaluate("""grid => {
        const t = document.querySelector('#round-table table.round-table');
        const texts = row => row ? Array.from(row.cells, c => c.innerText.trim()) : null;
        const mine = Array.from(t.tBodies[0].rows).find(
            r => r.cells[0].innerText.trim() === grid);
        return [texts(t.tHead.rows[0]), texts(t.tFoot.rows[0]), texts(mine)];
    }""", round_["grid"])
    total = dict(zip(head, foot, strict=True))
    in_grid = dict(zip(head, grid_row, strict=True))
    assert total[_zh("Area")] == _zh("Total")
    assert _number(total[_zh("Answered")]) == round_["answered"] + 1
    assert _number(total[_zh("Web")]) == round_["web"] + 1
    assert _number(total[_zh("Abnormal")]) == round_["abnormal"] + 1
    # The fever and the reported fever were raised; the fever was resolved.
    assert _number(total[_zh("Alerts open")]) == round_["alerts_open"] + 1
    assert _number(total[_zh("Resolved")]) == round_["alerts_resolved"] + 1 == 1
    assert _number(in_grid[_zh("Resolved")]) == 1
    assert _number(in_grid[_zh("Abnormal")]) >= 1

