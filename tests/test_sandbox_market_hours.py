"""The sandbox's market hours: after-market orders go to the exchange at the next opening (NSE's hours
and holidays), or at the next minute on the default market that never closes; through the official client."""

import subprocess
import sys
from datetime import date, datetime

import pytest

from kite_sandbox.market_hours import MarketHours
from kite_sandbox.server import create_sandbox_app
from kite_sandbox.serving import start_in_background
from kite_service.clock import IST
from kite_service.config.settings import PROJECT_DIR
from sandbox_support import Clock, official_client_login

NSE = MarketHours("nse", frozenset({date(2026, 11, 23)}))  # a Monday off


def ist(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


@pytest.mark.parametrize(
    ("placed", "opens"),
    [
        (ist(2026, 11, 20, 16, 0), ist(2026, 11, 24, 9, 15)),  # Friday evening: past the weekend and the holiday
        (ist(2026, 11, 24, 8, 0), ist(2026, 11, 24, 9, 15)),  # before the opening: the same morning
        (ist(2026, 11, 24, 9, 15), ist(2026, 11, 25, 9, 15)),  # during the session: the next one
        (ist(2026, 11, 21, 12, 0), ist(2026, 11, 24, 9, 15)),  # a Saturday
    ],
)
def test_nse_hours_open_at_0915_on_the_next_trading_day(placed, opens):
    assert NSE.next_open(placed) == opens


def test_nse_hours_are_0915_to_1530_on_trading_days():
    assert [NSE.is_open(ist(2026, 11, 24, *hm)) for hm in ((9, 14, 59), (9, 15), (15, 29, 59), (15, 30))] == [
        False,
        True,
        True,
        False,
    ]
    assert not NSE.is_open(ist(2026, 11, 23, 10, 0))  # the holiday
    assert not NSE.is_open(ist(2026, 11, 21, 10, 0))  # a Saturday


def test_the_always_open_market_takes_after_market_orders_at_the_next_minute():
    always = MarketHours()
    assert always.is_open(ist(2026, 11, 21, 3, 0))
    assert always.next_open(ist(2026, 11, 20, 10, 0, 20)) == ist(2026, 11, 20, 10, 1)
    assert always.next_open(ist(2026, 11, 20, 10, 0)) == ist(2026, 11, 20, 10, 1)


@pytest.fixture
def kite_at(demo):
    """An official kiteconnect client on a sandbox with these market hours and a clock starting then."""
    servers = []

    def start(hours, moment):
        clock = Clock(moment)
        app = create_sandbox_app(demo, clock=clock, enforce_rate_limits=False, market_hours=hours)
        servers.append(start_in_background(app, "127.0.0.1", 0))
        root = f"http://127.0.0.1:{servers[-1].effective_port}"
        return (lambda: official_client_login(root, demo)), clock  # a login lasts until 06:00

    yield start
    for server in servers:
        server.close()


def place_amo(kite) -> str:
    return kite.place_order(
        variety="amo",
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="BUY",
        quantity=1,
        product="CNC",
        order_type="MARKET",
        market_protection=-1,
    )


def last_state(kite, order_id) -> tuple:
    last = kite.order_history(order_id)[-1]
    return last["status"], last["exchange_timestamp"]


def test_an_amo_on_the_always_open_market_goes_in_at_the_next_minute(kite_at):
    log_in, clock = kite_at(None, ist(2026, 11, 20, 10, 0, 20))
    kite = log_in()
    order_id = place_amo(kite)
    clock.advance(39)  # 10:00:59
    assert last_state(kite, order_id) == ("AMO REQ RECEIVED", None)
    clock.advance(1)  # 10:01:00: at the exchange, a market order filling 2 s later
    assert last_state(kite, order_id) == ("OPEN", datetime(2026, 11, 20, 10, 1))
    clock.advance(2)
    assert last_state(kite, order_id)[0] == "COMPLETE"
    assert [p["quantity"] for p in kite.positions()["net"] if p["tradingsymbol"] == "INFY"] == [1]


def test_an_amo_with_nse_hours_waits_for_the_next_session_past_weekend_and_holiday(kite_at):
    log_in, clock = kite_at(NSE, ist(2026, 11, 20, 16, 0))  # Friday, after the close
    order_id = place_amo(log_in())
    for moment in (ist(2026, 11, 21, 10, 0), ist(2026, 11, 23, 10, 0), ist(2026, 11, 24, 9, 14, 59)):
        clock.advance((moment - clock.now).total_seconds())  # Saturday, the holiday, a second before the opening
        kite = log_in()
        assert last_state(kite, order_id) == ("AMO REQ RECEIVED", None), moment
    clock.advance(1)
    assert last_state(kite, order_id) == ("OPEN", datetime(2026, 11, 24, 9, 15))
    clock.advance(2)
    assert [o["status"] for o in kite.order_history(order_id)] == [
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "AMO REQ RECEIVED",
        "OPEN PENDING",
        "OPEN",
        "COMPLETE",
    ]
    [trade] = kite.order_trades(order_id)
    assert trade["fill_timestamp"] >= datetime(2026, 11, 24, 9, 15, 2)


def test_the_sandbox_refuses_holidays_it_cannot_read():
    result = subprocess.run(
        [sys.executable, "-m", "kite_sandbox", "--market-hours", "nse", "--holidays", "25/12/2026"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--holidays must list dates like 2026-12-25, separated by commas, not '25/12/2026'" in result.stderr
