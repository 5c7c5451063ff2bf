"""Every call of the official Python client an ordinary app makes works on the sandbox, answering with the keys
and JSON types of Zerodha's recorded response; the official Go client's extra routes too. Every recorded
response file is walked."""

import inspect
import json
from datetime import timedelta

import pytest
import requests

from conftest import MOCKS, recorded, recorded_text
from kite_sandbox.server import create_sandbox_app
from kite_service.kite.sdk import KiteConnect
from sandbox_support import JS_CLIENT, cheap_nifty_call, log_in_request_token
from test_sandbox_shapes import assert_instrument_map, assert_same_shape

# Client methods that are not Kite calls (login_url, set_*), or that only approved platforms may make.
NOT_CALLS = {
    "login_url",
    "set_access_token",
    "set_session_expiry_hook",
    "renew_access_token",
    "invalidate_refresh_token",
}
NOT_RESPONSES = {"postback.json", "ticker_ltp.json", "ticker_quote.json", "ticker_full.json"}  # checked elsewhere


@pytest.fixture
def sandbox_app(demo, clock):
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)


class Recorder:
    """Keeps the raw JSON (or CSV) of every answer the client gets, by client method."""

    def __init__(self, kite: KiteConnect):
        self.bodies: dict = {}
        self.method = None
        original = kite.reqsession.request

        def request(*args, **kwargs):
            response = original(*args, **kwargs)
            body = response.json() if "json" in response.headers.get("content-type", "") else response.content
            self.bodies[self.method] = body
            return response

        kite.reqsession.request = request

    def call(self, kite, name, *args, **kwargs):
        self.method = name
        return getattr(kite, name)(*args, **kwargs)


def check(body, fixture):
    assert body["status"] == "success", body
    assert_same_shape(body["data"], [recorded(fixture)["data"]])


def test_every_client_call_answers_with_the_recorded_shape(official_kite, sandbox_app, sandbox_root, demo, clock):
    kite, walked = official_kite, set()
    record = Recorder(kite)
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)

    def expect(fixture, name, *args, **kwargs):
        result = record.call(kite, name, *args, **kwargs)
        check(record.bodies[name], fixture)
        walked.add(fixture)
        return result

    infy = {"exchange": "NSE", "tradingsymbol": "INFY"}
    buy = {**infy, "transaction_type": "BUY", "quantity": 1, "product": "CNC"}
    expect("profile.json", "profile")
    expect("margins.json", "margins")
    expect("margins_equity.json", "margins", "equity")
    expect("margin_commodity.json", "margins", "commodity")
    filled = expect("order_response.json", "place_order", "regular", order_type="MARKET", market_protection=-1, **buy)
    resting = kite.place_order("regular", order_type="LIMIT", price=1400, **buy)
    expect("order_modify.json", "modify_order", "regular", resting, price=1401)
    expect("order_cancel.json", "cancel_order", "regular", resting)
    entry = kite.place_order("co", order_type="LIMIT", price=1500, trigger_price=1480, **{**buy, "product": "CO"})
    clock.advance(3)
    stop = next(o["order_id"] for o in kite.orders() if o["parent_order_id"] == entry)
    expect("order_cancel.json", "exit_order", "co", stop, parent_order_id=entry)
    expect("orders.json", "orders")
    expect("order_info.json", "order_history", filled)
    expect("order_trades.json", "order_trades", filled)
    expect("trades.json", "trades")
    expect("positions.json", "positions")
    expect("convert_position.json", "convert_position", "NSE", "INFY", "BUY", "day", 1, "CNC", "MIS")
    expect("holdings.json", "holdings")
    auctions = expect("auctions_list.json", "get_auction_instruments")
    expect(
        "order_response.json",
        "place_order",
        "auction",
        **{**infy, "transaction_type": "SELL", "quantity": 1},
        product="CNC",
        order_type="LIMIT",
        price=1500,
        auction_number=auctions[0]["auction_number"],
    )
    call = cheap_nifty_call(market)
    option = {"exchange": "NFO", "tradingsymbol": call.tradingsymbol, "transaction_type": "BUY", "product": "NRML"}
    expect(
        "autoslice_response.json",
        "place_autoslice_order",
        "regular",
        quantity=60 * 65,
        order_type="MARKET",
        market_protection=-1,
        **option,
    )

    assert_instrument_map(expect_raw(record, kite, "quote", ["NSE:INFY", "NSE:NIFTY 50"]), "quote.json")
    assert_instrument_map(expect_raw(record, kite, "ohlc", ["NSE:INFY"]), "ohlc.json")
    assert_instrument_map(expect_raw(record, kite, "ltp", ["NSE:INFY"]), "ltp.json")
    assert_instrument_map(
        expect_raw(record, kite, "trigger_range", "BUY", ["NSE:INFY", "NSE:TCS"]), "trigger_range.json"
    )
    walked |= {"quote.json", "ohlc.json", "ltp.json", "trigger_range.json"}
    start, end = clock().replace(tzinfo=None) - timedelta(hours=1), clock().replace(tzinfo=None)
    expect("historical_minute.json", "historical_data", 408065, start, end, "minute")
    expect("historical_oi.json", "historical_data", 408065, start, end, "minute", oi=True)
    for name, fixture, args in (
        ("instruments", "instruments_all.csv", ()),
        ("instruments", "instruments_nse.csv", ("NSE",)),
        ("mf_instruments", "mf_instruments.csv", ()),
    ):
        rows = record.call(kite, name, *args)
        assert rows and record.bodies[name].split(b"\n")[0].decode() == recorded_text(fixture).splitlines()[0]
        walked.add(fixture)

    gtt = {"trigger_type": "single", "tradingsymbol": "INFY", "exchange": "NSE", "last_price": 1500.0}
    legs = [{"transaction_type": "BUY", "quantity": 1, "price": 1451, "order_type": "LIMIT", "product": "CNC"}]
    trigger_id = expect("gtt_place_order.json", "place_gtt", trigger_values=[1450], orders=legs, **gtt)["trigger_id"]
    expect("gtt_modify_order.json", "modify_gtt", trigger_id, trigger_values=[1440], orders=legs, **gtt)
    expect("gtt_get_order.json", "get_gtt", trigger_id)
    expect("gtt_get_orders.json", "get_gtts")
    expect("gtt_delete_order.json", "delete_gtt", trigger_id)

    margin_order = {**buy, "variety": "regular", "order_type": "LIMIT", "price": 1500}
    expect("order_margins.json", "order_margins", [margin_order])
    expect("basket_margins.json", "basket_order_margins", [margin_order, {**margin_order, "tradingsymbol": "TCS"}])
    note = {**margin_order, "order_id": filled, "average_price": 1500.0}
    expect("virtual_contract_note.json", "get_virtual_contract_note", [note])

    fund = "INF209K01VH8"
    mf_order = expect("mf_order_response.json", "place_mf_order", fund, "BUY", amount=5000)["order_id"]
    expect("mf_orders.json", "mf_orders")
    expect("mf_orders_info.json", "mf_orders", mf_order)
    expect("mf_order_cancel.json", "cancel_mf_order", mf_order)
    sip = expect("mf_sip_place.json", "place_mf_sip", fund, 1000, 12, "monthly", instalment_day=5)["sip_id"]
    expect("mf_sip_modify.json", "modify_mf_sip", sip, amount=1500)
    expect("mf_sip_info.json", "mf_sips", sip)
    record.call(kite, "mf_sips")
    assert_same_shape(record.bodies["mf_sips"]["data"], [recorded("mf_sips.json")["data"]])
    walked.add("mf_sips.json")
    expect("mf_sip_cancel.json", "cancel_mf_sip", sip)
    kite.place_mf_order(fund, "BUY", amount=5000)
    clock.advance(timedelta(hours=4).total_seconds())  # past the 13:30 cut-off: allotted
    expect("mf_holdings.json", "mf_holdings")

    walked |= go_client_routes(sandbox_root, kite, clock)
    expect("session_logout.json", "invalidate_access_token")
    kite_again = KiteConnect(demo.api_key, root=sandbox_root)
    record_again = Recorder(kite_again)
    record_again.call(kite_again, "generate_session", log_in_request_token(sandbox_root, demo), demo.api_secret)
    check(record_again.bodies["generate_session"], "generate_session.json")
    walked |= {"generate_session.json"}

    public = {name for name, _ in inspect.getmembers(KiteConnect, inspect.isfunction) if not name.startswith("_")}
    called = set(record.bodies) | set(record_again.bodies)
    assert called == public - NOT_CALLS, f"not walked: {sorted(public - NOT_CALLS - called)}"
    responses = {p.name for p in MOCKS.iterdir() if p.suffix in (".json", ".csv")} - NOT_RESPONSES
    assert walked == responses, f"recorded files not walked: {sorted(responses - walked)}"


def expect_raw(record, kite, name, *args):
    record.call(kite, name, *args)
    body = record.bodies[name]
    assert body["status"] == "success"
    return body["data"]


def go_client_routes(root, kite, clock) -> set:
    """The routes only the official Go client calls: full profile, holdings summary and compact, authorisation,
    alerts. Called as it calls them; returns the recorded files walked."""
    headers = {"X-Kite-Version": "3", "Authorization": f"token {kite.api_key}:{kite.access_token}"}

    def call(method, path, fixture, **kwargs):
        body = requests.request(method, f"{root}{path}", headers=headers, timeout=5, **kwargs).json()
        if recorded(fixture)["data"] is None:
            assert body == {"status": "success", "data": None}
        else:
            check(body, fixture)
        return body["data"]

    call("GET", "/user/profile/full", "full_profile.json")
    call("GET", "/portfolio/holdings/summary", "holdings_summary.json")
    call("GET", "/portfolio/holdings/compact", "holdings_compact.json")
    call("POST", "/portfolio/holdings/authorise", "holdings_auth.json", data={"type": "equity"})
    alert = {"name": "NIFTY 50", "type": "simple", "lhs_exchange": "INDICES", "lhs_tradingsymbol": "NIFTY 50"}
    alert |= {"lhs_attribute": "LastTradedPrice", "operator": ">=", "rhs_type": "constant", "rhs_constant": "1"}
    simple = call("POST", "/alerts", "alerts_create.json", data=alert)
    params = {"transaction_type": "BUY", "product": "CNC", "order_type": "LIMIT", "quantity": 1, "price": 1500}
    item = {"tradingsymbol": "INFY", "exchange": "NSE", "weight": 10000, "params": params}
    basket = {"name": "b", "type": "alert", "tags": [], "items": [item]}
    ato = call("POST", "/alerts", "alerts_create_ato.json", data={**alert, "type": "ato", "basket": json.dumps(basket)})
    call("PUT", f"/alerts/{ato['uuid']}", "alerts_modify.json", data={**alert, "name": "renamed"})
    call("GET", f"/alerts/{simple['uuid']}", "alerts_get_one.json")
    call("GET", "/alerts", "alerts_get.json")
    call("GET", f"/alerts/{simple['uuid']}/history", "alerts_history.json")  # fired: NIFTY is above 1
    call("DELETE", "/alerts", "alerts_delete.json", params={"uuid": [simple["uuid"], ato["uuid"]]})
    files = {"full_profile.json", "holdings_summary.json", "holdings_compact.json", "holdings_auth.json"}
    return files | {
        f"alerts_{n}.json" for n in ("create", "create_ato", "modify", "get_one", "get", "history", "delete")
    }


def test_the_javascript_clients_calls_work_too(node, official_kite, sandbox_app, sandbox_root):
    import subprocess

    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    call = cheap_nifty_call(market)
    args = [official_kite.api_key, official_kite.access_token, sandbox_root, call.tradingsymbol]
    result = subprocess.run([node, "calls_probe.js", *args], cwd=JS_CLIENT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    errors = {name: answer["error"] for name, answer in seen.items() if "error" in answer}
    assert errors == {} and len(seen) == 19
    assert seen["getGTT"]["data"]["condition"]["trigger_values"] == [1440]
    assert set(seen["orderMargins"]["data"][0]) == {"type", "tradingsymbol", "exchange", "charges", "total"}  # compact
    assert seen["orderBasketMargins"]["data"]["final"]["total"] == 0  # a buy and a sell of INFY net out
    assert seen["getMFInstruments"]["data"]["first"]["tradingsymbol"] == "INF209K01157"  # the recorded first row
    assert len(seen["placeOrder autoslice"]["data"]["children"]) == 3
