"""Fixtures for the sandbox: a fresh demo account, a controllable clock, a logged-in client."""

import json
import os
import re
import shutil
import subprocess
import time
from datetime import datetime, timedelta

import pyotp
import pytest

from kite_sandbox.accounts import DemoCredentials
from kite_sandbox.server import create_sandbox_app
from kite_service.clock import IST
from kite_service.config.settings import PROJECT_DIR


class Clock:
    """A clock that stands still until the test advances it."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


class RunningClock:
    """A fixed moment that then runs in real time: for parts that wait on real sockets and timers, and
    still must not see the real date or time of day (a session logged in at 05:59 ends at 06:00). Its
    seconds turn with the real ones (the sandbox's ticker sends each second's ticks as the second begins).
    It reads the same system clock as the ticker: a second clock read apart from it (the monotonic one)
    could be read milliseconds later when the thread is switched out, and its seconds would then turn
    that much after the ticker's."""

    def __init__(self, start):
        self._start, self._origin = start, float(int(time.time()))

    def __call__(self):
        return self._start + timedelta(seconds=time.time() - self._origin)


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 20, 10, 0, tzinfo=IST))


@pytest.fixture
def running_clock(clock):
    """Starts where `clock` stands (a weekday, 10:00 IST) and runs in real time."""
    return RunningClock(clock.now)


@pytest.fixture
def demo(tmp_path):
    return DemoCredentials.load_or_create(tmp_path / "sandbox", "http://app.test/callback?x=1")


@pytest.fixture
def sandbox_app(demo, clock):
    return create_sandbox_app(demo, clock=clock)


@pytest.fixture
def market(sandbox_app):
    """The sandbox's market: prices to pin, instruments to find."""
    return sandbox_app.extensions["kite_sandbox"].market


def cheap_nifty_call(market):
    """The nearest expiry's first NIFTY call 3 % out of the money: a cheap option to buy many lots of."""
    spot = market.price(market.by_symbol("NSE", "NIFTY 50"))
    calls = [
        i for i in market.instruments if i.name == "NIFTY" and i.instrument_type == "CE" and i.strike > spot * 1.03
    ]
    return min(calls, key=lambda i: (i.expiry, i.strike))


@pytest.fixture
def sandbox(sandbox_app):
    return sandbox_app.test_client()


def log_in(client, demo, redirect_params=None) -> str:
    """Complete the login form as a browser would; returns the request_token."""
    url = f"/connect/login?api_key={demo.api_key}&v=3" + (
        f"&redirect_params={redirect_params}" if redirect_params else ""
    )
    form = {"user_id": demo.user_id, "password": demo.password, "twofa_value": pyotp.TOTP(demo.totp_secret).now()}
    response = client.post(url, data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    return re.search(r"request_token=([^&]+)", response.headers["Location"]).group(1)


def exchange(client, demo, request_token):
    import hashlib

    checksum = hashlib.sha256((demo.api_key + request_token + demo.api_secret).encode()).hexdigest()
    return client.post(
        "/session/token",
        data={"api_key": demo.api_key, "request_token": request_token, "checksum": checksum},
        headers={"X-Kite-Version": "3"},
    )


@pytest.fixture
def auth(sandbox, demo) -> dict:
    """Headers of a logged-in Kite client."""
    access_token = exchange(sandbox, demo, log_in(sandbox, demo)).get_json()["data"]["access_token"]
    return {"X-Kite-Version": "3", "Authorization": f"token {demo.api_key}:{access_token}"}


def place(client, auth, variety="regular", **fields):
    """POST an order (a market buy of 1 NSE:INFY for CNC, with Kite's automatic market protection,
    unless told otherwise)."""
    order = {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "quantity": 1,
        "product": "CNC",
        "order_type": "MARKET",
        "market_protection": -1,
        **fields,
    }
    order = {name: value for name, value in order.items() if value is not None}
    return client.post(f"/orders/{variety}", data=order, headers=auth)


@pytest.fixture
def sandbox_root(sandbox_app):
    """The sandbox app served over real HTTP on a free loopback port; its root URL."""
    from kite_sandbox.serving import start_in_background

    server = start_in_background(sandbox_app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


def official_client_login(root: str, demo):
    """The official kiteconnect client, logged in at the sandbox the way a user's script would be."""
    from kite_service.kite.sdk import KiteConnect  # kiteconnect's own KiteConnect class (without its ticker import)

    kite = KiteConnect(demo.api_key, root=root)
    kite.set_access_token(kite.generate_session(log_in_request_token(root, demo), demo.api_secret)["access_token"])
    return kite


def log_in_request_token(root: str, demo) -> str:
    """Complete the sandbox's login form over HTTP, as the user's browser would; returns the request_token."""
    import requests

    form = {"user_id": demo.user_id, "password": demo.password, "twofa_value": pyotp.TOTP(demo.totp_secret).now()}
    redirect = requests.post(
        f"{root}/connect/login?api_key={demo.api_key}&v=3", data=form, allow_redirects=False, timeout=5
    )
    return re.search(r"request_token=([^&]+)", redirect.headers["Location"]).group(1)


@pytest.fixture
def official_kite(sandbox_root, demo):
    """The official kiteconnect client, logged in at the sandbox over real HTTP."""
    return official_client_login(sandbox_root, demo)


def place_market_buy(kite) -> str:
    """A market buy of 1 NSE:INFY for CNC with Kite's automatic protection, through a kiteconnect client."""
    return kite.place_order(
        variety="regular",
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="BUY",
        quantity=1,
        product="CNC",
        order_type="MARKET",
        market_protection=-1,
    )


JS_CLIENT = PROJECT_DIR / "tests" / "js"


@pytest.fixture(scope="module")
def node():
    """The `node` command, with the official JavaScript client (npm `kiteconnect`, pinned in tests/js)."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("KITE_APP_REQUIRE_NODE"):
            pytest.fail("node not found: CI installs Node.js to test the official JavaScript client")
        pytest.skip("Node.js not found: install node and npm to test the official JavaScript client")
    if not (JS_CLIENT / "node_modules" / "kiteconnect").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_CLIENT, check=True, timeout=600)
    return node


def javascript_ticker_run(node, api_key: str, access_token: str, root: str, mode: str, rest_kite) -> tuple:
    """The JavaScript client's KiteTicker (tests/js/ticker_probe.js) on `root` in `mode` while `rest_kite`
    places a market buy; (what it saw, its stderr)."""
    probe = subprocess.Popen(
        [node, "ticker_probe.js", api_key, access_token, root, mode],
        cwd=JS_CLIENT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.5)  # connected and subscribed
    place_market_buy(rest_kite)
    stdout, stderr = probe.communicate(timeout=30)
    return json.loads(stdout.strip().splitlines()[-1]), stderr


@pytest.fixture
def sent(sandbox_app):
    """The order placements the sandbox received, each its form. Ask for it before make_api (Flask
    takes hooks only before its first request)."""
    from flask import request

    seen = []

    @sandbox_app.after_request
    def note(response):
        if request.method == "POST" and request.path.startswith("/orders/"):
            seen.append(dict(request.form))
        return response

    return seen


@pytest.fixture
def make_api(tmp_path, config, demo, official_kite, clock):
    """make_api(): a KiteAPI of its own (its own cache connection) on one data folder, calling the sandbox."""
    from conftest import FAST_RETRY, make_session
    from kite_api import KiteAPI
    from kite_service.config.settings import load_settings
    from kite_service.kite.rate_limit import kite_limiters
    from kite_service.login.session_store import SessionStore

    credentials = tmp_path / "demo_credentials.json"
    credentials.write_text(json.dumps({"api_key": demo.api_key, "api_secret": demo.api_secret}))
    # Long histories: 60 days of minute candles take the sandbox a second or more on a busy machine
    values = {**config, "CREDENTIALS_FILE": str(credentials), "KITE_API_ROOT": official_kite.root, "KITE_TIMEOUT": "30"}
    settings = load_settings(values)
    SessionStore(settings.session_file).save(
        make_session(official_kite.access_token, login_time=clock.now, api_key=demo.api_key)
    )

    def make() -> KiteAPI:
        return KiteAPI(settings, clock=clock, retry=FAST_RETRY, limiters=kite_limiters(), through_gateway=False)

    return make
