"""A resident asks for medicine on their page; the grid worker gives it to a volunteer; the
volunteer takes it on, goes and hands it over with the resident's code; the resident's
page says it is done. Every step on a phone-sized window."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_grid_worker import log_in

pytestmark = pytest.mark.browser

SETUP = """
import json
import django
django.setup()
from fangkong.accounts.models import User
from fangkong.errands.models import Volunteer, VolunteerStatus
from fangkong.errands.resident_links import resident_link
from fangkong.lib import clock
from fangkong.residents.models import Resident
grid_worker = User.objects.select_related("area").get(username="grid_worker")
helper = User.objects.select_related("area").get(username="volunteer")
resident = (Resident.objects.filter(grid=grid_worker.area, status="active")
            .exclude(errands__isnull=False).order_by("pk").first())
if not Volunteer.objects.filter(user=helper).exists():
    Volunteer.objects.create(community=helper.area, user=helper, name="周志愿者",
                             phone_sealed=b"x", phone_index="browser-volunteer",
                             phone_masked="139****0000", skills=["medical"],
                             status=VolunteerStatus.VERIFIED, applied_at=clock.now())
print(json.dumps({"link": resident_link(resident.pk), "resident": resident.pk,
                  "helper_id": helper.pk}))
"""

STATE = """
import json
import django
django.setup()
from fangkong.errands.models import Errand
e = Errand.objects.filter(resident_id={resident}).order_by("-pk").first()
print(json.dumps({{"pk": e.pk, "status": e.status, "code": e.handover_code,
                  "helper": e.assigned_to_id, "items": [i.name for i in e.items.all()]}}))
"""


def test_resident_asks_worker_assigns_volunteer_delivers(app_server, server_python, new_page):
    from tests.browser.conftest import PHONE

    url, password = app_server["url"], app_server["password"]
    facts = server_python(SETUP)
    link = facts["link"].replace("http://127.0.0.1:8000", url)

    resident = new_page(PHONE)
    resident.goto(link)
    resident.locator("input[name=kind][value=medicine]").check()
    resident.locator("input[name=line1_name]").fill("硝苯地平缓释片")
    resident.locator("input[name=line1_strength]").fill("20mg")
    resident.locator("input[name=line1_quantity]").fill("2")
    resident.locator("input[name=urgency][value=today]").check()
    resident.locator("form button[type=submit].big").first.click()
    resident.wait_for_load_state()
    state = server_python(STATE.format(resident=facts["resident"]))
    assert state["status"] == "new" and state["items"] == ["硝苯地平缓释片"]
    # No sideways scrolling on a phone; the code is on the page for the hand-over.
    assert resident.evaluate("document.documentElement.scrollWidth") <= 390
    assert state["code"] in resident.locator("main").inner_text()

    worker = new_page(PHONE)
    log_in(worker, url, "grid_worker", password)
    worker.goto(url + "/errands/")
    worker.locator(f"main .list a[href='/errands/{state['pk']}/']").click()
    worker.wait_for_url(re.compile(rf".*/errands/{state['pk']}/$"))
    worker.locator("form:has(input[name=do][value=assign]) select[name=to]").select_option(
        value=str(facts["helper_id"]))
    worker.locator("form:has(input[name=do][value=assign]) button[type=submit]").click()
    worker.wait_for_load_state()
    assert server_python(STATE.format(resident=facts["resident"]))["helper"] == facts[
        "helper_id"]

    volunteer = new_page(PHONE)
    log_in(volunteer, url, "volunteer", password)
    volunteer.goto(url + "/errands/tasks/")
    volunteer.locator(f"main a[href='/errands/tasks/{state['pk']}/']").first.click()
    volunteer.wait_for_url(re.compile(rf".*/errands/tasks/{state['pk']}/$"))
    task_text = volunteer.locator("main").inner_text()
    assert "硝苯地平缓释片" in task_text and state["code"] not in task_text
    for step in ("accept", "buying", "delivering"):
        volunteer.locator(f"form:has(input[name=do][value={step}]) button[type=submit]").click()
        volunteer.wait_for_load_state()
    deliver = volunteer.locator("form:has(input[name=do][value=deliver])")
    deliver.locator("input[name=code]").fill(state["code"])
    deliver.locator("button[type=submit]").click()
    volunteer.wait_for_url(re.compile(r".*/errands/tasks/$"))
    assert server_python(STATE.format(resident=facts["resident"]))["status"] == "delivered"

    resident.reload()
    card = resident.locator(f"#errand-{state['pk']}")
    # Every step of the progress strip is done, and the code box is gone.
    steps = card.locator(".strip li")
    assert steps.count() >= 4
    assert {steps.nth(i).get_attribute("class") for i in range(steps.count())} == {"done"}
    assert card.locator(".handover").count() == 0
