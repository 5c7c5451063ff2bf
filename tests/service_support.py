"""`kite_app.py --sandbox` as a real process, for end-to-end and browser tests."""

import json
import re
import subprocess
import sys
import time

import pyotp
import requests
from dotenv import dotenv_values

from conftest import clock_env, free_port, free_sandbox_port
from kite_api import KiteAPI
from kite_service.config.settings import PROJECT_DIR, load_settings
from test_entrypoint import wait_until_up

CODE = "e2e-access-code-2468"


class Service:
    """A running `kite_app.py --sandbox` and what a user (or a test) does with it."""

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

    def login_at_kite(self, browser: requests.Session | None = None) -> str:
        """Log in at the sandbox's Kite page; returns the redirect address. With `browser` (a session
        keeping cookies) the login starts on /login as in a browser, else with /api/url as with curl."""
        if browser is not None:
            started = browser.post(f"{self.url}/login", data={"code": CODE}, allow_redirects=False, timeout=5)
            assert started.status_code == 303, started.text
            url = started.headers["Location"]
        else:
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
        browser = requests.Session()
        location = self.login_at_kite(browser)
        assert location.startswith(f"{self.url}/api/callback?")
        page = browser.get(location, timeout=10)
        assert page.status_code == 200 and page.url.startswith(f"{self.url}/login?done="), page.text
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

    def health(self) -> dict:
        return requests.get(f"{self.url}/health", timeout=5).json()

    def status(self) -> dict:
        return requests.get(f"{self.url}/api/status", headers={"X-Access-Code": CODE}, timeout=5).json()

    def kite_api(self, **kwargs) -> KiteAPI:
        return KiteAPI(load_settings(dotenv_values(self.sandbox_dir / "sandbox.env")), **kwargs)

    def stop(self) -> str:
        """SIGTERM, then wait; returns stderr after checking for a clean exit."""
        self.process.terminate()
        self.process.wait(timeout=30)
        stderr = self.stderr()
        assert self.process.returncode == 0 and "Traceback" not in stderr, stderr
        return stderr

    def stderr(self) -> str:
        return (self.tmp / "stderr.txt").read_text()


def start_service(tmp, extra_env=None, extra_args=()) -> Service:
    """Start the service on the built-in sandbox, on free ports, with every file under `tmp`."""
    (tmp / "empty.env").write_text("")
    port = free_port()
    sandbox_port = free_sandbox_port(avoid=port)
    env = {
        "PATH": "/usr/bin:/bin",
        **clock_env(),
        "KITE_APP_CODE": CODE,
        "LOG_DIR": str(tmp / "logs"),
        "ORDER_POLL_SECONDS": "1",
        "KITE_APP_ENV_FILE": str(tmp / "empty.env"),
        "TICKER_HUB_PORT": str(free_port()),
        **(extra_env or {}),
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
            *extra_args,
        ],
        env=env,
        # Files, not pipes: an undrained pipe fills up and then blocks every thread that logs.
        stdout=(tmp / "stdout.txt").open("w"),
        stderr=(tmp / "stderr.txt").open("w"),
        text=True,
    )
    try:
        wait_until_up(port, process)
    except AssertionError:
        process.kill()
        raise AssertionError((tmp / "stderr.txt").read_text()) from None
    return Service(tmp, process, port, sandbox_port)
