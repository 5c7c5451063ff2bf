"""Bad input to the sandbox's GTT, margin, mutual fund, alert and order-variety calls: a 4xx JSON error, never a 500."""

import json

import pytest

from kite_sandbox.server import create_sandbox_app

CONDITION = json.dumps({"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": [1000], "last_price": 1500})
LEG = {"transaction_type": "BUY", "quantity": 1, "price": 1001, "order_type": "LIMIT", "product": "CNC"}
ALERT = {"name": "a", "type": "simple", "lhs_exchange": "NSE", "lhs_tradingsymbol": "INFY"}
ALERT |= {"lhs_attribute": "LastTradedPrice", "operator": ">=", "rhs_type": "constant", "rhs_constant": "1"}
BAD = [
    ("POST", "/gtt/triggers", {"data": {"type": "single"}}),
    ("POST", "/gtt/triggers", {"data": {"type": "single", "condition": "{", "orders": "[]"}}),
    ("POST", "/gtt/triggers", {"data": {"type": "single", "condition": "[1]", "orders": "{}"}}),
    (
        "POST",
        "/gtt/triggers",
        {"data": {"type": "single", "condition": CONDITION, "orders": json.dumps([{**LEG, "price": 0}])}},
    ),
    (
        "POST",
        "/gtt/triggers",
        {"data": {"type": "single", "condition": CONDITION, "orders": json.dumps([{**LEG, "quantity": "x"}])}},
    ),
    ("POST", "/gtt/triggers", {"data": {"type": "single", "condition": CONDITION, "orders": json.dumps(["leg"])}}),
    ("PUT", "/gtt/triggers/999", {"data": {"type": "single"}}),
    ("DELETE", "/gtt/triggers/999", {}),
    ("POST", "/margins/orders", {"data": "not json"}),
    ("POST", "/margins/orders", {"json": {"not": "a list"}}),
    ("POST", "/margins/orders", {"json": [{"exchange": "NSE", "tradingsymbol": "NOPE"}]}),
    ("POST", "/margins/orders", {"json": [{"exchange": "NSE", "tradingsymbol": "INFY", "quantity": "-1"}]}),
    ("POST", "/margins/basket", {"json": [1, 2]}),
    ("POST", "/charges/orders", {"json": [{"exchange": "NSE", "tradingsymbol": "INFY", "product": "CNC"}]}),
    ("POST", "/mf/orders", {"data": {"tradingsymbol": "INF209K01VH8", "transaction_type": "BUY", "amount": "inf"}}),
    ("POST", "/mf/orders", {"data": {"tradingsymbol": "NOPE", "transaction_type": "BUY", "amount": "5000"}}),
    ("POST", "/mf/orders", {"data": {"tradingsymbol": "INF209K01VH8", "transaction_type": "HOLD"}}),
    ("DELETE", "/mf/orders/nope", {}),
    (
        "POST",
        "/mf/sips",
        {"data": {"tradingsymbol": "INF209K01VH8", "amount": "1000", "frequency": "daily", "instalments": "1"}},
    ),
    (
        "POST",
        "/mf/sips",
        {"data": {"tradingsymbol": "INF209K01VH8", "amount": "1000", "frequency": "monthly", "instalments": "0"}},
    ),
    ("PUT", "/mf/sips/nope", {"data": {"amount": "1"}}),
    ("POST", "/alerts", {"data": {**ALERT, "rhs_constant": "nan"}}),
    ("POST", "/alerts", {"data": {**ALERT, "type": "ato", "basket": "{"}}),
    ("POST", "/alerts", {"data": {**ALERT, "type": "ato", "basket": json.dumps({"items": [{"params": 1}]})}}),
    ("POST", "/alerts", {"data": {**ALERT, "lhs_exchange": "INDICES"}}),
    ("DELETE", "/alerts", {}),
    ("DELETE", "/alerts?uuid=nope&uuid=nope", {}),
    ("POST", "/orders/iceberg", {"data": {"exchange": "NSE", "tradingsymbol": "INFY", "iceberg_legs": "x"}}),
    (
        "POST",
        "/orders/co",
        {
            "data": {
                "exchange": "NSE",
                "tradingsymbol": "INFY",
                "product": "CO",
                "order_type": "LIMIT",
                "trigger_price": "x",
            }
        },
    ),
    ("POST", "/orders/auction", {"data": {"exchange": "NSE", "tradingsymbol": "INFY", "auction_number": "1"}}),
    (
        "POST",
        "/orders/regular",
        {"data": {"exchange": "NSE", "tradingsymbol": "INFY", "autoslice": "true", "quantity": "10"}},
    ),
    ("GET", "/instruments/trigger_range/HOLD?i=NSE:INFY", {}),
    ("POST", "/session/refresh_token", {"data": {"refresh_token": "x"}}),
]


@pytest.fixture
def sandbox_app(demo, clock):
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)


@pytest.mark.parametrize(("method", "path", "body"), BAD, ids=[f"{m} {p} {i}" for i, (m, p, _) in enumerate(BAD)])
def test_bad_input_is_a_clear_json_error(sandbox, auth, method, path, body):
    response = sandbox.open(path, method=method, headers=auth, **body)
    answer = response.get_json()
    assert 400 <= response.status_code < 500, answer
    assert answer["status"] == "error" and answer["error_type"].endswith("Exception") and answer["message"]


def test_a_failed_alert_change_keeps_the_alert_whole(sandbox, auth, sandbox_app):
    basket = {"items": [{"exchange": "NSE", "tradingsymbol": "INFY", "params": {**LEG, "price": 1500}}]}
    created = sandbox.post("/alerts", data={**ALERT, "type": "ato", "basket": json.dumps(basket)}, headers=auth)
    alert_id = created.get_json()["data"]["uuid"]
    refused = sandbox.put(f"/alerts/{alert_id}", data={**ALERT, "type": "ato", "basket": "{"}, headers=auth)
    assert refused.status_code == 400
    assert sandbox.get(f"/alerts/{alert_id}", headers=auth).get_json()["data"]["basket"]["items"]  # still there
    assert sandbox.get("/orders", headers=auth).status_code == 200  # and the sandbox still answers (it fires)
    twice = sandbox.delete(f"/alerts?uuid={alert_id}&uuid={alert_id}", headers=auth)
    assert twice.status_code == 200 and sandbox.get("/alerts", headers=auth).get_json()["data"] == []


def test_a_basket_selling_shares_not_held_is_answered(sandbox, auth):
    sale = {"exchange": "NSE", "tradingsymbol": "RELIANCE", "transaction_type": "SELL", "variety": "regular"}
    sale |= {"product": "CNC", "order_type": "LIMIT", "quantity": 5, "price": 1300}
    response = sandbox.post("/margins/basket?consider_positions=true", json=[sale], headers=auth)
    assert response.status_code == 200 and response.get_json()["data"]["final"]["total"] == 0
