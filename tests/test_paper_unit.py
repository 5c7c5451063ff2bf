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


def new_account(market, clock, tmp_path, name="unit", capital=100_000.0) -> PaperAccount:
    store = PaperStore(tmp_path / "paper.sqlite3")
    return PaperAccount(name, f"{name}@1", capital, market, clock, MarketHours(), store, "secret")


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


NIFTY_FUT_ROW = {
    "instrument_token": 13368834,
    "exchange_token": 52220,
    "tradingsymbol": "NIFTY26DECFUT",
    "name": "NIFTY",
    "last_price": 24000.0,
    "expiry": "2026-12-29",
    "strike": 0.0,
    "tick_size": 0.1,
    "lot_size": 65,
    "instrument_type": "FUT",
    "segment": "NFO-FUT",
    "exchange": "NFO",
}


def test_a_new_day_turns_cnc_buys_into_holdings_carries_nrml_and_forgets_yesterdays_orders(clock, tmp_path):
    rows = {"NSE:INFY": INFY_ROW, "NFO:NIFTY26DECFUT": NIFTY_FUT_ROW}
    by_token = {row["instrument_token"]: row for row in rows.values()}
    market = LiveMarket(rows.get, by_token.get, lambda keys: {}, clock)
    clock.now = datetime(2026, 11, 20, 10, 0, tzinfo=IST)  # a Friday

    def quotes(infy: float, nifty: float) -> None:
        quote_at(market, clock, infy)
        asks = tuple((round(nifty + 0.1 * n, 1), 650) for n in range(1, 6))
        bids = tuple((round(nifty - 0.1 * n, 1), 650) for n in range(1, 6))
        market.put(13368834, Quote(nifty, bids, asks, 23900.0, clock()))

    quotes(1500.0, 24000.0)
    account = new_account(market, clock, tmp_path, capital=500_000.0)
    cnc = {**mis("BUY", 10), "product": "CNC"}
    fut = {**mis("BUY", 65), "exchange": "NFO", "tradingsymbol": "NIFTY26DECFUT", "product": "NRML"}
    with account.lock:
        account.desk.place("regular", cnc)
        account.desk.place("regular", fut)
        resting = account.desk.place("regular", {**cnc, "order_type": "LIMIT", "price": "1400", "quantity": "1"})
        account.flush()
    portfolio = account.book.portfolio
    infy_cost = 10 * portfolio.positions[("NSE", "INFY", "CNC")].open_price
    friday_cash = portfolio.opening_cash + portfolio.realised - portfolio.charges - infy_cost

    clock.now = datetime(2026, 11, 23, 10, 0, tzinfo=IST)  # Monday
    quotes(1510.0, 24100.0)
    with account.lock:
        account.advance()
        expired = account.flush()
    assert account.book.orders == {} and account.book.trades == []  # Kite's order book starts empty
    assert any(f'"order_id": "{resting}"' in update and "CANCELLED" in update for update in expired)
    (holding,) = account.book.portfolio.holding_rows()
    assert (holding["tradingsymbol"], holding["quantity"], holding["t1_quantity"]) == ("INFY", 10, 10)
    assert holding["average_price"] == pytest.approx(infy_cost / 10)
    (carried,) = account.book.portfolio.position_rows()
    assert (carried["tradingsymbol"], carried["overnight_quantity"], carried["quantity"]) == ("NIFTY26DECFUT", 65, 65)
    assert carried["pnl"] == pytest.approx(round(65 * (24100.0 - carried["average_price"]), 2))
    assert account.book.portfolio.opening_cash == pytest.approx(round(friday_cash, 2))

    again = new_account(market, clock, tmp_path, capital=500_000.0)  # a restart on Monday: the same account
    again.restore()
    assert again.book.portfolio.holding_rows() == account.book.portfolio.holding_rows()
    assert again.book.portfolio.position_rows() == account.book.portfolio.position_rows()
    assert again.book.portfolio.opening_cash == account.book.portfolio.opening_cash

    with account.lock:  # sell 4 of the holding: its cost and profit come back at the next day
        account.desk.place("regular", {**cnc, "transaction_type": "SELL", "quantity": "4"})
        account.flush()
    sold_at = account.book.trades[-1]["average_price"]
    monday = account.book.portfolio
    monday_cash = monday.opening_cash + monday.realised - monday.charges
    assert monday.realised == pytest.approx(4 * (sold_at - infy_cost / 10))  # the profit, counted on the day
    clock.now = datetime(2026, 11, 24, 10, 0, tzinfo=IST)
    quotes(1510.0, 24100.0)
    with account.lock:
        account.advance()
    (holding,) = account.book.portfolio.holding_rows()
    assert (holding["quantity"], holding["t1_quantity"], holding["realised_quantity"]) == (6, 0, 6)
    assert account.book.portfolio.opening_cash == pytest.approx(round(monday_cash + 4 * infy_cost / 10, 2))


def test_an_iceberg_resting_across_a_restart_still_places_its_next_legs(market, clock, tmp_path):
    clock.now = clock.now.replace(hour=10)
    quote_at(market, clock, 1500.0)
    account = new_account(market, clock, tmp_path)
    iceberg = {**mis("BUY", 30), "order_type": "LIMIT", "price": "1490", "iceberg_legs": "3", "iceberg_quantity": "10"}
    with account.lock:
        first = account.desk.place("iceberg", iceberg)
        account.flush()
    assert account.book.orders[first]["status"] == "OPEN"

    again = new_account(market, clock, tmp_path)  # the service restarts
    again.restore()
    clock.now += timedelta(seconds=1)
    quote_at(market, clock, 1489.0)  # offers from 1,489.10: the legs' limit is reached
    with again.lock:
        again.advance(tokens={408065})
    legs = sorted(again.book.orders.values(), key=lambda order: order["order_id"])
    assert [(o["meta"]["iceberg"]["leg"], o["status"], o["filled_quantity"]) for o in legs] == [
        (1, "COMPLETE", 10),
        (2, "COMPLETE", 10),
        (3, "COMPLETE", 10),
    ]
