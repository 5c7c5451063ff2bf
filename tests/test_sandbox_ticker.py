"""The sandbox's WebSocket ticker, driven by the official Python client's KiteTicker (in a process of its own:
twisted's reactor runs once per process) and by a plain `websockets` client for the protocol's edges."""

import json
import struct
import subprocess
import sys
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from kite_sandbox.server import create_sandbox_app
from kite_sandbox.ticker import TickerServer
from kite_service.config.settings import PROJECT_DIR
from sandbox_support import javascript_ticker_run

INFY, NIFTY = 408065, 256265

PROBE = """
import json, sys, threading
from kiteconnect import KiteConnect, KiteTicker

api_key, access_token, ticker_root, rest_root, mode = sys.argv[1:6]
seen = {"ticks": [], "orders": [], "closed": None}
ticker = KiteTicker(api_key, access_token, root=ticker_root, reconnect=False)

def on_connect(ws, response):
    ws.subscribe([408065, 256265])
    if mode != "quote":
        ws.set_mode(mode, [408065, 256265])
    rest = KiteConnect(api_key, access_token=access_token, root=rest_root)
    threading.Timer(1.5, lambda: rest.place_order(
        variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1,
        product="CNC", order_type="MARKET", market_protection=-1)).start()

def on_ticks(ws, ticks):
    seen["ticks"].extend(t for t in ticks if t["mode"] == mode)

def on_order_update(ws, data):
    seen["orders"].append(data)
    if data["status"] == "COMPLETE":
        ws.stop()

def on_close(ws, code, reason):
    seen["closed"] = [code, reason]

ticker.on_connect, ticker.on_ticks = on_connect, on_ticks
ticker.on_order_update, ticker.on_close = on_order_update, on_close
watchdog = threading.Timer(12, ticker.stop)  # stops it if the order update never comes
watchdog.daemon = True  # and no longer holds the process once it has ended
watchdog.start()
ticker.connect(threaded=False)
print(json.dumps(seen, default=str))
"""


@pytest.fixture
def sandbox_app(demo, running_clock):
    return create_sandbox_app(demo, clock=running_clock, enforce_rate_limits=False)  # ticks and fills in real time


@pytest.fixture
def ticker(sandbox_app, sandbox_root):
    server = TickerServer(sandbox_app.extensions["kite_sandbox"], "127.0.0.1", 0).start()
    yield server
    server.close()


def run_probe(official_kite, ticker, sandbox_root, mode) -> dict:
    args = [official_kite.api_key, official_kite.access_token, ticker.url, sandbox_root, mode]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["ltp", "quote", "full"])
def test_kiteticker_gets_ticks_in_each_mode_and_order_updates(official_kite, sandbox_app, ticker, sandbox_root, mode):
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    seen = run_probe(official_kite, ticker, sandbox_root, mode)
    infy = [t for t in seen["ticks"] if t["instrument_token"] == INFY]
    nifty = [t for t in seen["ticks"] if t["instrument_token"] == NIFTY]
    assert infy and nifty, seen
    assert all(t["last_price"] == 1500.0 and t["tradable"] for t in infy)
    assert all(t["tradable"] is False for t in nifty)
    quote = official_kite.quote("NSE:INFY", "NSE:NIFTY 50")
    if mode == "ltp":
        assert set(infy[-1]) == {"tradable", "mode", "instrument_token", "last_price"}
    else:
        assert infy[-1]["ohlc"]["close"] == quote["NSE:INFY"]["ohlc"]["close"]
        assert infy[-1]["ohlc"]["open"] == quote["NSE:INFY"]["ohlc"]["open"]
        assert nifty[-1]["ohlc"]["close"] == quote["NSE:NIFTY 50"]["ohlc"]["close"]
        assert infy[-1]["volume_traded"] > 0
    if mode == "full":
        assert [len(infy[-1]["depth"][side]) for side in ("buy", "sell")] == [5, 5]
        assert infy[-1]["depth"]["sell"][0]["price"] == quote["NSE:INFY"]["depth"]["sell"][0]["price"]
        assert "exchange_timestamp" in nifty[-1]
    statuses = [order["status"] for order in seen["orders"]]
    assert statuses == ["COMPLETE"], statuses  # as Kite: final statuses and updates, not the OPEN on the way in
    assert seen["orders"][-1]["checksum"] == "" and seen["orders"][-1]["tradingsymbol"] == "INFY"


def test_a_bad_or_logged_out_token_is_refused_at_the_handshake(official_kite, ticker):
    for token in ("not-a-token", ""):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{ticker.url}/?api_key={official_kite.api_key}&access_token={token}")
        assert refused.value.response.status_code == 403
    official_kite.invalidate_access_token()
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{ticker.url}/?api_key={official_kite.api_key}&access_token={official_kite.access_token}")
    assert refused.value.response.status_code == 403


LOGOUT_PROBE = """
import json, sys, threading
from kiteconnect import KiteConnect, KiteTicker

api_key, access_token, ticker_root, rest_root = sys.argv[1:5]
seen = {"ticks": 0, "closed": None}
ticker = KiteTicker(api_key, access_token, root=ticker_root, reconnect=False)

def on_connect(ws, response):
    ws.subscribe([408065])
    rest = KiteConnect(api_key, access_token=access_token, root=rest_root)
    threading.Timer(1.5, rest.invalidate_access_token).start()

def on_ticks(ws, ticks):
    seen["ticks"] += len(ticks)

def on_close(ws, code, reason):
    seen["closed"] = [code, reason]
    ws.stop()

ticker.on_connect, ticker.on_ticks, ticker.on_close = on_connect, on_ticks, on_close
watchdog = threading.Timer(15, ticker.stop)  # stops it if the close never comes
watchdog.daemon = True  # and no longer holds the process once it has ended
watchdog.start()
ticker.connect(threaded=False)
print(json.dumps(seen))
"""


def test_kitetickers_connection_ends_when_its_token_is_logged_out(official_kite, ticker, sandbox_root):
    args = [official_kite.api_key, official_kite.access_token, ticker.url, sandbox_root]
    result = subprocess.run(
        [sys.executable, "-c", LOGOUT_PROBE, *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["ticks"] > 0  # it was live before the logout
    assert seen["closed"] == [1008, "Invalid access_token: logged out"]


def test_a_connection_ends_at_0600_ist_when_its_token_expires(demo):
    from datetime import datetime

    from kite_service.clock import IST
    from sandbox_support import Clock, exchange, log_in

    clock = Clock(datetime(2026, 11, 20, 10, 0, tzinfo=IST))
    app = create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)
    client = app.test_client()
    token = exchange(client, demo, log_in(client, demo)).get_json()["data"]["access_token"]
    server = TickerServer(app.extensions["kite_sandbox"], "127.0.0.1", 0).start()
    url = f"{server.url}/?api_key={demo.api_key}&access_token={token}"
    try:
        with connect(url) as websocket:
            clock.advance((datetime(2026, 11, 21, 5, 59, 59, tzinfo=IST) - clock.now).total_seconds())
            assert websocket.recv(timeout=3) == b"\x00"  # a second before 06:00: still served
            clock.advance(1)
            with pytest.raises(ConnectionClosed):
                for _ in range(3):  # the heartbeat of the second under way, then the close
                    websocket.recv(timeout=3)
            assert (websocket.close_code, websocket.close_reason) == (1008, "Invalid access_token: expired")
        with pytest.raises(InvalidStatus) as refused:
            connect(url)
        assert refused.value.response.status_code == 403
    finally:
        server.close()


def test_heartbeats_keep_an_idle_connection_alive_and_kites_limits_hold(official_kite, ticker):
    url = f"{ticker.url}/?api_key={official_kite.api_key}&access_token={official_kite.access_token}"
    with connect(url) as first, connect(url) as second, connect(url) as third:
        started, gaps = time.monotonic(), []
        last = started
        while time.monotonic() - started < 3.5:
            message = first.recv(timeout=3)
            gaps.append(time.monotonic() - last)
            last = time.monotonic()
            assert message == b"\x00"  # nothing subscribed: a one-byte heartbeat
        assert max(gaps) < 2.0
        with pytest.raises(InvalidStatus) as fourth:
            connect(url)
        assert fourth.value.response.status_code == 429  # 3 connections per api_key
        second.send(json.dumps({"a": "subscribe", "v": list(range(1, 3002))}))
        errors = []
        while not errors:
            message = second.recv(timeout=3)
            if isinstance(message, str):
                errors.append(json.loads(message))
        assert errors[0]["type"] == "error" and "3000 instruments" in errors[0]["data"]
        third.send("not json")
        message = third.recv(timeout=3)
        while not isinstance(message, str):
            message = third.recv(timeout=3)
        assert json.loads(message) == {"type": "error", "data": "Invalid message"}


def packets_of(message: bytes) -> list:
    count, offset, packets = struct.unpack(">H", message[:2])[0], 2, []
    for _ in range(count):
        length = struct.unpack(">H", message[offset : offset + 2])[0]
        packets.append(message[offset + 2 : offset + 2 + length])
        offset += 2 + length
    return packets


def test_every_connection_gets_the_same_ticks_each_second_stamped_with_that_second(
    official_kite, sandbox_app, ticker, running_clock
):
    market = sandbox_app.extensions["kite_sandbox"].market
    options = [i.token for i in market.instruments if i.name == "NIFTY" and i.instrument_type in ("CE", "PE")]
    tokens = [INFY, *options[:40]]
    url = f"{ticker.url}/?api_key={official_kite.api_key}&access_token={official_kite.access_token}"
    seen = ({}, {})  # per connection: exchange timestamp -> (arrival, packets)
    with connect(url) as first, connect(url) as second:
        for websocket in (first, second):
            websocket.send(json.dumps({"a": "subscribe", "v": tokens}))
            websocket.send(json.dumps({"a": "mode", "v": ["full", tokens]}))
        started = time.time()
        while time.time() - started < 4:
            for websocket, frames in zip((first, second), seen, strict=True):
                message = websocket.recv(timeout=3)
                packets = packets_of(message) if isinstance(message, bytes) and len(message) > 1 else []
                if len(packets) == len(tokens):
                    stamp = struct.unpack(">I", packets[0][60:64])[0]  # a full packet's exchange timestamp
                    assert {struct.unpack(">I", p[60:64])[0] for p in packets} == {stamp}
                    frames[stamp] = (running_clock().timestamp(), sorted(packets))
    both = sorted(set(seen[0]) & set(seen[1]))
    assert len(both) >= 2 and both == list(range(both[0], both[-1] + 1))  # one frame a second, none skipped
    for stamp in both:
        assert seen[0][stamp][1] == seen[1][stamp][1]  # the same second's ticks, byte for byte
        for frames in seen:
            assert 0 <= frames[stamp][0] - stamp < 1  # sent in the second it is stamped with


@pytest.mark.parametrize("mode", ["ltp", "quote", "full"])
def test_the_javascript_clients_ticker_gets_ticks_and_order_updates(node, official_kite, sandbox_app, ticker, mode):
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    args = (official_kite.api_key, official_kite.access_token, ticker.url, mode)
    seen, stderr = javascript_ticker_run(node, *args, official_kite)
    infy = [t for t in seen["ticks"] if t["instrument_token"] == INFY]
    nifty = [t for t in seen["ticks"] if t["instrument_token"] == NIFTY]
    assert infy and nifty and not seen["errors"], (seen, stderr)
    assert all(t["last_price"] == 1500.0 and t["tradable"] for t in infy)
    assert all(t["tradable"] is False for t in nifty)
    if mode == "full":
        assert [len(infy[-1]["depth"][side]) for side in ("buy", "sell")] == [5, 5]
    if mode != "ltp":
        assert infy[-1]["ohlc"]["close"] == official_kite.quote("NSE:INFY")["NSE:INFY"]["ohlc"]["close"]
    assert [order["status"] for order in seen["orders"]][-1] == "COMPLETE"
