"""The whole product over real HTTP: `kite_app.py --sandbox` as a process, scripts as processes.

No mocks: the official kiteconnect client talks to the sandbox through waitress on loopback.
"""

import json
import re
import subprocess
import sys
import time

import pytest
import requests

from conftest import clock_env
from kite_service.config.settings import PROJECT_DIR
from kite_service.errors import SessionExpiredError
from kite_service.kite.client import NO_RETRY
from service_support import CODE, start_service

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    service = start_service(tmp_path_factory.mktemp("e2e"))
    yield service
    service.stop()


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
            **clock_env(),
            "KITE_APP_ENV_FILE": str(service.sandbox_dir / "sandbox.env"),
            "LOG_DIR": str(service.log_dir),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0, script.stderr
    market_id, limit_id = re.search(r"market order (\d+), limit order (\d+)", script.stdout).groups()
    # What the script prints: both orders, the limit one resting; the market one fills 2 s after it was
    # placed, so it may show OPEN, or COMPLETE with its position, or OPEN then the position of its fill.
    header, market_line, limit_line, *position_lines = script.stdout.splitlines()
    assert header == f"market order {market_id}, limit order {limit_id}"
    shown = re.fullmatch(rf"  {market_id}  (OPEN|COMPLETE) +BUY 1 INFY MARKET", market_line)
    assert shown, market_line
    market_status = shown.group(1)
    assert market_line == f"  {market_id}  {market_status:<12} BUY 1 INFY MARKET"
    assert limit_line == f"  {limit_id}  OPEN         BUY 1 INFY LIMIT"
    assert len(position_lines) <= 1
    if market_status == "COMPLETE":
        assert position_lines, "a filled market order, and no position"
    for line in position_lines:
        assert re.fullmatch(r"  position INFY: 1 @ \d+(\.\d+)?", line), line

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
    service.login()  # a session of its own: tests of this module may run in any order, on any worker
    api = service.kite_api(retry=NO_RETRY)  # a 429 would raise, not be retried away
    started = time.monotonic()
    prices = [api.ltp("NSE:INFY")["NSE:INFY"]["last_price"] for _ in range(4)]
    elapsed = time.monotonic() - started
    assert all(p > 0 for p in prices)
    assert elapsed >= 3.0  # Kite allows one quote call a second; the client waited instead of failing


def test_expired_token_raises_session_expired_with_relogin_hint(service):
    service.login()  # a session of its own to expire
    demo = service.demo
    requests.post(
        f"{service.sandbox_url}/sandbox/control/expire-sessions", json={"api_secret": demo["api_secret"]}, timeout=5
    ).raise_for_status()
    with pytest.raises(SessionExpiredError, match=re.escape(f"log in at {service.url}/login (one click)")):
        service.kite_api().get_orders()
    line = service.wait_for_log(r"Order check paused: Kite session expired: Kite rejected the access token.*")
    assert f"log in at {service.url}/login (one click)" in line


def test_logout_is_detected_by_the_next_poll_and_logged_once(service):
    assert service.login_by_hand()["user_id"] == service.demo["user_id"]  # the manual path still works
    deadline = time.monotonic() + 15
    while not (service.health()["last_order_check"] or {}).get("ok") and time.monotonic() < deadline:
        time.sleep(0.2)  # a check with the new session
    before = service.log().count("Order check paused")
    # A logout the service does not hear of: the raw client, straight to Kite (the gateway refuses it).
    assert service.kite_api(through_gateway=False).kite.invalidate_access_token() is True
    service.wait_for_log(r"Order check paused: Kite session expired")
    time.sleep(3)  # three more polls
    assert service.log().count("Order check paused") == before + 1


def test_a_sandbox_restart_keeps_the_session(tmp_path):
    first = start_service(tmp_path)
    try:
        first.login()
    finally:
        first.stop()
    again = start_service(tmp_path)  # the same sandbox folder, new ports
    try:
        assert again.kite_api().get_profile()["user_id"] == again.demo["user_id"]
        deadline = time.monotonic() + 15
        health = requests.get(f"{again.url}/health", timeout=5).json()
        while health["last_order_check"] is None and time.monotonic() < deadline:  # the first check runs
            time.sleep(0.2)
            health = requests.get(f"{again.url}/health", timeout=5).json()
        assert health["ready"] is True and health["last_order_check"]["ok"] is True
    finally:
        again.stop()
