"""The gateway held against a client that misbehaves: paths that change meaning on the way, reads that
would crowd out orders, calls that change the account unaudited, a forwarding proxy nobody named."""

import http.client
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from kite_service.day.feed import MAX_PAGES
from kite_service.gateway.audit import AUDIT_PREFIX
from kite_service.gateway.slots import POOL_SIZES, CallSlots, NoSlotError
from kite_service.kite.sdk import kite_errors
from kite_service.web.http_server import REQUEST_THREADS, WAITRESS_SETTINGS
from test_gateway import candle_hour, gateway, kite_headers, market, sandbox_app, serve_gateway  # noqa: F401 (fixtures)


def raw_call(root: str, method: str, path: str, headers: dict) -> tuple:
    """(status, JSON body) of a request whose path goes on the wire exactly as written."""
    parts = urlsplit(root)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


@pytest.fixture
def reached_kite(sandbox_app):  # noqa: F811 (the fixture imported above)
    """The paths of the calls that reached the sandbox playing Kite."""
    seen = []
    serve = sandbox_app.wsgi_app
    sandbox_app.wsgi_app = lambda environ, start: seen.append(environ["PATH_INFO"]) or serve(environ, start)
    return seen


def test_a_path_whose_decoding_changes_its_meaning_is_refused_and_not_sent(gateway, reached_kite):  # noqa: F811
    kite = gateway.client("prober")
    headers = kite_headers(kite)
    # Classed by its first decoding as an instrument list (10/s), it would be Kite's historical data (3/s)
    for path in (
        "/instruments/historical%252F408065%252Fminute",
        "/session/token%0A",  # "$" matched before a final newline; the session check compared exactly
        "/orders/regular/..%2F..%2Fsession%2Ftoken",
        "/portfolio/holdings%20",
    ):
        for method in ("GET", "DELETE"):
            status, body = raw_call(gateway.root, method, path, headers)
            assert (status, body["error_type"]) == (400, "InputException"), (method, path)
            assert "send Kite's path as it is" in body["message"]
    assert reached_kite == []
    kite.profile()  # the same client's plain calls pass
    assert reached_kite == ["/user/profile"]


def test_reads_waiting_for_their_rate_limit_never_hold_up_a_trading_clients_orders(gateway, market, clock):  # noqa: F811
    reader, trader = gateway.client("reader"), gateway.client("trader", can_trade=True)
    token = market.by_symbol("NSE", "INFY").token
    stop, answers = threading.Event(), []

    def read_history():
        while not stop.is_set():
            try:
                reader.historical_data(token, *hour, "minute")
                answers.append("candles")
            except kite_errors.NetworkException as exc:
                answers.append(str(exc))

    hour = candle_hour(clock)  # before the sandbox's injected day
    threads = [threading.Thread(target=read_history) for _ in range(16)]  # about 11 calls a second wanted
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        order = {**INFY_ORDER, "price": 1400}
        placed = [trader.place_order(variety="regular", **order) for _ in range(6)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert len(placed) == 6 and all(placed)
    assert "candles" in answers
    share = f"client 'reader' has {CallSlots().share('historical')} historical calls on their way"
    assert any(share in answer for answer in answers)  # its share, refused at once rather than queued


INFY_ORDER = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1}
INFY_ORDER |= {"product": "CNC", "order_type": "LIMIT"}


def test_slots_per_class_and_each_clients_share():
    slots = CallSlots({"historical": 3, "account changes": 4})
    with slots.hold("historical", "a"), slots.hold("historical", "a"):
        with pytest.raises(NoSlotError, match="client 'a' has 2 historical calls on their way to Kite, its share of 3"):
            with slots.hold("historical", "a"):
                pass
        with slots.hold("historical", "b"):  # another client still gets the third
            with pytest.raises(NoSlotError, match="3 historical calls of this machine's programs"):
                with slots.hold("historical", "c"):
                    pass
            with slots.hold("account changes", "c"):  # other classes untouched
                assert slots.in_use() == {"historical": 3, "account changes": 1}
    assert slots.in_use() == {"historical": 0, "account changes": 0}
    # Every pool together leaves two of waitress's request threads for /health, /login and the API
    # (the /day pages' streams have threads of their own)
    assert sum(POOL_SIZES.values()) == REQUEST_THREADS - 2
    assert WAITRESS_SETTINGS["threads"] == REQUEST_THREADS + MAX_PAGES


def test_every_call_that_changes_the_account_is_audited(gateway, market, config):  # noqa: F811
    kite = gateway.client("gtt-bot", can_trade=True)
    kite.place_gtt(
        trigger_type=kite.GTT_TYPE_SINGLE,
        tradingsymbol="INFY",
        exchange="NSE",
        trigger_values=[1300],
        last_price=1500,
        orders=[{"transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": 1300}],
    )
    with pytest.raises(kite_errors.KiteException):
        kite.convert_position(
            exchange="NSE",
            tradingsymbol="INFY",
            transaction_type="BUY",
            position_type="day",
            quantity=1,
            old_product="MIS",
            new_product="CNC",
        )  # no such position: Kite refuses, and the attempt is still on record
    reader = gateway.client("reader")
    with pytest.raises(kite_errors.PermissionException):
        reader.place_mf_order(tradingsymbol="INF090I01239", transaction_type="BUY", amount=5000)
    lines = [json.loads(line) for line in audit_lines(config)]
    calls = [(line["client"], line["call"], line["status"]) for line in lines]
    assert ("gtt-bot", "POST /gtt/triggers", 200) in calls
    assert any(c[:2] == ("gtt-bot", "PUT /portfolio/positions") and c[2] >= 400 for c in calls)
    assert ("reader", "POST /mf/orders", 403) in calls
    gtt = next(line for line in lines if line["call"] == "POST /gtt/triggers")
    assert '"tradingsymbol": "INFY"' in gtt["parameters"]["condition"]


def audit_lines(config) -> list:
    files = sorted(Path(config["LOG_DIR"]).glob(f"{AUDIT_PREFIX}*"))
    return [line for path in files for line in path.read_text().splitlines()]


def test_a_loopback_call_forwarded_by_an_unnamed_proxy_is_refused_and_logged(gateway, reached_kite, caplog):  # noqa: F811
    kite = gateway.client("behind-proxy")
    for header in ("X-Forwarded-For", "Forwarded"):
        answer = requests.get(
            f"{gateway.root}/user/profile", headers={**kite_headers(kite), header: "203.0.113.7"}, timeout=5
        )
        assert answer.status_code == 403 and answer.json()["error_type"] == "PermissionException"
        assert header in answer.json()["message"] and "TRUSTED_PROXY" in answer.json()["message"]
    assert reached_kite == []
    assert any("TRUSTED_PROXY is unset" in record.getMessage() for record in caplog.records)
    kite.profile()  # without the header: this machine's program, as always
