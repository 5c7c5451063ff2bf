"""GTT triggers on the sandbox through the official client: they fire on the price walk and their orders fill."""

import json
from datetime import timedelta

import pytest

from kite_sandbox.server import create_sandbox_app
from kite_service.kite.sdk import kite_errors
from sandbox_support import official_client_login


@pytest.fixture
def sandbox_app(demo, clock):
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)  # many calls a second; limits: elsewhere


def pin(market, price, symbol="INFY"):
    market.pin_price(market.by_symbol("NSE", symbol), price)


def leg(side, price, quantity=1, **more):
    return {
        "transaction_type": side,
        "quantity": quantity,
        "price": price,
        "order_type": "LIMIT",
        "product": "CNC",
        **more,
    }


def place(kite, kind, values, orders, last_price=1500.0, symbol="INFY"):
    return kite.place_gtt(kind, symbol, "NSE", values, last_price, orders)["trigger_id"]


def test_a_single_gtt_fires_when_the_price_reaches_it_and_its_order_fills(official_kite, market):
    pin(market, 1500.0)
    trigger_id = place(official_kite, "single", [1450], [leg("BUY", 1451)])
    trigger = official_kite.get_gtt(trigger_id)
    assert trigger["status"] == "active" and trigger["condition"]["instrument_token"] == 408065
    assert trigger["orders"][0]["result"] is None and official_kite.orders() == []
    pin(market, 1460.0)  # not there yet
    assert official_kite.get_gtt(trigger_id)["status"] == "active"
    pin(market, 1449.0)
    trigger = official_kite.get_gtt(trigger_id)
    assert trigger["status"] == "triggered"
    result = trigger["orders"][0]["result"]
    assert result["order_result"]["status"] == "success" and result["triggered_at"] == 1449.0
    order = official_kite.order_history(result["order_result"]["order_id"])[-1]
    assert (order["status"], order["order_type"], order["average_price"]) == ("COMPLETE", "LIMIT", 1449.0)
    pin(market, 1400.0)
    assert len(official_kite.orders()) == 1  # a GTT fires once


def test_an_oco_fires_one_leg_and_the_other_never(official_kite, market):
    pin(market, 1500.0)
    trigger_id = place(official_kite, "two-leg", [1400, 1600], [leg("SELL", 1399), leg("SELL", 1601)])
    pin(market, 1602.0)  # the target
    trigger = official_kite.get_gtt(trigger_id)
    assert trigger["status"] == "triggered" and trigger["orders"][0]["result"] is None
    order_id = trigger["orders"][1]["result"]["order_result"]["order_id"]
    assert official_kite.order_history(order_id)[-1]["status"] == "COMPLETE"
    pin(market, 1390.0)  # the stop's price, later: its leg stays dormant
    assert [o["order_id"] for o in official_kite.orders()] == [order_id]


def test_a_trigger_whose_order_kite_refuses_records_the_failure(official_kite, market):
    pin(market, 1500.0)
    trigger_id = place(official_kite, "single", [1450], [leg("BUY", 1.0)])  # far below the circuit band
    pin(market, 1440.0)
    result = official_kite.get_gtt(trigger_id)["orders"][0]["result"]
    assert result["order_result"]["status"] == "failed" and result["order_result"]["order_id"] == ""
    assert result["order_result"]["rejection_reason"].startswith("Your order price is lower than the current lower")
    assert official_kite.get_gtt(trigger_id)["status"] == "triggered"


@pytest.mark.parametrize(
    ("kind", "values", "orders", "message"),
    [
        ("single", [1500], [leg("BUY", 1500)], "equal to the last price"),
        ("two-leg", [1400, 1450], [leg("SELL", 1399), leg("SELL", 1449)], "second trigger price less than the last"),
        ("single", [1450], [leg("BUY", 1451, order_type="MARKET")], "Only LIMIT orders"),
        ("single", [1450], [leg("BUY", 1451, product="MIS")], "GTT on NSE takes CNC"),
        ("single", [1450, 1460], [leg("BUY", 1451)], "trigger_values"),
    ],
)
def test_kites_rules_on_trigger_values_and_orders(official_kite, market, kind, values, orders, message):
    pin(market, 1500.0)
    with pytest.raises(kite_errors.InputException, match=message):
        official_kite._post(  # as the client sends it, without its own checks
            "gtt.place",
            params={
                "type": kind,
                "condition": json.dumps(
                    {"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": values, "last_price": 1500}
                ),
                "orders": json.dumps([{"exchange": "NSE", "tradingsymbol": "INFY", **o} for o in orders]),
            },
        )


def test_a_trigger_already_met_is_refused_and_one_too_close_is_disabled(official_kite, market):
    pin(market, 1440.0)  # the client says 1500, but the market is already below 1450
    with pytest.raises(kite_errors.InputException, match="Trigger already met"):
        place(official_kite, "single", [1450], [leg("BUY", 1451)])
    pin(market, 1500.0)
    close = place(official_kite, "single", [1498], [leg("BUY", 1498)])  # within 0.25 % of 1500
    assert official_kite.get_gtt(close)["status"] == "disabled"
    pin(market, 1490.0)
    assert official_kite.get_gtt(close)["status"] == "disabled" and official_kite.orders() == []


def test_modify_delete_and_expiry(official_kite, market, clock, sandbox_root, demo):
    pin(market, 1500.0)
    trigger_id = place(official_kite, "single", [1450], [leg("BUY", 1451)])
    official_kite.modify_gtt(trigger_id, "single", "INFY", "NSE", [1400], 1500.0, [leg("BUY", 1401, quantity=2)])
    trigger = official_kite.get_gtt(trigger_id)
    assert trigger["condition"]["trigger_values"] == [1400] and trigger["orders"][0]["quantity"] == 2
    pin(market, 1440.0)
    assert official_kite.get_gtt(trigger_id)["status"] == "active"  # the old trigger value no longer counts
    official_kite.delete_gtt(trigger_id)
    assert official_kite.get_gtts() == [] and official_kite.get_gtt(trigger_id)["status"] == "deleted"
    with pytest.raises(kite_errors.GeneralException):
        official_kite.delete_gtt(trigger_id)
    lasting = place(official_kite, "single", [1300], [leg("BUY", 1301)], last_price=1440.0)
    clock.advance(timedelta(days=366).total_seconds())
    next_year = official_client_login(sandbox_root, demo)  # yesterday's session died at 06:00
    assert next_year.get_gtt(lasting)["status"] == "expired"  # a year, as Kite's


def test_an_ocos_stop_leg_fires_when_the_price_falls(official_kite, market):
    pin(market, 1500.0)
    trigger_id = place(official_kite, "two-leg", [1400, 1600], [leg("SELL", 1390), leg("SELL", 1601)])
    pin(market, 1398.0)  # the stop: its sell limit sits below the trigger, so it fills at the market
    trigger = official_kite.get_gtt(trigger_id)
    assert trigger["orders"][1]["result"] is None
    order_id = trigger["orders"][0]["result"]["order_result"]["order_id"]
    assert [official_kite.order_history(order_id)[-1][k] for k in ("status", "average_price")] == ["COMPLETE", 1398.0]


def test_an_fno_gtt_expires_with_its_contract(official_kite, market, clock, sandbox_root, demo):
    spot = market.price(market.by_symbol("NSE", "NIFTY 50"))
    calls = [i for i in market.instruments if i.name == "NIFTY" and i.instrument_type == "CE"]
    call = min(calls, key=lambda i: (i.expiry, abs(i.strike - spot)))
    price = market.price(call)
    trigger_id = official_kite.place_gtt(
        "single",
        call.tradingsymbol,
        "NFO",
        [round(price * 0.5, 1)],
        price,
        [leg("BUY", round(price * 0.5, 1), 65, product="NRML")],
    )["trigger_id"]
    assert official_kite.get_gtt(trigger_id)["expires_at"] == call.expires_at().strftime("%Y-%m-%d %H:%M:%S")
    clock.advance((call.expires_at() - clock()).total_seconds() + 60)
    after = official_client_login(sandbox_root, demo)
    assert after.get_gtt(trigger_id)["status"] == "expired"
