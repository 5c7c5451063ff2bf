"""Alerts on the sandbox (/alerts, as the official Go client calls them): simple and ATO alerts on the price walk."""

import json

import pytest
import requests

from kite_sandbox.server import create_sandbox_app


@pytest.fixture
def sandbox_app(demo, clock):
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)  # many calls a second; limits: elsewhere


@pytest.fixture
def alerts_api(official_kite, sandbox_root):
    """A small client for the alert routes (the Python client has no alert methods)."""
    headers = {"X-Kite-Version": "3", "Authorization": f"token {official_kite.api_key}:{official_kite.access_token}"}

    def call(method, path, **kwargs):
        response = requests.request(method, f"{sandbox_root}{path}", headers=headers, timeout=5, **kwargs)
        body = response.json()
        return response.status_code, body["data"] if body["status"] == "success" else body

    return call


def simple(**more):
    return {
        "name": "INFY up",
        "type": "simple",
        "lhs_exchange": "NSE",
        "lhs_tradingsymbol": "INFY",
        "lhs_attribute": "LastTradedPrice",
        "operator": ">=",
        "rhs_type": "constant",
        "rhs_constant": "1550",
        **more,
    }


def test_a_simple_alert_fires_each_time_its_condition_becomes_true(alerts_api, market):
    infy = market.by_symbol("NSE", "INFY")
    market.pin_price(infy, 1500.0)
    status, alert = alerts_api("POST", "/alerts", data=simple())
    assert status == 200 and alert["status"] == "enabled" and alert["rhs_constant"] == 1550
    market.pin_price(infy, 1551.0)
    assert alerts_api("GET", f"/alerts/{alert['uuid']}")[1]["alert_count"] == 1
    market.pin_price(infy, 1560.0)  # still true: no new alert
    market.pin_price(infy, 1500.0)
    assert alerts_api("GET", "/alerts")[1][0]["alert_count"] == 1  # the sandbox sees the price fall back
    market.pin_price(infy, 1552.0)
    _, history = alerts_api("GET", f"/alerts/{alert['uuid']}/history")
    assert len(history) == 2 and history[0]["condition"] == 'LastTradedPrice("NSE:INFY") >= 1550.0'
    assert history[0]["meta"][0]["last_price"] == 1552.0 and history[0]["order_meta"] is None
    assert alerts_api("GET", f"/alerts/{alert['uuid']}")[1]["status"] == "enabled"


def test_an_ato_alert_places_its_basket_once(alerts_api, official_kite, market):
    nifty = market.by_symbol("NSE", "NIFTY 50")
    level = market.price(nifty) - 100
    basket = {
        "name": "buy infy",
        "type": "alert",
        "tags": [],
        "items": [
            {
                "type": "insert",
                "tradingsymbol": "INFY",
                "exchange": "NSE",
                "weight": 10000,
                "params": {
                    "transaction_type": "BUY",
                    "product": "CNC",
                    "order_type": "LIMIT",
                    "quantity": 1,
                    "price": 1600,
                },
            }
        ],
    }
    fields = simple(type="ato", lhs_exchange="INDICES", lhs_tradingsymbol="NIFTY 50", operator="<=")
    fields.update(rhs_constant=str(level), basket=json.dumps(basket))
    _, alert = alerts_api("POST", "/alerts", data=fields)
    assert "basket" not in alert  # as Kite's create answer
    assert alerts_api("GET", f"/alerts/{alert['uuid']}")[1]["basket"]["items"][0]["params"]["price"] == 1600
    market.pin_price(nifty, level - 1)
    _, fired = alerts_api("GET", f"/alerts/{alert['uuid']}")
    assert fired["status"] == "disabled" and fired["alert_count"] == 1
    [entry] = alerts_api("GET", f"/alerts/{alert['uuid']}/history")[1]
    order_id = entry["order_meta"][0]["order_id"]
    assert official_kite.order_history(order_id)[-1]["status"] == "COMPLETE"
    market.pin_price(nifty, level + 50)
    market.pin_price(nifty, level - 50)
    assert len(official_kite.orders()) == 1  # disabled: its basket is not placed again


def test_alerts_are_listed_modified_deleted_and_checked(alerts_api):
    _, first = alerts_api("POST", "/alerts", data=simple())
    _, second = alerts_api("POST", "/alerts", data=simple(name="second", operator="<", rhs_constant="1000"))
    _, modified = alerts_api("PUT", f"/alerts/{second['uuid']}", data=simple(name="renamed", rhs_constant="900"))
    assert modified["name"] == "renamed" and modified["rhs_constant"] == 900
    assert {a["uuid"] for a in alerts_api("GET", "/alerts")[1]} == {first["uuid"], second["uuid"]}
    status, _ = alerts_api("DELETE", "/alerts", params={"uuid": [first["uuid"], second["uuid"]]})
    assert status == 200 and alerts_api("GET", "/alerts")[1] == []
    status, body = alerts_api("POST", "/alerts", data=simple(lhs_attribute="Volume"))
    assert status == 400 and body["error_type"] == "InputException"
    status, body = alerts_api("POST", "/alerts", data=simple(operator="!="))
    assert status == 400 and "operator" in body["message"]
    assert alerts_api("GET", "/alerts/not-an-alert")[0] == 404
