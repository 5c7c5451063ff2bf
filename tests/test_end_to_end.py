"""The whole product over real HTTP: `kite_app.py --sandbox` as a process, scripts as processes.

No mocks: the official kiteconnect client talks to the sandbox through waitress on loopback.
"""

import json
import re
import subprocess
import sys
import time

import pyotp
import pytest
import requests
from dotenv import dotenv_values

from errors import SessionExpiredError
from kite_api import KiteAPI
from kite_client import NO_RETRY
from settings import PROJECT_DIR, load_settings
from test_entrypoint import free_port, wait_until_up

pytestmark = pytest.mark.e2e
CODE = "e2e-access-code-2468"


class Service:
    def __init__(self, tmp, process, port, sandbox_port):
        self.tmp, self.process = tmp, process
        self.url = f"http://127.0.0.1:{port}"
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.sandbox_dir = tmp / "sandbox"
        self.log_dir = tmp / "logs"

    @property
    def demo(self) -> dict:
        return json.loads((self.sandbox_dir / "credentials.json").read_text())

    def log(self) -> str:
        return "".join(p.read_text() for p in sorted(self.log_dir.glob("*.log")))

    def wait_for_log(self, pattern, timeout=15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log())
            if match:
                return match.group(0)
            time.sleep(0.2)
        raise AssertionError(f"log never showed {pattern!r}:\n{self.log()[-3000:]}")

    def login_at_kite(self) -> str:
        """Log in at the sandbox's Kite page with a login URL from /api/url; returns the redirect address."""
        url = requests.get(f"{self.url}/api/url", params={"code": CODE}, timeout=5).json()["url"]
        demo = self.demo
        form = {
            "user_id": demo["user_id"],
            "password": demo["password"],
            "twofa_value": pyotp.TOTP(demo["totp_secret"]).now(),
        }
        redirect = requests.post(url, data=form, allow_redirects=False, timeout=5)
        assert redirect.status_code == 302
        return redirect.headers["Location"]

    def login(self) -> dict:
        """One click: the browser follows Kite's redirect to /api/callback, which saves the session."""
        location = self.login_at_kite()
        assert location.startswith(f"{self.url}/api/callback?")
        page = requests.get(location, timeout=10)
        assert page.status_code == 200 and page.url == f"{self.url}/login?done=1", page.text
        assert "Logged in as" in page.text and CODE not in page.text
        return self.status()["session"]

    def login_by_hand(self) -> dict:
        """The manual path: copy request_token from the redirect address into /api/token."""
        request_token = re.search(r"request_token=([^&]+)", self.login_at_kite()).group(1)
        answer = requests.get(
            f"{self.url}/api/token", params={"code": CODE, "request_token": request_token}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def status(self) -> dict:
        return requests.get(f"{self.url}/api/status", headers={"X-Access-Code": CODE}, timeout=5).json()

    def kite_api(self, **kwargs) -> KiteAPI:
        return KiteAPI(load_settings(dotenv_values(self.sandbox_dir / "sandbox.env")), **kwargs)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    (tmp / "empty.env").write_text("")
    port, sandbox_port = free_port(), free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "CODE": CODE,
        "LOG_DIR": str(tmp / "logs"),
        "ORDER_POLL_SECONDS": "1",
        "KITE_APP_ENV_FILE": str(tmp / "empty.env"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            str(PROJECT_DIR / "kite_app.py"),
            "--sandbox",
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
            "--sandbox-dir",
            str(tmp / "sandbox"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until_up(port, process)
    yield Service(tmp, process, port, sandbox_port)
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr


def test_login_script_orders_and_scheduler_transitions(service):
    answer = service.login()
    assert answer["state"] == "valid" and answer["user_id"] == service.demo["user_id"]
    session = json.loads((service.sandbox_dir / "session.json").read_text())
    assert set(session) == {
        "user_id",
        "user_name",
        "api_key",
        "access_token",
        "public_token",
        "login_time",
        "created_at",
        "expires_at",
    }
    assert session["expires_at"].endswith("06:00:00+05:30")

    script = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "examples" / "place_order.py")],
        env={
            "PATH": "/usr/bin:/bin",
            "KITE_APP_ENV_FILE": str(service.sandbox_dir / "sandbox.env"),
            "LOG_DIR": str(service.log_dir),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0, script.stderr
    market_id, limit_id = re.search(r"market order (\d+), limit order (\d+)", script.stdout).groups()
    assert "position INFY" in script.stdout or "OPEN" in script.stdout

    service.wait_for_log(rf"Order {market_id} placed: BUY 1 NSE:INFY MARKET")
    service.wait_for_log(rf"Order {market_id} COMPLETE: BUY 1 NSE:INFY filled 1/1 @ [\d.]+")
    service.wait_for_log(rf"Order {limit_id} placed: BUY 1 NSE:INFY LIMIT, status OPEN")
    time.sleep(1.5)
    log = service.log()
    # Once, however many polls ran and although the sandbox's postback reported it too:
    assert log.count(f"Order {market_id} COMPLETE") == 1
    assert session["access_token"] not in log and CODE not in log

    positions = service.kite_api().get_positions()["net"]
    assert any(p["tradingsymbol"] == "INFY" and p["quantity"] >= 1 for p in positions)


def test_burst_of_quotes_through_kiteapi_gets_no_429(service):
    api = service.kite_api(retry=NO_RETRY)  # a 429 would raise, not be retried away
    started = time.monotonic()
    prices = [api.ltp("NSE:INFY")["NSE:INFY"]["last_price"] for _ in range(4)]
    elapsed = time.monotonic() - started
    assert all(p > 0 for p in prices)
    assert elapsed >= 3.0  # Kite allows one quote call a second; the client waited instead of failing


def test_expired_token_raises_session_expired_with_relogin_hint(service):
    demo = service.demo
    requests.post(
        f"{service.sandbox_url}/sandbox/control/expire-sessions", json={"api_secret": demo["api_secret"]}, timeout=5
    ).raise_for_status()
    with pytest.raises(SessionExpiredError, match=r"log in again: curl the login URL from /api/url"):
        service.kite_api().get_orders()
    service.wait_for_log(r"Order check paused: Kite session expired: Kite rejected the access token")


def test_logout_is_detected_by_the_next_poll_and_logged_once(service):
    assert service.login_by_hand()["user_id"] == service.demo["user_id"]  # the manual path still works
    service.wait_for_log(r"Order check resumed")
    before = service.log().count("Order check paused")
    assert service.kite_api().kite.invalidate_access_token() is True  # the raw client, as scripts use it
    service.wait_for_log(r"(?s)Order check resumed.*Order check paused: Kite session expired")
    time.sleep(3)  # three more polls
    assert service.log().count("Order check paused") == before + 1
