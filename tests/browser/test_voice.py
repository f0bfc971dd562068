"""The needs-checking list of robot calls, on a grid worker's phone: a resident's answer
the robot could not make out is played in the browser (a real WAV, decrypted by the
server) and recorded in two taps; the answer raises its alert as if the robot had
understood it."""

from __future__ import annotations

import pytest
from django.utils import translation

from tests.browser.conftest import PHONE

pytestmark = pytest.mark.browser

# A round of the secretary's community's daily health campaign, and for one resident of
# the grid worker's grid a robot call that got "no fever" and "no other symptoms" but left
# the cough question unclear, with what they said: 1.5 s of sound, stored sealed as the
# line machine stores it.
ARRANGE = """
import io, json, math, wave
from array import array
from datetime import timedelta
import django
django.setup()
from fangkong.accounts.models import User
from fangkong.followup.channels.base import Recording
from fangkong.followup.models import CallRecording, Contact, Questionnaire
from fangkong.followup.answers import contacts_answer
from fangkong.followup.recordings import recordings_store
from fangkong.followup.rounds import round_open
from fangkong.followup.services import CampaignInput, campaign_create, campaign_start
from fangkong.lib import clock

secretary = User.objects.select_related("area").get(username="community_secretary")
grid = User.objects.select_related("area").get(username="grid_worker").area
version = Questionnaire.objects.get(slug="daily_health").versions.order_by("-number").first()
campaign = campaign_start(by=secretary, campaign=campaign_create(by=secretary, data=CampaignInput(
    name="语音随访", purpose="疫情防控每日健康随访", area=secretary.area, version=version,
    times=["09:00"], starts_on=clock.local_today(),
    plan=[{"channel": "voice", "at": 0}, {"channel": "visit", "at": 300}])))
round_ = round_open(campaign=campaign, scheduled_for=clock.now() - timedelta(minutes=1))
contact = (Contact.objects.filter(round=round_, grid=grid).select_related("resident")
           .order_by("pk").first())
contacts_answer([(contact, {"fever": False, "symptoms": []}, "voice")], now=clock.now())
samples = array("h", (int(9000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(12000)))
out = io.BytesIO()
with wave.open(out, "wb") as sound:
    sound.setnchannels(1); sound.setsampwidth(2); sound.setframerate(8000)
    sound.writeframes(samples.tobytes())
recordings_store(items=[(contact, f"{contact.pk}.0.1", Recording(
    contact_id=contact.pk, question_key="cough", wav=out.getvalue(), seconds=1.5,
    unclear=True))], now=clock.now())
recording = CallRecording.objects.get(contact=contact)
print(json.dumps({"recording_id": recording.pk, "contact_id": contact.pk,
                  "name": contact.resident.name}))
"""

AFTER = """
import json
import django
django.setup()
from fangkong.followup.models import Alert, CallRecording, Contact
contact = Contact.objects.get(pk=%(contact_id)d)
recording = CallRecording.objects.get(pk=%(recording_id)d)
print(json.dumps({"answers": contact.answers, "state": contact.state,
                  "needs_check": recording.needs_check,
                  "checked_by": recording.checked_by.username if recording.checked_by else "",
                  "alerts": list(Alert.objects.filter(contact=contact)
                                 .values_list("title", flat=True))}))
"""


def _zh(message: str) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(message)


def test_a_grid_worker_listens_to_an_unclear_answer_and_records_it_in_two_taps(
        app_server, server_python, new_page):  # noqa: ANN001
    url, password = app_server["url"], app_server["password"]
    made = server_python(ARRANGE)

    page = new_page(PHONE)
    page.goto(url + "/accounts/login/")
    page.get_by_label("用户名").fill("grid_worker")
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(url + "/")
    page.goto(url + "/followup/alerts/")
    page.get_by_role("link", name=_zh("Recordings to check")).click()
    page.wait_for_url(url + "/followup/recordings/")
    item = page.locator(f"#r{made['recording_id']}")
    assert made["name"] not in item.inner_text()  # masked
    assert "咳嗽" in item.locator(".question").inner_text()

    # Tap 1: the recording plays in the browser (its 1.5 s, decrypted by the server).
    seconds = item.locator("audio").evaluate("""audio => new Promise((done, fail) => {
        audio.addEventListener("loadedmetadata", () => done(audio.duration));
        audio.addEventListener("error", () => fail(new Error("audio failed to load")));
        audio.load();
    })""")
    assert abs(seconds - 1.5) < 0.05
    overflow = page.evaluate("document.documentElement.scrollWidth - screen.width")
    assert overflow <= 1

    # Tap 2: "yes, a cough".
    item.get_by_role("button", name=_zh("Yes"), exact=True).click()
    page.wait_for_load_state()
    assert page.locator(f"#r{made['recording_id']}").count() == 0

    after = server_python(AFTER % made)
    assert after["answers"]["cough"] == [True, "voice"]
    assert after["state"] == "answered"  # the questionnaire is complete now
    assert (after["needs_check"], after["checked_by"]) == (False, "grid_worker")
    assert after["alerts"] == ["有呼吸道等症状"]  # the rules ran as for the robot's answer
