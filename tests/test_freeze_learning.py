"""Kite's refusal wins over the dated table: an order refused above the exchange's freeze quantity
teaches every KiteAPI and the gateway on the machine that figure until 06:00 IST, with one warning
that the table is out of date, and /api/status names where each number in use came from.

Here the sandbox stands on 15 May 2026, when BANKNIFTY's freeze quantity was 900, while Kite App's
clock stands on 20 November 2026, when the table says 1,440: the table is out of date for this
"Kite", as it would be for the real one the month NSE revises it and the table is not yet updated."""

import logging
from datetime import datetime, timedelta

import pytest

from kite_sandbox.server import create_sandbox_app
from kite_service.clock import IST
from kite_service.data.order_fit import OrderMisfitError
from kite_service.kite.sdk import kite_errors
from sandbox_support import Clock
from test_gateway import serve_gateway  # noqa: F401 - the gateway's fixture, in front of this module's sandbox

KITES_DAY = datetime(2026, 5, 15, 10, 0, tzinfo=IST)


@pytest.fixture
def sandbox_app(demo):
    return create_sandbox_app(demo, clock=Clock(KITES_DAY))


def banknifty_call(api) -> dict:
    option = next(i for i in api.instruments("NFO") if i["name"] == "BANKNIFTY" and i["instrument_type"] == "CE")
    return {"exchange": "NFO", "tradingsymbol": option["tradingsymbol"], "transaction_type": "BUY"}


def buy(api, option: dict, quantity: int):
    return api.place_order(**option, quantity=quantity, product="NRML", order_type="LIMIT", price=5.0)


def test_kites_refusal_teaches_the_freeze_quantity_to_every_program_until_0600(sent, make_api, clock, caplog):
    caplog.set_level(logging.WARNING)
    api = make_api()
    api.instruments()
    option = banknifty_call(api)
    assert api.freeze_limits.on("BANKNIFTY").value == 1440  # the table's, on Kite App's clock
    with pytest.raises(kite_errors.InputException, match=r"maximum quantity of 900 \(30 lots\)"):
        buy(api, option, 1200)  # fits the table: sent, and Kite refuses it
    with pytest.raises(OrderMisfitError, match=r"at most 900 \(30 lots\) in one order"):
        buy(api, option, 930)  # refused here now: not sent
    other = make_api()  # another program on the machine knows it too
    with pytest.raises(OrderMisfitError, match=r"at most 900 \(30 lots\)"):
        buy(other, option, 930)
    assert isinstance(buy(other, option, 900), str)
    assert [int(order["quantity"]) for order in sent] == [1200, 900]
    source = other.freeze_limits.in_use()["BANKNIFTY"]
    assert source == {"quantity": 900, "source": "Kite's refusal at 2026-11-20 10:00:00 IST"}
    warnings = [r.getMessage() for r in caplog.records if "Freeze quantity of BANKNIFTY" in r.getMessage()]
    assert len(warnings) == 1 and "Kite App had 1440 from NSE/FAOP/76693" in warnings[0]
    other.learn_from_refusal(option, "The order quantity 1200 (40 lots) is higher than the maximum quantity of 900")
    assert sum("Freeze quantity of" in r.getMessage() for r in caplog.records) == 1  # known on the machine: said once

    clock.advance((timedelta(days=1, hours=-4)).total_seconds())  # 06:00 IST the next day: a new trading day
    assert api.freeze_limits.on("BANKNIFTY").value == 1440


def test_the_gateway_learns_from_kites_refusal_and_status_shows_the_source(serve_gateway, config):  # noqa: F811
    import requests

    gateway = serve_gateway()
    kite = gateway.client("bot", can_trade=True)
    option = next(i for i in kite.instruments("NFO") if i["name"] == "BANKNIFTY" and i["instrument_type"] == "CE")
    with pytest.raises(kite_errors.InputException, match=r"maximum quantity of 900 \(30 lots\)"):
        kite.place_order(
            "regular",
            exchange="NFO",
            tradingsymbol=option["tradingsymbol"],
            transaction_type="BUY",
            quantity=1200,
            product="NRML",
            order_type="LIMIT",
            price=5.0,
        )
    status = requests.get(f"{gateway.root}/api/status", headers={"X-Access-Code": config["CODE"]}, timeout=5)
    freeze = status.json()["freeze_quantities"]
    assert freeze["BANKNIFTY"]["quantity"] == 900 and freeze["BANKNIFTY"]["source"].startswith("Kite's refusal at")
    assert freeze["NIFTY"] == {"quantity": 3510, "source": "NSE/FAOP/76693 of 1 Oct 2026, from 5 Oct 2026"}
