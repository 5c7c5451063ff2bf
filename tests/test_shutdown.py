"""SIGTERM while a poll or a login is in flight: the work finishes, files stay whole, exit code 0."""

import json
import signal
import threading
import time

import pytest
import requests

from kite_service.orders.database import OrderDatabase
from service_support import start_service

pytestmark = pytest.mark.e2e


def slow_down(service, path, seconds):
    requests.post(
        f"{service.sandbox_url}/sandbox/control/delay",
        json={"api_secret": service.demo["api_secret"], "path": path, "seconds": seconds},
        timeout=5,
    ).raise_for_status()


def leftover_temp_files(service) -> list:
    return [p.name for p in service.tmp.rglob("*.tmp")]


def terminate(service) -> float:
    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    service.process.wait(timeout=60)
    stderr = service.stderr()
    assert service.process.returncode == 0 and "Traceback" not in stderr, stderr
    return time.monotonic() - started


def test_sigterm_mid_poll_lets_the_poll_finish_and_save(tmp_path):
    service = start_service(tmp_path)
    try:
        service.login()
        slow_down(service, "/orders", 3)  # every order check now takes 3 s at "Kite"
        order_id = service.kite_api().place_order(
            tradingsymbol="TCS", exchange="NSE", transaction_type="BUY", quantity=1, product="CNC", order_type="MARKET"
        )
        time.sleep(2.5)  # a poll is in flight; the market order fills by the time it is answered
    finally:
        stopped_in = terminate(service)
    state = OrderDatabase(service.sandbox_dir / "orders.sqlite3").load_orders(since_day="2000-01-01")
    assert state[order_id]["status"] == "COMPLETE"  # saved by the poll that SIGTERM waited for
    log = service.log()
    assert log.count(f"Order {order_id} COMPLETE") == 1
    assert log.index("Scheduler stopped") < log.index("Kite App stopped")
    assert leftover_temp_files(service) == []
    print(f"stopped in {stopped_in:.1f} s with a 3 s poll in flight")


def test_sigterm_mid_login_finishes_the_login_and_leaves_a_whole_session_file(tmp_path):
    service = start_service(tmp_path)
    callback_done = []
    try:
        slow_down(service, "/session/token", 2)  # Kite takes 2 s to create the session
        with_cookies = requests.Session()  # the browser that pressed "Log in with Kite"
        location = service.login_at_kite(with_cookies)

        def follow():
            try:
                callback_done.append(with_cookies.get(location, allow_redirects=False, timeout=15).status_code)
            except requests.RequestException as exc:
                callback_done.append(type(exc).__name__)

        browser = threading.Thread(target=follow)
        browser.start()
        time.sleep(0.8)
    finally:
        terminate(service)
    browser.join(20)
    session = json.loads((service.sandbox_dir / "session.json").read_text())
    assert session["user_id"] == service.demo["user_id"] and session["access_token"]
    assert leftover_temp_files(service) == []
    assert "Logged in as" in service.log()
    print(f"callback answered with {callback_done}")
