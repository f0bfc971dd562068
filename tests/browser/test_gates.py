"""The guard at the gate, on a phone: a pass read from a photo of its code (the path a
phone without a camera stream takes, and how a test can show a code), green with the
person's masked name and room; a fever reading refused with the protocol on the screen,
and the alert in the grid worker's list. Then the network drops: the scan is kept on the
phone and sent when it comes back, and what was refused meanwhile is listed; an answer
lost on the way back is sent again and still recorded once. And a code that will not
scan: the person found by the last digits of their phone."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.browser.test_grid_worker import log_in

pytestmark = pytest.mark.browser

# A gate of the guard's community with the guard on duty, and passes for three residents
# of the grid worker's grid who may pass (green) today and have a phone.
SETUP = """
import json
import django
django.setup()
from fangkong.accounts.models import User
from fangkong.followup.channels.base import masked_name
from fangkong.lib import clock
from fangkong.passes.models import Gate
from fangkong.passes.services import pass_issue
from fangkong.passes.status import Colour, status_of_residents
from fangkong.passes.tokens import pass_token
from fangkong.residents.models import Resident
guard = User.objects.get(username="gate_guard")
worker = User.objects.get(username="grid_worker")
gate, _ = Gate.objects.get_or_create(community_id=guard.area_id, name="东门",
                                     defaults={"created_at": clock.now()})
gate.guards.add(guard)
people = []
for r in (Resident.objects.filter(grid_id=worker.area_id, status="active",
                                  community_id=guard.area_id, gate_pass__isnull=True,
                                  phone_index__isnull=False)
          .select_related("household").order_by("pk")):
    if status_of_residents([r]).colour == Colour.GREEN:
        p = pass_issue(resident=r, by=worker)
        people.append({"id": r.pk, "name": masked_name(r.name), "room": r.household.label,
                       "token": pass_token(p.pk, p.version), "last4": r.phone_last4})
    if len(people) == 3:
        break
print(json.dumps({"gate": gate.pk, "people": people}))
"""

PASSAGES = """
import json
import django
django.setup()
from fangkong.passes.models import Passage
rows = Passage.objects.filter(resident_id={resident}).order_by("pk")
print(json.dumps([{{"direction": r.direction, "result": r.result, "client_id": r.client_id,
                   "temperature": str(r.temperature), "guard": r.guard_id}} for r in rows]))
"""

# The scans waiting on the phone (one queue per gate and guard).
QUEUED = """() => Object.keys(localStorage).filter(k => k.endsWith('.queue'))
    .map(k => JSON.parse(localStorage.getItem(k)).length).join() === '{n}'"""


@pytest.fixture(scope="module")
def gate_facts(app_server, server_python) -> dict:
    return server_python(SETUP)


def _code_image(tmp_path: Path, token: str, name: str) -> Path:
    import segno

    path = tmp_path / f"{name}.png"
    segno.make(token, error="m").save(str(path), scale=8, border=4)
    return path


def _open_scanner(page, url: str, password: str, gate: int) -> None:  # noqa: ANN001
    log_in(page, url, "gate_guard", password)
    page.goto(url + "/gates/guard/")  # one gate: straight to its scanner
    page.wait_for_url(re.compile(rf".*/gates/guard/{gate}/$"))


def _temperature(page, digits: str) -> None:  # noqa: ANN001
    for d in digits:
        page.locator(f".g-keypad [data-digit='{d}']").click()


def test_guard_scans_a_pass_fever_refused_and_the_grid_worker_is_alerted(
        app_server, gate_facts, new_page, tmp_path):  # noqa: ANN001
    from tests.browser.conftest import PHONE

    url, password = app_server["url"], app_server["password"]
    person = gate_facts["people"][0]
    guard = new_page(PHONE)
    _open_scanner(guard, url, password, gate_facts["gate"])
    guard.locator("#g-in").click()
    assert guard.locator("#g-in").get_attribute("aria-pressed") == "true"
    # Every button of the page is a big target, for gloves.
    small = guard.evaluate("""[...document.querySelectorAll('button:not([hidden])')]
        .filter(b => b.offsetParent && b.getBoundingClientRect().height < 64).length""")
    assert small == 0
    assert guard.evaluate("document.documentElement.scrollWidth") <= 390
    Path("test-results").mkdir(exist_ok=True)
    guard.screenshot(path="test-results/gate-guard-scan.png", full_page=True)

    guard.set_input_files("#g-photo", str(_code_image(tmp_path, person["token"], "pass")))
    guard.locator("#g-verdict[data-colour=green]").wait_for()
    shown = guard.locator("#g-people").inner_text()
    assert person["name"] in shown and person["room"] in shown
    assert guard.locator("#g-record").is_disabled()  # no temperature yet
    _temperature(guard, "385")
    assert guard.locator("#g-temp-value").inner_text() == "38.5"
    guard.screenshot(path="test-results/gate-guard-temperature.png", full_page=True)
    guard.locator("#g-record").click()

    guard.locator("#g-protocol-box").wait_for()
    assert guard.locator("#g-verdict").get_attribute("data-colour") == "red"
    assert "38.5" in guard.locator("#g-reason").inner_text()
    assert guard.locator("#g-protocol li").count() >= 3
    assert guard.locator("#g-record").is_hidden()
    guard.screenshot(path="test-results/gate-guard-fever.png", full_page=True)

    worker = new_page(PHONE)
    log_in(worker, url, "grid_worker", password)
    worker.goto(url + "/followup/alerts/")
    alerts = worker.locator("main").inner_text()
    assert "东门" in alerts and "38.5" in alerts


def test_a_scan_made_offline_is_sent_once_when_the_network_is_back(
        app_server, gate_facts, server_python, new_page, tmp_path):  # noqa: ANN001
    from playwright.sync_api import expect

    from tests.browser.conftest import PHONE

    url, password = app_server["url"], app_server["password"]
    person = gate_facts["people"][1]
    guard = new_page(PHONE)
    _open_scanner(guard, url, password, gate_facts["gate"])
    guard.locator("#g-in").click()
    code = _code_image(tmp_path, person["token"], "pass2")
    queue_key = guard.evaluate("""() => Object.keys(localStorage)
        .filter(k => k.endsWith('.queue'))""")
    assert queue_key == []  # nothing waiting yet

    guard.context.set_offline(True)
    guard.set_input_files("#g-photo", str(code))
    guard.locator("#g-verdict[data-colour=offline]").wait_for()
    _temperature(guard, "365")
    guard.locator("#g-record").click()
    guard.wait_for_function(QUEUED.format(n=1))
    banner = guard.locator("#g-net")
    expect(banner).to_contain_text("1")  # one scan waiting
    guard.screenshot(path="test-results/gate-guard-offline.png", full_page=True)
    # A forged code cannot be told offline either: it is refused once it reaches us.
    guard.locator("#g-next").click()
    forged = _code_image(tmp_path, "FK1.1.1.AAAAAAAAAAAAAAAAAAAAAA", "forged")
    guard.set_input_files("#g-photo", str(forged))
    guard.locator("#g-verdict[data-colour=offline]").wait_for()
    _temperature(guard, "364")
    guard.locator("#g-record").click()
    guard.wait_for_function(QUEUED.format(n=2))
    expect(banner).to_contain_text("2")
    assert server_python(PASSAGES.format(resident=person["id"])) == []

    guard.context.set_offline(False)
    banner.wait_for(state="hidden", timeout=20_000)
    rows = server_python(PASSAGES.format(resident=person["id"]))
    assert [(r["direction"], r["result"], r["temperature"]) for r in rows] == [
        ("in", "passed", "36.5")]
    late = guard.locator("#g-late")
    late.wait_for()
    assert late.locator("h2").count() == 1 and "1" in late.locator("h2").inner_text()
    assert late.locator("li").count() == 2  # the heading, and the forged code's line
    guard.screenshot(path="test-results/gate-guard-back-online.png", full_page=True)
    late.locator("#g-late-seen").click()
    late.wait_for(state="hidden")

    # Going out: the server records the scan but its answer never comes back. The phone
    # keeps the scan and sends it again; the server answers with the one it has.
    guard.locator("#g-next").click()
    guard.locator("#g-out").click()
    lost = []

    def lose_the_answer(route):  # noqa: ANN001, ANN202
        route.fetch()  # reaches the server, which records it
        lost.append(route.request.post_data)
        route.abort()

    guard.route(re.compile(r".*/record/$"), lose_the_answer)
    guard.set_input_files("#g-photo", str(code))
    guard.locator("#g-verdict[data-colour=green]").wait_for()
    _temperature(guard, "366")
    guard.locator("#g-record").click()
    guard.wait_for_function(QUEUED.format(n=1))
    expect(banner).to_contain_text("1")
    guard.unroute(re.compile(r".*/record/$"))
    guard.evaluate("window.dispatchEvent(new Event('online'))")
    banner.wait_for(state="hidden", timeout=20_000)
    rows = server_python(PASSAGES.format(resident=person["id"]))
    assert [(r["direction"], r["result"]) for r in rows] == [("in", "passed"),
                                                              ("out", "passed")]
    assert json.loads(lost[0])["client_id"] == rows[1]["client_id"]
    assert len({r["client_id"] for r in rows}) == 2
    assert guard.evaluate(QUEUED.format(n=0))


def test_a_code_that_wont_scan_is_found_by_the_last_digits(app_server, gate_facts, new_page):  # noqa: ANN001
    from tests.browser.conftest import PHONE

    url, password = app_server["url"], app_server["password"]
    person = gate_facts["people"][2]
    guard = new_page(PHONE)
    _open_scanner(guard, url, password, gate_facts["gate"])
    guard.locator("#g-digits").fill(person["last4"])
    guard.locator("#g-find button[type=submit]").click()
    candidate = guard.locator("#g-candidates button", has_text=person["room"]).filter(
        has_text=person["name"]).first
    candidate.wait_for()
    assert candidate.bounding_box()["height"] >= 64
    candidate.click()
    guard.locator("#g-verdict[data-colour=green]").wait_for()
    assert person["room"] in guard.locator("#g-people").inner_text()
    guard.locator("#g-next").click()  # not recorded: the guard changed their mind
    guard.locator("#g-scan").wait_for()


def _camera_video(tmp_path: Path, token: str) -> Path:
    """A few frames of a webcam pointed at a pass (YUV4MPEG2, 4:2:0), for Chromium's
    fake camera."""
    import segno

    width, height, scale = 640, 480, 8
    matrix = segno.make(token, error="m").matrix
    size = len(matrix) * scale
    left, top = (width - size) // 2, (height - size) // 2
    luma = bytearray(b"\xeb" * (width * height))  # white paper
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    start = (top + y * scale + dy) * width + left + x * scale
                    luma[start:start + scale] = b"\x10" * scale
    chroma = b"\x80" * (width * height // 4)
    path = tmp_path / "camera.y4m"
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            out.write(b"FRAME\n" + bytes(luma) + chroma + chroma)
    return path


def test_the_camera_reads_a_pass_held_up_to_it(app_server, gate_facts, browser, chromium_path,  # noqa: ANN001
                                               tmp_path):
    """Chromium's fake camera shows a pass: the page reads it from the video's frames
    (BarcodeDetector where the browser has one, else jsQR) and checks it."""
    from tests.browser.conftest import CHROMIUM_ARGS, PHONE

    url, password = app_server["url"], app_server["password"]
    person = gate_facts["people"][2]
    video = _camera_video(tmp_path, person["token"])
    camera_browser = browser.browser_type.launch(
        executable_path=chromium_path, headless=True,
        args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream",
              "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}"])
    try:
        context = camera_browser.new_context(**PHONE, permissions=["camera"])
        guard = context.new_page()
        _open_scanner(guard, url, password, gate_facts["gate"])
        guard.locator("#g-camera").click()
        try:
            guard.locator("#g-verdict[data-colour=green]").wait_for(timeout=20_000)
        except Exception:
            Path("test-results").mkdir(exist_ok=True)
            guard.screenshot(path="test-results/gate-guard-camera-failed.png", full_page=True)
            raise
        assert person["room"] in guard.locator("#g-people").inner_text()
        guard.locator("#g-next").click()  # not recorded
        # The same code still held up is not read again (it would count as a replay).
        guard.wait_for_timeout(3500)
        assert guard.locator("#g-scan").is_visible()
        context.close()
    finally:
        camera_browser.close()
