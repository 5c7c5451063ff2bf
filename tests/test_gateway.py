"""The gateway through the official Python client against the sandbox over real HTTP: a program's own
credentials in, Kite's answers out, the real token never seen, read-only clients kept read-only."""

import json
import subprocess
import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
from waitress.server import create_server

from conftest import free_port, make_session
from kite_app import create_app
from kite_sandbox.server import create_sandbox_app
from kite_service.kite.sdk import KiteConnect, kite_errors
from kite_service.login.session_store import SessionStore
from kite_service.web.server_settings import MAX_REQUEST_BYTES, WAITRESS_SETTINGS
from sandbox_support import JS_CLIENT

INFY = {"exchange": "NSE", "tradingsymbol": "INFY"}


@dataclass
class Gateway:
    root: str
    app: object
    access_token: str  # Kite's real token, which no program through the gateway may see

    def client(self, name: str, can_trade: bool = False) -> KiteConnect:
        """The official client, configured with a gateway client's credentials."""
        client, token = self.app.extensions["kite_app"].gateway.clients.add(name, can_trade=can_trade)
        return KiteConnect(client.api_key, access_token=token, root=self.root)


@pytest.fixture
def sandbox_app(demo, clock):
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)  # direct and gateway calls side by side


@pytest.fixture
def gateway(tmp_path, config, demo, official_kite, clock):
    credentials = tmp_path / "demo_credentials.json"
    credentials.write_text(json.dumps({"api_key": demo.api_key, "api_secret": demo.api_secret}))
    sandbox_root = official_kite.root
    port = free_port()
    config.update(CREDENTIALS_FILE=str(credentials), KITE_API_ROOT=sandbox_root, ORDER_STREAM="off", PORT=str(port))
    app = create_app(config, clock=clock)
    SessionStore(app.extensions["kite_app"].settings.session_file).save(
        make_session(official_kite.access_token, login_time=clock(), api_key=demo.api_key)
    )
    server = create_server(app, host="127.0.0.1", port=port, **WAITRESS_SETTINGS)  # as the service serves
    threading.Thread(target=server.run, daemon=True).start()
    yield Gateway(f"http://127.0.0.1:{server.effective_port}", app, official_kite.access_token)
    server.close()


@pytest.fixture
def market(sandbox_app):
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    return market


def candle_hour(clock) -> tuple:
    """An hour of minute candles two days before the injected clock's day: 09:15 to 10:15 IST."""
    day = (clock() - timedelta(days=2)).date()
    return f"{day} 09:15:00", f"{day} 10:15:00"


def test_reads_answer_as_kite_does(gateway, official_kite, market, clock):
    kite = gateway.client("notebook")
    assert kite.profile() == official_kite.profile()
    assert kite.ltp("NSE:INFY") == official_kite.ltp("NSE:INFY")
    assert kite.margins("equity") == official_kite.margins("equity")
    token = market.by_symbol("NSE", "INFY").token
    start, end = candle_hour(clock)
    candles = kite.historical_data(token, start, end, "minute")
    assert candles == official_kite.historical_data(token, start, end, "minute")
    assert len(candles) == 61
    instruments = kite.instruments("NSE")  # Kite's CSV, passed through as it is
    assert instruments == official_kite.instruments("NSE")
    assert len(instruments) > 50


def test_a_trading_client_places_modifies_and_cancels_tagged_with_its_name(gateway, official_kite, market):
    kite = gateway.client("bot-1", can_trade=True)
    order_id = kite.place_order(
        "regular", order_type="LIMIT", price=1400, quantity=1, product="CNC", **INFY, transaction_type="BUY"
    )
    kite.modify_order("regular", order_id, price=1401)
    kite.cancel_order("regular", order_id)
    [last] = official_kite.order_history(order_id)[-1:]
    assert (last["status"], last["price"], last["tag"]) == ("CANCELLED", 1401, "bot-1")
    own_tag = kite.place_order(
        "regular", order_type="LIMIT", price=1400, quantity=1, product="CNC", tag="mine", transaction_type="BUY", **INFY
    )
    assert official_kite.order_history(own_tag)[-1]["tag"] == "mine"  # the program's own tag wins


def test_a_read_only_clients_order_is_refused_and_nothing_is_sent(gateway, official_kite, market):
    kite = gateway.client("notebook")
    before = len(official_kite.orders())
    with pytest.raises(kite_errors.PermissionException, match="read-only"):
        kite.place_order(
            "regular", order_type="LIMIT", price=1400, quantity=1, product="CNC", transaction_type="BUY", **INFY
        )
    assert len(official_kite.orders()) == before
    assert kite.order_margins(
        [
            {
                **INFY,
                "transaction_type": "BUY",
                "variety": "regular",
                "product": "CNC",
                "order_type": "LIMIT",
                "quantity": 1,
                "price": 1400,
            }
        ]
    )  # a calculation is a read


def test_unknown_or_revoked_credentials_get_kites_token_exception(gateway):
    kite = gateway.client("bot-2")
    kite.profile()
    stranger = KiteConnect("kiteapp-0000000000000000", access_token="made-up", root=gateway.root)
    with pytest.raises(kite_errors.TokenException):
        stranger.profile()
    assert gateway.app.extensions["kite_app"].gateway.clients.revoke("bot-2")
    with pytest.raises(kite_errors.TokenException):  # at once: no restart
        kite.profile()


def test_sessions_come_from_the_daily_login_not_from_programs(gateway, demo):
    kite = gateway.client("bot-3", can_trade=True)
    with pytest.raises(kite_errors.PermissionException, match="/login"):
        kite.generate_session("some-request-token", demo.api_secret)
    with pytest.raises(kite_errors.PermissionException):
        kite.invalidate_access_token()  # would log the whole account out
    kite.profile()  # the account is still logged in


def test_without_a_session_for_today_programs_are_told_to_log_in(gateway, clock):
    kite = gateway.client("bot-4")
    clock.advance(24 * 3600)  # past 06:00 IST: the session is over
    with pytest.raises(kite_errors.TokenException, match="/login"):
        kite.profile()


def test_kites_real_token_is_in_no_answer(gateway, official_kite, market):
    answers = []
    kite = gateway.client("bot-5", can_trade=True)
    original = kite.reqsession.request

    def keep(*args, **kwargs):
        response = original(*args, **kwargs)
        answers.append(str(response.headers) + response.text)
        return response

    kite.reqsession.request = keep
    kite.profile()
    kite.orders()
    kite.place_order(
        "regular", order_type="LIMIT", price=1400, quantity=1, product="CNC", transaction_type="BUY", **INFY
    )
    with pytest.raises(kite_errors.PermissionException):
        kite.generate_session("x", "y")
    assert answers and not [text for text in answers if gateway.access_token in text]


def test_bad_requests_get_kites_error_json(gateway):
    kite = gateway.client("bot-6", can_trade=True)
    headers = {"Authorization": f"token {kite.api_key}:{kite.access_token}", "X-Kite-Version": "3"}
    unknown = requests.get(f"{gateway.root}/user/nothing-here", headers=headers, timeout=5)
    assert unknown.status_code == 404 and unknown.json()["error_type"] == "GeneralException"
    body = b"x" * (MAX_REQUEST_BYTES + 1)
    huge = requests.post(f"{gateway.root}/orders/regular", data=body, headers=headers, timeout=5)
    assert huge.status_code == 413 and huge.json()["status"] == "error"
    assert requests.get(f"{gateway.root}/health", timeout=5).status_code == 200  # the service's own routes stay


def test_the_audit_log_and_status_name_the_client_of_each_order(gateway, official_kite, market, config, tmp_path):
    kite = gateway.client("bot-7", can_trade=True)
    order_id = kite.place_order(
        "regular", order_type="LIMIT", price=1400, quantity=1, product="CNC", transaction_type="BUY", **INFY
    )
    kite.cancel_order("regular", order_id)
    reader = gateway.client("reader")
    with pytest.raises(kite_errors.PermissionException):
        reader.place_order(
            "regular", order_type="LIMIT", price=1400, quantity=1, product="CNC", transaction_type="BUY", **INFY
        )
    lines = [
        json.loads(line)
        for path in (tmp_path / "logs").glob("gateway_audit_*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert [(line["client"], line["call"], line["status"]) for line in lines] == [
        ("bot-7", "POST /orders/regular", 200),
        ("bot-7", f"DELETE /orders/regular/{order_id}", 200),
        ("reader", "POST /orders/regular", 403),
    ]
    assert lines[0]["parameters"]["tag"] == "bot-7" and lines[0]["order_id"] == lines[1]["order_id"] == order_id
    assert oct(next((tmp_path / "logs").glob("gateway_audit_*.jsonl")).stat().st_mode & 0o777) == "0o600"
    status = requests.get(f"{gateway.root}/api/status", headers={"X-Access-Code": config["CODE"]}, timeout=5).json()
    by_name = {client["name"]: client for client in status["gateway"]["clients"]}
    assert by_name["bot-7"]["today"] == {"calls": 2, "orders": 2, "refusals": 0}
    assert by_name["reader"]["today"] == {"calls": 1, "orders": 0, "refusals": 1}
    assert by_name["reader"]["can_trade"] is False and "token_sha256" not in by_name["reader"]


def test_the_javascript_client_works_through_the_gateway_unchanged(gateway, node, market, clock):
    client, token = gateway.app.extensions["kite_app"].gateway.clients.add("js-bot", can_trade=True)
    instrument = str(market.by_symbol("NSE", "INFY").token)
    command = [node, "gateway_probe.js", client.api_key, token, gateway.root, instrument, *candle_hour(clock)]
    result = subprocess.run(command, cwd=JS_CLIENT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    errors = {name: answer["error"] for name, answer in seen.items() if "error" in answer}
    assert list(errors) == ["generateSession"], errors
    assert errors["generateSession"].startswith("PermissionException")
    assert seen["getLTP"]["data"]["NSE:INFY"]["last_price"] == 1500
    assert seen["getHistoricalData"]["data"]["count"] == 61 and seen["getInstruments"]["data"]["count"] > 50
    last = seen["getOrderHistory"]["data"]
    assert (last["status"], last["price"], last["tag"]) == ("CANCELLED", 1401, "js-bot")
    assert gateway.access_token not in result.stdout
