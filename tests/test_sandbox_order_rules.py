"""The official kiteconnect client against the sandbox over HTTP: Kite's 2026 order rules, fills, account."""

import pytest

from kite_sandbox.server import create_sandbox_app
from kite_service.kite.sdk import kite_errors

INFY = {"exchange": "NSE", "tradingsymbol": "INFY", "quantity": 1, "product": "CNC"}


@pytest.fixture
def sandbox_app(demo, clock):
    # Many calls within a second: the rate limits and order caps have their own tests.
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)


@pytest.fixture
def market(sandbox_app):
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    return market


def order(kite, order_id) -> dict:
    return kite.order_history(order_id)[-1]


def buy(kite, **fields):
    return kite.place_order(variety="regular", transaction_type="BUY", **{**INFY, **fields})


def sell(kite, **fields):
    return kite.place_order(variety="regular", transaction_type="SELL", **{**INFY, **fields})


def available(kite) -> float:
    return kite.margins("equity")["net"]


def charges(kite, order_id) -> float:
    """What the virtual contract note says an executed order costs."""
    executed = order(kite, order_id)
    keys = ("exchange", "tradingsymbol", "transaction_type", "variety", "product", "order_type", "average_price")
    [note] = kite.get_virtual_contract_note(
        [{**{key: executed[key] for key in keys}, "order_id": order_id, "quantity": executed["filled_quantity"]}]
    )
    return note["charges"]["total"]


def refusal(call, **fields) -> str:
    with pytest.raises(kite_errors.InputException) as caught:
        call(**fields)
    return str(caught.value)


# -- market protection -------------------------------------------------------------------------


def test_market_and_sl_m_orders_need_market_protection(official_kite, market, clock):
    message = refusal(buy, kite=official_kite, order_type="MARKET")
    assert message == (
        "Market orders without market protection are not allowed via API. "
        "Please set market protection or use a Limit order."
    )
    assert "market protection" in refusal(buy, kite=official_kite, order_type="SL-M", trigger_price=1510)
    assert official_kite.orders() == []  # nothing was placed
    for value in (0, 101, -2):
        assert "market_protection" in refusal(buy, kite=official_kite, order_type="MARKET", market_protection=value)

    order_id = buy(official_kite, order_type="MARKET", market_protection=-1)
    clock.advance(2)
    filled = order(official_kite, order_id)
    assert (filled["status"], filled["average_price"]) == ("COMPLETE", 1500.0)
    assert official_kite.orders()[0]["market_protection"] == -1
    assert buy(official_kite, order_type="MARKET", market_protection=2.5)


# -- fills -------------------------------------------------------------------------------------


def test_marketable_limit_orders_fill_at_the_market_never_worse_than_the_limit(official_kite, market):
    bought = order(official_kite, buy(official_kite, order_type="LIMIT", price=1560))
    assert (bought["status"], bought["average_price"]) == ("COMPLETE", 1500.0)
    sold = order(official_kite, sell(official_kite, order_type="LIMIT", price=1440))
    assert (sold["status"], sold["average_price"]) == ("COMPLETE", 1500.0)


def test_a_resting_limit_order_fills_at_its_limit_when_the_price_comes_to_it(official_kite, market):
    order_id = buy(official_kite, order_type="LIMIT", price=1490)
    assert order(official_kite, order_id)["status"] == "OPEN"
    market.pin_price(market.by_symbol("NSE", "INFY"), 1480.0)
    filled = order(official_kite, order_id)
    assert (filled["status"], filled["average_price"]) == ("COMPLETE", 1490.0)


def test_ioc_fills_what_it_can_at_once_and_cancels_the_rest(official_kite, market):
    missed = order(official_kite, buy(official_kite, order_type="LIMIT", price=1450, validity="IOC"))
    assert (missed["status"], missed["filled_quantity"], missed["cancelled_quantity"]) == ("CANCELLED", 0, 1)
    partly = order(official_kite, buy(official_kite, order_type="LIMIT", price=1500, validity="IOC", quantity=200))
    assert (partly["status"], partly["filled_quantity"], partly["cancelled_quantity"]) == ("CANCELLED", 100, 100)


def test_ttl_orders_are_cancelled_when_their_minutes_run_out(official_kite, market, clock):
    order_id = buy(official_kite, order_type="LIMIT", price=1450, validity="TTL", validity_ttl=2)
    clock.advance(119)
    assert order(official_kite, order_id)["status"] == "OPEN"
    clock.advance(1)
    assert order(official_kite, order_id)["status"] == "CANCELLED"
    assert "validity_ttl" in refusal(buy, kite=official_kite, order_type="LIMIT", price=1450, validity="TTL")


# -- checks before the exchange --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"order_type": "LIMIT", "price": 1400.05}, "Tick size for this script is 0.10"),  # NSE: 1,000 to 5,000
        ({"order_type": "LIMIT", "price": 1000}, "lower than the current lower circuit limit"),
        ({"order_type": "LIMIT", "price": 7500}, "higher than the current upper circuit limit"),
        ({"order_type": "SL", "price": 1495, "trigger_price": 1490}, "higher than the last traded price"),
        ({"order_type": "SL", "price": 1505, "trigger_price": 1510}, "cannot be above the limit price"),
        ({"order_type": "LIMIT", "price": 1450, "quantity": 10, "disclosed_quantity": 11}, "Disclosed quantity"),
        ({"order_type": "LIMIT", "price": 1450, "product": "NRML"}, "NRML is not allowed on NSE"),
        ({"order_type": "LIMIT", "price": 1450, "tradingsymbol": "NOSUCHSYMBOL"}, "expired or does not exist"),
    ],
)
def test_orders_kite_refuses_are_refused_with_kites_words(official_kite, market, fields, expected):
    assert expected in refusal(buy, kite=official_kite, **fields)
    assert official_kite.orders() == []


def test_sl_sell_trigger_must_be_below_the_last_price(official_kite, market):
    message = refusal(sell, kite=official_kite, order_type="SL", price=1515, trigger_price=1510)
    assert "lower than the last traded price" in message
    order_id = sell(official_kite, order_type="SL", price=1485, trigger_price=1490)
    assert order(official_kite, order_id)["status"] == "TRIGGER PENDING"


def test_expired_contracts_are_refused_and_live_ones_trade(official_kite, market, clock):
    expired = {"exchange": "NFO", "tradingsymbol": "BANKNIFTY18JAN23500CE", "product": "NRML", "quantity": 40}
    assert "expired" in refusal(buy, kite=official_kite, order_type="LIMIT", price=100, **expired)
    future = next(i for i in market.instruments if i.tradingsymbol.startswith("NIFTY") and i.instrument_type == "FUT")
    assert future.expires_at() > clock()
    contract = {"exchange": "NFO", "tradingsymbol": future.tradingsymbol, "product": "NRML"}
    assert "lot size" in refusal(
        buy, kite=official_kite, order_type="MARKET", market_protection=-1, quantity=1, **contract
    )
    assert "not allowed on NFO" in refusal(
        buy,
        kite=official_kite,
        order_type="MARKET",
        market_protection=-1,
        quantity=future.lot_size,
        **{**contract, "product": "CNC"},
    )
    order_id = buy(official_kite, order_type="MARKET", market_protection=-1, quantity=future.lot_size, **contract)
    clock.advance(2)
    assert order(official_kite, order_id)["status"] == "COMPLETE"


def test_modify_and_cancel_need_the_orders_variety_and_stop_at_25_modifications(official_kite, market):
    order_id = buy(official_kite, order_type="LIMIT", price=1400)
    with pytest.raises(kite_errors.InputException):
        official_kite.modify_order(variety="amo", order_id=order_id, price=1401)
    with pytest.raises(kite_errors.InputException):
        official_kite.cancel_order(variety="co", order_id=order_id)
    with pytest.raises(kite_errors.InputException, match="Tick size"):
        official_kite.modify_order(variety="regular", order_id=order_id, price=1400.02)
    for step in range(25):
        official_kite.modify_order(variety="regular", order_id=order_id, price=round(1400 + step * 0.1, 1))
    with pytest.raises(kite_errors.NetworkException, match="Maximum allowed order modifications exceeded"):
        official_kite.modify_order(variety="regular", order_id=order_id, price=1405)
    official_kite.cancel_order(variety="regular", order_id=order_id)
    assert order(official_kite, order_id)["status"] == "CANCELLED"


# -- the account -------------------------------------------------------------------------------


def test_cnc_sells_are_limited_to_holdings_and_todays_buys(official_kite, market, clock):
    no_holding = {"tradingsymbol": "RELIANCE", "order_type": "LIMIT", "price": 1300}
    rejected = order(official_kite, sell(official_kite, **no_holding))
    assert rejected["status"] == "REJECTED" and "Insufficient holdings" in rejected["status_message"]
    assert official_kite.orders()[0]["status_message_raw"].startswith("RMS:Rule: Check holdings for entity account-")
    too_many = order(official_kite, sell(official_kite, order_type="LIMIT", price=1450, quantity=11))
    assert too_many["status"] == "REJECTED"  # 10 INFY are held
    buy(official_kite, order_type="LIMIT", price=1500, quantity=2)  # bought today: sellable too
    assert (
        order(official_kite, sell(official_kite, order_type="LIMIT", price=1450, quantity=12))["status"] == "COMPLETE"
    )
    assert official_kite.positions()["net"][0]["quantity"] == -10


def test_selling_holdings_adds_only_the_realised_profit(official_kite, market):
    before = available(official_kite)
    sold = sell(official_kite, order_type="LIMIT", price=1450, quantity=10)  # fills at 1500; held at 1400 on average
    assert available(official_kite) == pytest.approx(before + 10 * (1500 - 1400) - charges(official_kite, sold))
    margins = official_kite.margins("equity")
    assert margins["utilised"]["m2m_realised"] == 1000.0


def test_margins_are_blocked_by_open_orders_and_positions_and_released(official_kite, market, clock):
    start = available(official_kite)
    resting = buy(official_kite, order_type="LIMIT", price=1400, quantity=10)
    assert available(official_kite) == pytest.approx(start - 14000)
    official_kite.cancel_order(variety="regular", order_id=resting)
    assert available(official_kite) == pytest.approx(start)

    shorted = sell(official_kite, tradingsymbol="RELIANCE", product="MIS", order_type="LIMIT", price=1200, quantity=100)
    clock.advance(1)
    short = next(p for p in official_kite.positions()["net"] if p["tradingsymbol"] == "RELIANCE")
    assert short["quantity"] == -100
    blocked = start - available(official_kite) - charges(official_kite, shorted)  # executed orders pay charges
    assert blocked == pytest.approx(0.2 * 100 * short["average_price"], abs=0.05)  # MIS: a fifth of the value
    covered = buy(
        official_kite, tradingsymbol="RELIANCE", product="MIS", order_type="MARKET", market_protection=-1, quantity=100
    )
    clock.advance(2)
    official_kite.orders()
    exited = next(p for p in official_kite.positions()["net"] if p["tradingsymbol"] == "RELIANCE")
    assert exited["quantity"] == 0
    paid = charges(official_kite, shorted) + charges(official_kite, covered)
    assert paid > 20  # intraday: brokerage on both orders, STT on the sale
    assert available(official_kite) == pytest.approx(start + exited["realised"] - paid, abs=0.05)


def test_insufficient_funds_rejection_carries_kites_rms_text(official_kite, market, demo):
    rejected = order(official_kite, buy(official_kite, order_type="LIMIT", price=1500, quantity=400))
    assert rejected["status"] == "REJECTED"
    assert rejected["status_message"].startswith("Insufficient funds. Required margin is 600000.00 but available")
    raw = official_kite.orders()[0]["status_message_raw"]
    assert raw.startswith("RMS:Margin Exceeds,Required:600000.00, Available:500000.00 for entity account-")
    assert available(official_kite) == 500000.0


def test_convert_position_moves_only_the_quantity_asked_and_merges(official_kite, market):
    buy(official_kite, product="MIS", order_type="LIMIT", price=1500, quantity=4)
    buy(official_kite, product="CNC", order_type="LIMIT", price=1500, quantity=1)
    official_kite.convert_position(
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="BUY",
        position_type="day",
        quantity=1,
        old_product="MIS",
        new_product="CNC",
    )
    quantities = {p["product"]: p["quantity"] for p in official_kite.positions()["net"]}
    assert quantities == {"MIS": 3, "CNC": 2}


def test_bad_checksum_is_a_token_exception(sandbox_root, demo):
    from kite_service.kite.sdk import KiteConnect

    with pytest.raises(kite_errors.TokenException, match="checksum"):
        KiteConnect(demo.api_key, root=sandbox_root).generate_session("some-request-token", "wrong-secret")
