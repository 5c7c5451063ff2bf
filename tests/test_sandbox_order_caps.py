"""Kite's 2026 order caps and static-IP rule on the sandbox, through the official kiteconnect client."""

import subprocess
import sys
from pathlib import Path

import pytest

from kite_sandbox.server import create_sandbox_app
from kite_service.config.settings import PROJECT_DIR
from kite_service.kite.sdk import kite_errors

LIMIT_BUY = {
    "variety": "regular",
    "exchange": "NSE",
    "tradingsymbol": "INFY",
    "transaction_type": "BUY",
    "quantity": 1,
    "product": "MIS",
    "order_type": "LIMIT",
    "price": 1300,
}


@pytest.fixture
def caps(sandbox_app):
    return sandbox_app.extensions["kite_sandbox"].book._caps


def test_ten_orders_a_second_then_429(official_kite, clock):
    for _ in range(10):
        official_kite.place_order(**LIMIT_BUY)
    with pytest.raises(kite_errors.NetworkException, match="Too many requests") as caught:
        official_kite.place_order(**LIMIT_BUY)
    assert caught.value.code == 429
    official_kite.orders()  # reads are not order placements
    clock.advance(1)
    official_kite.place_order(**LIMIT_BUY)
    assert len(official_kite.orders()) == 11


def test_four_hundred_orders_a_minute(official_kite, clock):
    for _second in range(40):
        for _ in range(10):
            official_kite.place_order(**LIMIT_BUY)
        clock.advance(1)
    with pytest.raises(kite_errors.NetworkException, match="400 orders a minute") as caught:
        official_kite.place_order(**LIMIT_BUY)
    assert caught.value.code == 429
    clock.advance(20)  # the first second's orders are a minute old
    official_kite.place_order(**LIMIT_BUY)


def test_five_thousand_orders_a_day(official_kite, clock, caps):
    official_kite.place_order(**LIMIT_BUY)  # the day's first order starts the day's count
    caps.placed_today = 4999  # as if 4,999 orders had been placed since midnight
    official_kite.place_order(**LIMIT_BUY)
    clock.advance(1)
    with pytest.raises(kite_errors.NetworkException, match="5000 orders a day"):
        official_kite.place_order(**LIMIT_BUY)
    clock.advance(14 * 3600)  # 00:00:01 IST: a new day (the session lives until 06:00)
    official_kite.place_order(**LIMIT_BUY)


@pytest.fixture
def sandbox_app(demo, clock, request):
    order_ip = getattr(request, "param", None)
    return create_sandbox_app(demo, clock=clock, order_ip=order_ip)


@pytest.mark.parametrize("sandbox_app", ["192.0.2.7"], indirect=True)
def test_order_calls_from_another_address_than_the_registered_ip_are_refused(official_kite):
    with pytest.raises(kite_errors.PermissionException) as caught:
        official_kite.place_order(**LIMIT_BUY)
    assert caught.value.code == 403
    assert str(caught.value).startswith("IP (127.0.0.1) is not allowed to place orders for this app.")
    for call in (
        lambda: official_kite.modify_order(variety="regular", order_id="1", price=1),
        lambda: official_kite.cancel_order(variety="regular", order_id="1"),
    ):
        with pytest.raises(kite_errors.PermissionException):
            call()
    assert official_kite.orders() == [] and official_kite.profile()["user_id"]  # reads work from anywhere


@pytest.mark.parametrize("sandbox_app", ["127.0.0.1"], indirect=True)
def test_order_calls_from_the_registered_ip_are_accepted(official_kite):
    assert official_kite.place_order(**LIMIT_BUY)


def test_no_rate_limits_is_announced_at_start(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "kite_sandbox", "--port", "0", "--data-dir", str(tmp_path), "--no-rate-limits"],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        while not lines or not lines[-1].startswith("Credentials written"):  # the last line before serving
            lines.append(process.stdout.readline())
            assert lines[-1], f"the sandbox stopped before serving: {lines}"
    finally:
        process.terminate()
        process.wait(10)
    assert any("rate limits  OFF (--no-rate-limits)" in line for line in lines), lines


def test_the_service_on_the_sandbox_without_rate_limits_says_so(tmp_path):
    from service_support import start_service

    service = start_service(tmp_path, extra_args=["--no-rate-limits"])
    try:
        walkthrough = (tmp_path / "stdout.txt").read_text()
        assert "Rate limits are OFF (--no-rate-limits)" in walkthrough
        python = Path(sys.executable)
        python = python.relative_to(PROJECT_DIR) if python.is_relative_to(PROJECT_DIR) else python
        assert f"{python} kite_app.py --totp --sandbox" in walkthrough  # the Python that runs it, not `python`
    finally:
        service.stop()
