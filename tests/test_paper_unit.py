"""A paper account without HTTP: Kite's instrument rows and quotes handed in, the clock moved by the
test (Zerodha's intraday square-off times, protection bounds, fills against depth)."""

from datetime import date, datetime, timedelta

import pytest

from kite_sandbox.error_responses import InputError
from kite_sandbox.market_hours import MarketHours
from kite_service.clock import IST
from kite_service.paper.account import PaperAccount
from kite_service.paper.book import protection_bound
from kite_service.paper.market import LiveMarket, Quote, instrument_from_row
from kite_service.paper.square_off import TAG, square_off_time
from kite_service.paper.store import PaperStore

INFY_ROW = {
    "instrument_token": 408065,
    "exchange_token": 1594,
    "tradingsymbol": "INFY",
    "name": "INFOSYS",
    "last_price": 1500.0,
    "expiry": "",
    "strike": 0.0,
    "tick_size": 0.1,
    "lot_size": 1,
    "instrument_type": "EQ",
    "segment": "NSE",
    "exchange": "NSE",
}


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 20, 15, 19, 0, tzinfo=IST)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def market(clock):
    rows = {"NSE:INFY": INFY_ROW}
    market = LiveMarket(rows.get, {408065: INFY_ROW}.get, lambda keys: {}, clock)
    return market


def quote_at(market, clock, last: float, size: int = 100) -> None:
    asks = tuple((round(last + 0.1 * n, 2), size) for n in range(1, 6))
    bids = tuple((round(last - 0.1 * n, 2), size) for n in range(1, 6))
    market.put(408065, Quote(last, bids, asks, 1490.0, clock()))


def new_account(market, clock, tmp_path, name="unit") -> PaperAccount:
    store = PaperStore(tmp_path / "paper.sqlite3")
    return PaperAccount(name, f"{name}@1", 100_000.0, market, clock, MarketHours(), store, "secret")


def mis(side: str, quantity: int, **more) -> dict:
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": side, "quantity": str(quantity)}
    return {**order, "product": "MIS", "order_type": "MARKET", "market_protection": "-1", **more}


def test_intraday_positions_are_squared_off_at_1520_once_and_fresh_mis_orders_refused(market, clock, tmp_path):
    quote_at(market, clock, 1500.0)
    account = new_account(market, clock, tmp_path)
    with account.lock:
        account.desk.place("regular", mis("BUY", 7))
        resting = account.desk.place("regular", mis("BUY", 3, order_type="LIMIT", price="1400"))
        account.advance()
    assert account.book.portfolio.positions[("NSE", "INFY", "MIS")].net == 7
    clock.now += timedelta(minutes=1)  # 15:20 IST
    quote_at(market, clock, 1501.0)
    with account.lock:
        account.advance()
        account.advance()  # a second pass: the exit is not doubled
    exits = [o for o in account.book.orders.values() if o["tag"] == TAG]
    assert [(o["transaction_type"], o["quantity"], o["status"]) for o in exits] == [("SELL", 7, "COMPLETE")]
    assert account.book.orders[resting]["status"] == "CANCELLED"
    assert account.book.portfolio.positions[("NSE", "INFY", "MIS")].net == 0
    with pytest.raises(InputError, match="not taken after 15:20"):
        account.desk.place("regular", mis("BUY", 1))
    cnc = {**mis("BUY", 1), "product": "CNC"}
    assert account.desk.place("regular", cnc)  # delivery still goes in


def test_square_off_times_follow_zerodhas_by_exchange_and_mcx_follows_us_daylight_time():
    day = date(2026, 11, 20)
    assert [square_off_time(e, day).strftime("%H:%M") for e in ("NSE", "NFO", "CDS")] == ["15:20", "15:25", "16:45"]
    assert square_off_time("MCX", date(2026, 12, 7)).strftime("%H:%M") == "23:05"  # US winter: MCX closes 23:30
    assert square_off_time("MCX", date(2026, 7, 7)).strftime("%H:%M") == "23:30"  # US summer: 23:55


def test_a_market_order_never_fills_beyond_its_protection(market, clock, tmp_path):
    infy = instrument_from_row(INFY_ROW)
    assert protection_bound(infy, "BUY", 1500.0, 2) == pytest.approx(1530.0)
    assert protection_bound(infy, "SELL", 1500.0, -1) == pytest.approx(1425.0)  # 5 %: an equity's, ours
    clock.now = clock.now.replace(hour=10)
    account = new_account(market, clock, tmp_path)
    asks = ((1500.1, 5), (1531.0, 100))  # the second level beyond 2 % of 1,500
    market.put(408065, Quote(1500.0, ((1499.9, 5),), asks, 1490.0, clock()))
    with account.lock:
        order_id = account.desk.place("regular", {**mis("BUY", 8), "market_protection": "2"})
    order = account.book.orders[order_id]
    assert (order["status"], order["filled_quantity"]) == ("OPEN", 5)  # the rest stays open, as at Kite
    assert "beyond the market protection's 1530.00" in order["status_message"]


def test_thin_depth_fills_partly_and_the_rest_on_the_next_tick(market, clock, tmp_path):
    clock.now = clock.now.replace(hour=10)
    quote_at(market, clock, 1500.0, size=5)  # 25 offered over five levels
    account = new_account(market, clock, tmp_path)
    with account.lock:
        order_id = account.desk.place("regular", mis("BUY", 40))
    order = account.book.orders[order_id]
    assert (order["status"], order["filled_quantity"]) == ("OPEN", 25)
    assert order["status_message"] == "Paper: the depth shown filled 25 of 40; the rest waits for the next tick."
    with account.lock:
        account.advance()  # the same tick again: its depth is taken
    assert order["filled_quantity"] == 25
    clock.now += timedelta(seconds=1)
    quote_at(market, clock, 1500.5, size=5)  # the next tick
    with account.lock:
        account.advance(tokens={408065})
    assert (order["status"], order["filled_quantity"]) == ("COMPLETE", 40)
    prices = [t["average_price"] for t in account.book.trades]
    assert prices == [1500.1, 1500.2, 1500.3, 1500.4, 1500.5, 1500.6, 1500.7, 1500.8]
    assert order["average_price"] == round(sum(p * 5 for p in prices) / 40, 2)
