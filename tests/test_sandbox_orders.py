"""The sandbox's order engine: Kite's statuses, fills against the price, a consistent account."""

import pytest

from kite_sandbox.quotes import quote_of
from sandbox_support import place


@pytest.fixture
def book(sandbox_app):
    return sandbox_app.extensions["kite_sandbox"].book


def statuses(sandbox, auth, order_id):
    return [entry["status"] for entry in sandbox.get(f"/orders/{order_id}", headers=auth).get_json()["data"]]


def pin(market, symbol, price):
    market.pin_price(market.by_symbol("NSE", symbol), price)


def test_market_order_walks_kites_statuses_and_fills(sandbox, auth, clock, market):
    pin(market, "INFY", 1500.0)
    order_id = place(sandbox, auth).get_json()["data"]["order_id"]
    assert statuses(sandbox, auth, order_id) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN"]
    clock.advance(2)
    assert statuses(sandbox, auth, order_id)[-1] == "COMPLETE"
    [trade] = sandbox.get(f"/orders/{order_id}/trades", headers=auth).get_json()["data"]
    assert (trade["quantity"], trade["average_price"]) == (1, 1500.0)
    [position] = sandbox.get("/portfolio/positions", headers=auth).get_json()["data"]["net"]
    assert (position["tradingsymbol"], position["quantity"], position["average_price"]) == ("INFY", 1, 1500.0)
    margins = sandbox.get("/user/margins/equity", headers=auth).get_json()["data"]
    fill = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "variety": "regular"}
    fill |= {"product": "CNC", "order_type": "MARKET", "quantity": 1, "average_price": 1500.0}
    [note] = sandbox.post("/charges/orders", json=[fill], headers=auth).get_json()["data"]
    assert 1.5 < note["charges"]["total"] < 2.5  # STT 0.1 % and stamp duty 0.015 % on a delivery buy, no brokerage
    paid = round(1500.0 + note["charges"]["total"], 2)  # the value, and the charges the contract note shows
    assert margins["utilised"]["debits"] == paid and margins["net"] == round(500000 - paid, 2)


def test_limit_order_stays_open_until_the_price_crosses(sandbox, auth, clock, market):
    pin(market, "TCS", 3400.0)
    order_id = place(sandbox, auth, tradingsymbol="TCS", order_type="LIMIT", price=3390).get_json()["data"]["order_id"]
    clock.advance(30)
    assert statuses(sandbox, auth, order_id)[-1] == "OPEN"
    assert sandbox.get("/user/margins/equity", headers=auth).get_json()["data"]["utilised"]["debits"] == 3390.0
    pin(market, "TCS", 3389.5)
    assert statuses(sandbox, auth, order_id)[-1] == "COMPLETE"
    [order] = [o for o in sandbox.get("/orders", headers=auth).get_json()["data"] if o["order_id"] == order_id]
    assert order["average_price"] == 3390 and order["filled_quantity"] == 1 and order["pending_quantity"] == 0


def test_large_order_fills_partially_first(sandbox, auth, clock, market):
    pin(market, "INFY", 1500.0)
    order_id = place(sandbox, auth, quantity=200, order_type="LIMIT", price=1500).get_json()["data"]["order_id"]
    history = sandbox.get(f"/orders/{order_id}", headers=auth).get_json()["data"]
    assert [(h["status"], h["filled_quantity"]) for h in history[-3:]] == [
        ("OPEN", 0),
        ("OPEN", 100),
        ("COMPLETE", 200),
    ]


def test_stop_loss_waits_for_its_trigger(sandbox, auth, clock, market):
    pin(market, "INFY", 1500.0)
    response = place(sandbox, auth, transaction_type="BUY", order_type="SL", price=1520, trigger_price=1510)
    order_id = response.get_json()["data"]["order_id"]
    assert statuses(sandbox, auth, order_id)[-1] == "TRIGGER PENDING"
    pin(market, "INFY", 1511.0)
    assert statuses(sandbox, auth, order_id)[-2:] == ["OPEN", "COMPLETE"]


def test_amo_is_received_and_waits(sandbox, auth, clock):
    order_id = place(sandbox, auth, variety="amo", order_type="LIMIT", price=1300).get_json()["data"]["order_id"]
    clock.advance(59)  # placed at 10:00:00, it goes in at 10:01:00 (test_sandbox_market_hours.py)
    assert statuses(sandbox, auth, order_id) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "AMO REQ RECEIVED"]
    assert sandbox.delete(f"/orders/amo/{order_id}", headers=auth).status_code == 200
    assert statuses(sandbox, auth, order_id)[-1] == "CANCELLED"


def test_order_beyond_margin_is_rejected_with_kites_message(sandbox, auth, market):
    pin(market, "RELIANCE", 1300.0)
    order_id = place(sandbox, auth, tradingsymbol="RELIANCE", quantity=1000).get_json()["data"]["order_id"]
    [order] = [o for o in sandbox.get("/orders", headers=auth).get_json()["data"] if o["order_id"] == order_id]
    assert order["status"] == "REJECTED"
    assert order["status_message"].startswith("Insufficient funds. Required margin is 1300000.00 but available")
    assert sandbox.get("/portfolio/positions", headers=auth).get_json()["data"]["net"] == []


def test_modify_and_cancel_follow_the_rules(sandbox, auth, clock, market):
    pin(market, "INFY", 1500.0)
    order_id = place(sandbox, auth, order_type="LIMIT", price=1400).get_json()["data"]["order_id"]
    assert sandbox.put(f"/orders/regular/{order_id}", data={"price": 1450}, headers=auth).status_code == 200
    history = sandbox.get(f"/orders/{order_id}", headers=auth).get_json()["data"]
    assert [h["status"] for h in history[-4:]] == ["MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED", "OPEN"]
    assert history[-1]["price"] == 1450 and history[-1]["modified"] is True
    assert sandbox.delete(f"/orders/regular/{order_id}", headers=auth).get_json()["data"] == {"order_id": order_id}
    assert statuses(sandbox, auth, order_id)[-2:] == ["CANCEL PENDING", "CANCELLED"]
    for again in (
        sandbox.put(f"/orders/regular/{order_id}", data={"price": 1}, headers=auth),
        sandbox.delete(f"/orders/regular/{order_id}", headers=auth),
    ):
        assert again.status_code == 400 and again.get_json()["error_type"] == "InputException"


def test_completed_order_cannot_be_modified(sandbox, auth, clock, market):
    pin(market, "INFY", 1500.0)
    order_id = place(sandbox, auth).get_json()["data"]["order_id"]
    clock.advance(3)
    response = sandbox.put(f"/orders/regular/{order_id}", data={"quantity": 2}, headers=auth)
    assert response.status_code == 400 and response.get_json()["error_type"] == "InputException"
    assert "complete" in response.get_json()["message"]


@pytest.mark.parametrize(
    "fields",
    [
        {"tradingsymbol": "NOPE"},
        {"quantity": 0},
        {"quantity": "x"},
        {"order_type": "LIMIT"},
        {"order_type": "SL", "price": 10},
        {"product": "XYZ"},
        {"transaction_type": "HOLD"},
    ],
)
def test_invalid_orders_are_input_exceptions(sandbox, auth, fields):
    response = place(sandbox, auth, **fields)
    assert response.status_code == 400 and response.get_json()["error_type"] == "InputException"
    assert sandbox.get("/orders", headers=auth).get_json()["data"] == []


def test_sell_round_trip_realises_pnl_and_uses_holdings(sandbox, auth, clock, market):
    pin(market, "INFY", 1500.0)
    place(sandbox, auth, quantity=2, product="MIS")
    clock.advance(3)
    sandbox.get("/orders", headers=auth)  # the buy fills when the sandbox next looks, at 1500
    pin(market, "INFY", 1510.0)
    place(sandbox, auth, quantity=2, product="MIS", transaction_type="SELL")
    clock.advance(3)
    [position] = sandbox.get("/portfolio/positions", headers=auth).get_json()["data"]["net"]
    assert position["quantity"] == 0 and position["realised"] == 20.0 and position["pnl"] == 20.0
    place(sandbox, auth, quantity=3, transaction_type="SELL")  # CNC sell of held shares
    clock.advance(3)
    infy = next(
        h for h in sandbox.get("/portfolio/holdings", headers=auth).get_json()["data"] if h["tradingsymbol"] == "INFY"
    )
    assert infy["used_quantity"] == 3 and infy["quantity"] == 10
    assert len(sandbox.get("/trades", headers=auth).get_json()["data"]) == 3


def test_positions_can_be_converted(sandbox, auth, clock, market):
    pin(market, "INFY", 1500.0)
    place(sandbox, auth, product="MIS")
    clock.advance(3)
    body = {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "position_type": "day",
        "quantity": 1,
        "old_product": "MIS",
        "new_product": "CNC",
    }
    assert sandbox.put("/portfolio/positions", data=body, headers=auth).get_json() == {
        "status": "success",
        "data": True,
    }
    [position] = sandbox.get("/portfolio/positions", headers=auth).get_json()["data"]["net"]
    assert position["product"] == "CNC"


def test_prices_move_within_the_days_range(market, clock):
    infy = market.by_symbol("NSE", "INFY")
    prices = set()
    for _ in range(12):
        prices.add(market.price(infy))
        clock.advance(10)
    assert len(prices) > 5
    day = quote_of(market, infy)["ohlc"]
    assert all(day["low"] <= p <= day["high"] for p in prices)
