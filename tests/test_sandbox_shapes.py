"""Every sandbox endpoint answers with the keys and JSON types of Zerodha's recorded response.

Rules, per object: the keys present in every recorded sample are required, keys seen in no
sample are refused; a list recorded with items must have items; values must have a JSON type seen
in the samples (number covers int and float; a field recorded only as null, or an object recorded
empty, may hold anything; a map keyed by data, such as a SIP's step-ups by "DD-MM", is compared by
its values).
"""

import gzip

import pytest

from conftest import recorded, recorded_text
from kite_sandbox.server import create_sandbox_app
from sandbox_support import exchange, log_in


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


# Objects whose keys are data, not field names (a SIP's step-ups by "DD-MM"): only their values are compared.
MAP_FIELDS = {"step_up"}
# Lists that are rightly empty on some items (an order placed without a tag has no tags).
MAY_BE_EMPTY = {"tags"}


def assert_same_shape(ours, samples, path="data"):
    types = {json_type(s) for s in samples}
    if not samples or types == {"null"}:
        return
    kind = json_type(ours)
    assert kind in types, f"{path}: {kind}, recorded as {sorted(types)}"
    if kind == "object" and path.rsplit(".", 1)[-1] in MAP_FIELDS:
        values = [v for s in samples if isinstance(s, dict) for v in s.values()]
        for key, value in ours.items():
            assert_same_shape(value, values, f"{path}[{key}]")
    elif kind == "object":
        dicts = [s for s in samples if isinstance(s, dict)]
        if any(not d for d in dicts):
            return  # recorded as {}: free-form
        required = set.intersection(*(set(d) for d in dicts))
        allowed = set.union(*(set(d) for d in dicts))
        assert required <= set(ours), f"{path}: missing {sorted(required - set(ours))}"
        assert set(ours) <= allowed, f"{path}: unexpected {sorted(set(ours) - allowed)}"
        for key, value in ours.items():
            assert_same_shape(value, [d[key] for d in dicts if key in d], f"{path}.{key}")
    elif kind == "array":
        elements = [e for s in samples if isinstance(s, list) for e in s]
        # An empty answer shows no shape: where the recording has items, the sandbox must too.
        if path.rsplit(".", 1)[-1] not in MAY_BE_EMPTY:
            assert ours or not elements, f"{path}: an empty list, recorded with {len(elements)} item(s)"
        for index, element in enumerate(ours):
            assert_same_shape(element, elements, f"{path}[{index}]")


def assert_instrument_map(ours: dict, fixture: str):
    """Quote endpoints key their data by instrument; compare each entry with the recorded entries."""
    assert ours
    recorded_entries = list(recorded(fixture)["data"].values())
    for key, entry in ours.items():
        assert_same_shape(entry, recorded_entries, f"data[{key}]")


def check(response, fixture, newest_by=None):
    """The answer's shape against the recording's; with `newest_by` (a timestamp field of a list's
    items), every item must also have each field of the newest recorded item: Kite's current format."""
    body = response.get_json()
    assert response.status_code == 200, body
    assert set(body) <= {"status", "data"} and body["status"] == "success"
    assert_same_shape(body["data"], [recorded(fixture)["data"]])
    if newest_by is not None:
        newest = max(recorded(fixture)["data"], key=lambda item: item[newest_by])
        assert body["data"], f"{fixture}: no items to compare with the newest recorded one"
        for index, item in enumerate(body["data"]):
            assert set(newest) <= set(item), f"data[{index}]: missing {sorted(set(newest) - set(item))}"
    return body["data"]


@pytest.fixture
def sandbox_app(demo, clock):
    # Many calls in well under a second: the limits are tested in test_sandbox_protocol.
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)


@pytest.fixture
def session(sandbox, demo):
    response = exchange(sandbox, demo, log_in(sandbox, demo))
    check(response, "generate_session.json")
    token = response.get_json()["data"]["access_token"]
    return {"X-Kite-Version": "3", "Authorization": f"token {demo.api_key}:{token}"}


def test_every_endpoint_matches_the_recorded_shapes(sandbox, sandbox_app, session, demo, clock):
    get = lambda path: sandbox.get(path, headers=session)  # noqa: E731
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1, "product": "CNC"}

    check(get("/user/profile"), "profile.json")
    filled = check(
        sandbox.post(
            "/orders/regular", data={**order, "order_type": "MARKET", "market_protection": -1}, headers=session
        ),
        "order_response.json",
    )["order_id"]
    resting = sandbox.post(
        "/orders/regular", data={**order, "order_type": "LIMIT", "price": 1300, "tag": "shapes"}, headers=session
    )
    resting_id = resting.get_json()["data"]["order_id"]
    check(sandbox.put(f"/orders/regular/{resting_id}", data={"price": 1301}, headers=session), "order_modify.json")
    check(sandbox.delete(f"/orders/regular/{resting_id}", headers=session), "order_cancel.json")
    sandbox.post(
        "/orders/regular",
        data={**order, "order_type": "MARKET", "market_protection": -1, "quantity": 10000},
        headers=session,
    )
    clock.advance(3)

    orders = check(get("/orders"), "orders.json", newest_by="order_timestamp")
    assert {o["status"] for o in orders} == {"COMPLETE", "CANCELLED", "REJECTED"}
    assert [o["tags"] for o in orders if o["tags"]] == [["shapes"]]  # a tags list to compare, too
    check(get(f"/orders/{resting_id}"), "order_info.json")
    assert check(get(f"/orders/{filled}/trades"), "order_trades.json")
    assert check(get("/trades"), "trades.json")
    assert check(get("/portfolio/positions"), "positions.json")["net"]
    check(
        sandbox.put(
            "/portfolio/positions",
            headers=session,
            data={
                "exchange": "NSE",
                "tradingsymbol": "INFY",
                "transaction_type": "BUY",
                "position_type": "day",
                "quantity": 1,
                "old_product": "CNC",
                "new_product": "MIS",
            },
        ),
        "convert_position.json",
    )
    assert check(get("/portfolio/holdings"), "holdings.json")
    check(get("/user/margins"), "margins.json")
    check(get("/user/margins/equity"), "margins_equity.json")

    assert_instrument_map(get("/quote?i=NSE:INFY&i=NSE:NIFTY 50").get_json()["data"], "quote.json")
    clock.advance(1.1)
    assert_instrument_map(get("/quote/ohlc?i=NSE:INFY").get_json()["data"], "ohlc.json")
    clock.advance(1.1)
    assert_instrument_map(get("/quote/ltp?i=NSE:INFY&i=408065").get_json()["data"], "ltp.json")
    range_ = "from=2026-11-20+09:15:00&to=2026-11-20+10:00:00"
    assert check(get(f"/instruments/historical/408065/minute?{range_}"), "historical_minute.json")["candles"]
    candles = check(get(f"/instruments/historical/408065/minute?{range_}&oi=1"), "historical_oi.json")["candles"]
    assert len(candles[0]) == len(recorded("historical_oi.json")["data"]["candles"][0])

    for path, fixture in (("/instruments", "instruments_all.csv"), ("/instruments/NSE", "instruments_nse.csv")):
        header = gzip.decompress(get(path).data).decode().splitlines()[0]
        assert header == recorded_text(fixture).splitlines()[0]

    token = session["Authorization"].split(":")[1]
    logout = sandbox.delete(f"/session/token?api_key={demo.api_key}&access_token={token}", headers=session)
    check(logout, "session_logout.json")


@pytest.mark.parametrize(
    ("ours", "recorded_data"),
    [
        ([], [{"order_id": "1"}]),  # a whole answer
        ({"net": [], "day": []}, {"net": [{"quantity": 1}], "day": []}),  # a list inside an object
        ([{"candles": []}], [{"candles": [[1, 2]]}]),  # a list inside a list's items
    ],
)
def test_an_empty_list_where_the_recording_has_items_fails(ours, recorded_data):
    with pytest.raises(AssertionError, match="an empty list, recorded with 1 item"):
        assert_same_shape(ours, [recorded_data])


def test_an_empty_list_passes_where_the_recording_is_empty_or_the_list_may_be():
    assert_same_shape({"net": [{"quantity": 1}], "day": []}, [{"net": [{"quantity": 2}], "day": []}])
    assert_same_shape([{"tag": "b", "tags": []}], [[{"tag": "a", "tags": ["a"]}]])


def test_error_envelope_matches_kites(sandbox, session):
    body = sandbox.get("/orders/999/trades", headers=session).get_json()
    assert body["status"] == "error" and isinstance(body["message"], str) and body["error_type"]
