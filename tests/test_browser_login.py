"""The daily login as a person does it: headless Chromium, the /login page, the sandbox's Kite page.

Needs Chromium (Debian's `chromium`, or CHROMIUM_PATH). `.ci/run` installs it and sets
KITE_APP_REQUIRE_BROWSER=1, so there a missing browser fails the run instead of skipping.
Screenshots of each final page go to test-artifacts/screenshots/ (ignored by git), or under
KITE_APP_ARTIFACTS: `KITE_APP_ARTIFACTS=artifacts` regenerates the README's screenshots.
"""

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlencode

import pyotp
import pytest

from kite_service.config.settings import PROJECT_DIR
from service_support import CODE, start_service

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    candidates = [os.environ.get("CHROMIUM_PATH"), "chromium", "chromium-browser", "google-chrome"]
    return next((found for c in candidates if c and (found := shutil.which(c))), None)


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        message = "Chromium not found: install Debian's `chromium` package or set CHROMIUM_PATH"
        if os.environ.get("KITE_APP_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    service = start_service(tmp_path_factory.mktemp("browser"))
    yield service
    service.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(java_script_enabled=False)  # the pages must work without it
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    folder = Path(os.environ.get("KITE_APP_ARTIFACTS") or PROJECT_DIR / "test-artifacts") / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in_at_kite(page, service):
    demo = service.demo
    page.get_by_label("User ID").fill(demo["user_id"])
    page.get_by_label("Password").fill(demo["password"])
    page.get_by_label("TOTP (6 digits)").fill(pyotp.TOTP(demo["totp_secret"]).now())
    page.get_by_role("button", name="Login").click()


def test_one_click_login_in_a_real_browser(page, service):
    page.goto(f"{service.url}/login")
    assert "Not logged in yet" in page.locator("#session-state").inner_text()
    page.get_by_label("Access code").fill(CODE)
    page.get_by_role("button", name="Log in with Kite").click()
    assert page.url.startswith(f"{service.sandbox_url}/connect/login?")  # at "Kite", with our state
    log_in_at_kite(page, service)
    page.wait_for_url(re.compile(re.escape(f"{service.url}/login?done=") + ".+"))
    state = page.locator("#session-state").inner_text()
    assert f"Logged in as {service.demo['user_id']}" in state or f"({service.demo['user_id']})" in state
    assert "until 06:00 IST on" in state
    assert page.get_by_role("status").inner_text().startswith("Login complete")
    assert page.get_by_label("Access code").count() == 0  # nothing more to do: no form under "Login complete"
    html = page.content()
    assert CODE not in html and service.demo["api_secret"] not in html
    assert screenshot(page, "login-complete").stat().st_size > 0
    assert service.status()["session"]["state"] == "valid"


def test_wrong_access_code_stays_on_the_page(page, service):
    page.goto(f"{service.url}/login")
    page.get_by_label("Access code").fill("not-the-code-1")
    page.get_by_role("button", name="Log in with Kite").click()
    assert page.get_by_role("alert").inner_text() == "That access code is wrong. Try again."
    assert page.url == f"{service.url}/login"
    screenshot(page, "wrong-access-code")


def test_forged_callback_is_refused(page, service):
    before = (
        (service.sandbox_dir / "session.json").read_bytes() if (service.sandbox_dir / "session.json").exists() else None
    )
    query = urlencode({"request_token": "forgedtoken1", "status": "success", "state": "forged.1999999999.abcd"})
    response = page.goto(f"{service.url}/api/callback?{query}")
    assert response.status == 403
    assert page.get_by_role("heading").inner_text() == "Login refused"
    assert "not issued by this service" in page.get_by_role("alert").inner_text()
    screenshot(page, "forged-callback")
    after = (
        (service.sandbox_dir / "session.json").read_bytes() if (service.sandbox_dir / "session.json").exists() else None
    )
    assert after == before


def test_replayed_callback_is_refused(page, service):
    page.goto(f"{service.url}/login")
    page.get_by_label("Access code").fill(CODE)
    page.get_by_role("button", name="Log in with Kite").click()
    callback_urls = []
    page.on("request", lambda r: callback_urls.append(r.url) if "/api/callback" in r.url else None)
    log_in_at_kite(page, service)
    page.wait_for_url(re.compile(re.escape(f"{service.url}/login?done=") + ".+"))
    session_before = (service.sandbox_dir / "session.json").read_bytes()
    response = page.goto(callback_urls[0])  # the same redirect once more, state and all
    assert response.status == 403
    assert "already used" in page.get_by_role("alert").inner_text()
    screenshot(page, "replayed-callback")
    assert (service.sandbox_dir / "session.json").read_bytes() == session_before
