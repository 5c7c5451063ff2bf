"""The gateway through the official Python client against the sandbox over real HTTP: a program's own
credentials in, Kite's answers out, the real token never seen, read-only clients kept read-only."""

import json
import socket
import subprocess
import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests

from conftest import free_port, make_session
from kite_app import create_app, proxy_settings
from kite_sandbox.server import create_sandbox_app
from kite_service.gateway import forward
from kite_service.kite.sdk import KiteConnect, kite_errors
from kite_service.login.session_store import SessionStore
from kite_service.web.http_server import MAX_REQUEST_BYTES, WAITRESS_SETTINGS, create_http_server
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
def serve_gateway(tmp_path, config, demo, official_kite, clock):
    """serve_gateway(**settings): the service in front of the sandbox, logged in, served as it serves."""
    servers = []

    def serve(**settings) -> Gateway:
        credentials = tmp_path / "demo_credentials.json"
        credentials.write_text(json.dumps({"api_key": demo.api_key, "api_secret": demo.api_secret}))
        port = free_port()
        config.update(CREDENTIALS_FILE=str(credentials), KITE_API_ROOT=official_kite.root, PORT=str(port))
        app = create_app({**config, "ORDER_STREAM": "off", **settings}, clock=clock)
        SessionStore(app.extensions["kite_app"].settings.session_file).save(
            make_session(official_kite.access_token, login_time=clock(), api_key=demo.api_key)
        )
        server = create_http_server(app, "127.0.0.1", port, **proxy_settings(app.extensions["kite_app"].settings))
        servers.append((server, app))
        threading.Thread(target=server.run, daemon=True).start()
        return Gateway(f"http://127.0.0.1:{server.effective_port}", app, official_kite.access_token)

    yield serve
    for server, app in servers:
        app.extensions["day_feed"].stop()  # as kite_app.serve does: open /day streams end first
        server.close()


@pytest.fixture
def gateway(serve_gateway):
    return serve_gateway()


@pytest.fixture
def market(sandbox_app):
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    return market


def kite_headers(kite: KiteConnect) -> dict:
    return {"Authorization": f"token {kite.api_key}:{kite.access_token}", "X-Kite-Version": "3"}


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


def test_the_go_clients_extra_routes_pass_too(gateway, official_kite):
    kite = gateway.client("go-bot")
    headers = kite_headers(kite)
    for path in ("/user/profile/full", "/portfolio/holdings/summary", "/alerts"):  # as gokiteconnect asks
        answer = requests.get(f"{gateway.root}{path}", headers=headers, timeout=5)
        direct = official_kite.reqsession.get(f"{official_kite.root}{path}", headers=kite_headers(official_kite))
        assert (answer.status_code, answer.json()) == (200, direct.json()), path


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
    headers = kite_headers(kite)
    unknown = requests.get(f"{gateway.root}/user/nothing-here", headers=headers, timeout=5)
    assert unknown.status_code == 404 and unknown.json()["error_type"] == "GeneralException"
    for size in (MAX_REQUEST_BYTES + 1, WAITRESS_SETTINGS["max_request_body_size"] + 1):  # Flask's cap, waitress's
        huge = requests.post(f"{gateway.root}/orders/regular", data=b"x" * size, headers=headers, timeout=5)
        assert huge.status_code == 413 and huge.json()["error_type"] == "InputException", size
        with pytest.raises(kite_errors.InputException):  # what the official client raises
            kite.place_order(
                "regular",
                order_type="LIMIT",
                price=1,
                quantity=1,
                product="CNC",
                transaction_type="BUY",
                tag="x" * size,
                **INFY,
            )
    foreign = requests.get(f"{gateway.root}/user/profile", headers={**headers, "Host": "evil.example"}, timeout=5)
    assert foreign.status_code == 421 and foreign.json()["error_type"] == "InputException"  # DNS rebinding
    patch = requests.patch(f"{gateway.root}/orders/regular/1", headers=headers, timeout=5)
    assert patch.status_code == 405 and patch.json()["error_type"] == "InputException"
    host, port = gateway.root.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:  # not HTTP: waitress's own refusal
        sock.sendall(b"GET /user/profile HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: many\r\n\r\n")
        answer = sock.makefile("rb").read()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body)["error_type"] == "InputException"
    assert requests.get(f"{gateway.root}/health", timeout=5).status_code == 200  # the service's own routes stay


def test_programs_on_other_machines_need_an_allowed_address(serve_gateway):
    # Behind a reverse proxy (TRUSTED_PROXY: here this machine), the caller is X-Forwarded-For's address.
    gateway = serve_gateway(TRUSTED_PROXY="127.0.0.1", GATEWAY_ALLOWED_ADDRESSES="198.51.100.0/24, 2001:db8::7")
    kite = gateway.client("laptop")
    headers = kite_headers(kite)

    def profile_from(address):
        return requests.get(f"{gateway.root}/user/profile", headers={**headers, "X-Forwarded-For": address}, timeout=5)

    for address in ("198.51.100.9", "2001:db8::7", "127.0.0.1"):  # listed, listed, this machine
        assert profile_from(address).status_code == 200, address
    refused = profile_from("203.0.113.7")
    assert refused.status_code == 403 and refused.json()["error_type"] == "PermissionException"
    assert "203.0.113.7" in refused.json()["message"] and "GATEWAY_ALLOWED_ADDRESSES" in refused.json()["message"]
    assert profile_from("2001:db8::8").status_code == 403
    kite.profile()  # this machine's programs: always


def test_a_call_that_would_wait_too_long_for_its_slot_is_refused_and_not_sent(
    gateway, sandbox_app, market, monkeypatch
):
    monkeypatch.setattr(forward, "MAX_WAIT_SECONDS", 0.3)  # Kite's quotes: 1/s, so a second one would wait ~1 s
    kite = gateway.client("impatient")
    reached_kite = []
    serve = sandbox_app.wsgi_app
    sandbox_app.wsgi_app = lambda environ, start: reached_kite.append(environ["PATH_INFO"]) or serve(environ, start)
    kite.ltp("NSE:INFY")
    with pytest.raises(kite_errors.NetworkException, match="Too many requests"):
        kite.ltp("NSE:INFY")
    kite.profile()  # another limit class: unaffected
    assert reached_kite == ["/quote/ltp", "/user/profile"]


def test_an_answer_cut_off_part_way_is_kites_network_error_and_an_order_is_not_sent_again(gateway, sandbox_app, market):
    kite = gateway.client("bot-9", can_trade=True)
    faults = sandbox_app.extensions["kite_sandbox"].faults
    reached_kite = []
    serve = sandbox_app.wsgi_app
    sandbox_app.wsgi_app = lambda environ, start: reached_kite.append(environ["PATH_INFO"]) or serve(environ, start)
    faults.set("/orders/regular", "connection-dropped", 1)
    with pytest.raises(kite_errors.NetworkException, match="check the order book") as raised:
        kite.place_order(
            "regular", order_type="LIMIT", price=1400, quantity=1, product="CNC", **INFY, transaction_type="BUY"
        )
    assert raised.value.code == 502
    assert reached_kite == ["/orders/regular"]  # once: an order call is never retried
    faults.set("/user/profile", "connection-dropped", 1)
    with pytest.raises(kite_errors.NetworkException, match="did not answer"):
        kite.profile()
    assert kite.profile()["user_id"]  # the gateway is up; the next call is answered


def test_a_call_counts_against_the_accounts_limit_from_kites_first_bytes(gateway, sandbox_app, demo, market):
    """Kite counts a call on arrival: a long answer still streaming in must not hold the account's
    next call back (the window's stamp is when the answer began, not when its last byte came)."""
    import time as clock

    from kite_service.kite.rate_limit import shared_limiters

    kite = gateway.client("bot-10")

    serve = sandbox_app.wsgi_app

    def stream_slowly(environ, start_response):
        body = b"".join(serve(environ, start_response))  # Content-Length is sent with the headers

        def pieces():
            yield body[:10]
            clock.sleep(0.8)  # the rest of the answer comes 0.8 s after its first bytes
            yield body[10:]

        return pieces()

    sandbox_app.wsgi_app = stream_slowly
    before = clock.monotonic()
    kite.ltp("NSE:INFY")
    answered = clock.monotonic()
    counted_at = shared_limiters(demo.api_key)["quote"]._calls[-1]
    assert answered - before >= 0.8 and counted_at < answered - 0.5


def test_an_unexpected_failure_is_kites_error_json_and_logged(gateway, monkeypatch, caplog):
    kite = gateway.client("bot-8")

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(gateway.app.extensions["kite_app"].store, "load", broken)
    with pytest.raises(kite_errors.GeneralException, match="see its log") as raised:
        kite.profile()
    assert raised.value.code == 500
    assert "a bug" in caplog.text  # the traceback is in the log, not in the answer


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
