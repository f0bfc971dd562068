"""Browser tests: the real stack (`fangkong serve`: uvicorn + embedded worker) on a
scratch database of its own, driven by Playwright in Debian's Chromium.

Never downloads a browser: Chromium comes from the system (/usr/bin/chromium, installed
by .ci/run). Without it the browser tests are skipped, unless FANGKONG_REQUIRE_BROWSER=1
(CI), where they fail instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("FANGKONG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
# Browser contexts: a cheap Android phone, and an office desktop. Chinese first.
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1366, "height": 900}, "locale": "zh-CN"}
SETUP = """
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.factories import build_city, PASSWORD
from fangkong.accounts.models import User
from fangkong.lib import crypto
from fangkong.residents.models import Resident
build_city()
grid = User.objects.get(username="grid_worker")
r = (Resident.objects.filter(grid_id=grid.area_id, phone_index__isnull=False)
     .order_by("pk").first())
json.dump({"password": PASSWORD, "resident_id": r.pk, "name": r.name,
           "last4": r.phone_last4, "phone_masked": r.phone_masked,
           "phone": crypto.unseal(bytes(r.phone_sealed), purpose="phone"),
           "id_number_masked": r.id_number_masked}, sys.stdout)
"""


def _run_python(code: str, *, env: dict[str, str], root: Path) -> dict:
    """Run a Python snippet with the server's settings (database, keys, var/ folder) and
    return the JSON object it prints last (logging goes to stderr)."""
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True,
                          text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"setup snippet failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium fonts-wqy-zenhei)"
        if os.environ.get("FANGKONG_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def app_server(chromium_path: str) -> Iterator[dict]:
    """Start `fangkong serve` on a free port against a scratch database; yield its URL, the
    facts the tests need and `env`, the environment that reaches the server's database
    (see `server_python`). PostgreSQL when DATABASE_URL says so, else SQLite."""
    root = Path(__file__).resolve().parents[2]
    var = Path(tempfile.mkdtemp(prefix="fangkong-browser-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # FANGKONG_PUBLIC_URL: the links the follow-up robot hands out lead to this server.
    env = {**os.environ, "FANGKONG_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE":
           "fangkong.settings", "PYTHONPATH": str(root), "FANGKONG_PUBLIC_URL": url}
    scratch_db = None
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        import psycopg

        scratch_db = f"fangkong_browser_{os.getpid()}"
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch_db}"')
            conn.execute(f'CREATE DATABASE "{scratch_db}"')
        env["DATABASE_URL"] = f"{base}/{scratch_db}"
    else:
        env.pop("DATABASE_URL", None)
    facts = _run_python(SETUP, env=env, root=root)
    log = open(var / "serve.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "fangkong.cli", "serve", "--port", str(port), "--no-migrate"],
        env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/accounts/login/", timeout=2)  # noqa: S310
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("fangkong serve did not start: "
                                       + (var / "serve.log").read_text()[-2000:]) from None
                time.sleep(0.3)
        yield {"url": url, **facts, "env": env}
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
        if scratch_db:
            import psycopg

            with psycopg.connect(base + "/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch_db}" WITH (FORCE)')
        shutil.rmtree(var, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(chromium_path: str):
    """Module-scoped: Playwright's sync API runs an event loop in this thread while it is
    open, and Django refuses database calls from a thread with a running loop, so it must
    be closed before the rest of the suite goes on."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True,
                                    args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def server_python(app_server: dict) -> Callable[[str], dict]:
    """Run a Python snippet against the running server's database, as SETUP does (call
    `django.setup()` first, print one JSON object last); returns that object. For a test's
    own arrangements, made after the server has started."""
    root = Path(__file__).resolve().parents[2]
    return lambda code: _run_python(code, env=app_server["env"], root=root)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201
    report = yield
    if report.when == "call":
        item.call_failed = report.failed
    return report


@pytest.fixture
def new_page(browser, request):  # noqa: ANN001, ANN201
    """`new_page(PHONE)` or `new_page(DESKTOP)`: a page in a fresh context (its own
    cookies). Each page is saved to test-results/ when the test fails."""
    contexts = []

    def make(options: dict | None = None):  # noqa: ANN202
        context = browser.new_context(**(options or PHONE))
        contexts.append(context)
        return context.new_page()

    yield make
    for n, context in enumerate(contexts):
        if getattr(request.node, "call_failed", False):
            Path("test-results").mkdir(exist_ok=True)
            for page in context.pages:
                with contextlib.suppress(Exception):  # the failure itself is what matters
                    page.screenshot(path=f"test-results/{request.node.name}-{n}.png",
                                    full_page=True)
        context.close()


@pytest.fixture
def phone_page(new_page):  # noqa: ANN001, ANN201
    """A phone-sized page (a cheap Android phone), Chinese first."""
    return new_page(PHONE)
