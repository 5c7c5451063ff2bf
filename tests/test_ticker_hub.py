"""The ticker hub in front of the sandbox's ticker over real WebSockets: official KiteTickers and plain
`websockets` clients with gateway credentials, one upstream connection for all of them, each client
its own instruments in its own mode, order updates to every client, an upstream drop seen as a gap."""

import json
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, suppress

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from kite_sandbox.server import create_sandbox_app
from kite_service.config.settings import PROJECT_DIR
from kite_service.ticker.frames import mode_of, split
from kite_service.ticker.local_server import HubCaps
from sandbox_support import javascript_ticker_run, place_market_buy

INFY, NIFTY = 408065, 256265

PROBE = """
import json, sys, threading
from kiteconnect import KiteTicker

api_key, access_token, root, mode, seconds = sys.argv[1:6]
seen = {"ticks": [], "orders": [], "errors": []}
ticker = KiteTicker(api_key, access_token, root=root, reconnect=False)

def on_connect(ws, response):
    ws.subscribe([408065, 256265])
    ws.set_mode(mode, [408065, 256265])

ticker.on_connect = on_connect
ticker.on_ticks = lambda ws, ticks: seen["ticks"].extend(ticks)
ticker.on_order_update = lambda ws, data: seen["orders"].append(data)
stopping = threading.Event()  # KiteTicker.stop() stops twisted before the close handshake: a 1006 of its own
ticker.on_error = lambda ws, code, reason: stopping.is_set() or seen["errors"].append([code, str(reason)])
threading.Timer(float(seconds), lambda: (stopping.set(), ticker.stop())).start()
ticker.connect(threaded=False)
print(json.dumps(seen, default=str))
"""


@pytest.fixture
def sandbox_app(demo, running_clock):
    return create_sandbox_app(demo, clock=running_clock, enforce_rate_limits=False)  # ticks in real time


def credentials_of(app, name: str) -> tuple:
    client, token = app.extensions["kite_app"].gateway.clients.add(name)
    return client.api_key, token


def local_ticker(url: str, app, name: str):
    """A test's own client of the hub. It keeps every frame that comes (no queue limit) and sends no
    pings of its own: while a test reads one connection, its others must not stop reading their
    sockets (a full queue does) and then time out their own pings under a busy suite. The hub's
    keepalive and its drop of a client that reads nothing are tested on their own."""
    api_key, token = credentials_of(app, name)
    return connect(f"{url}/?api_key={api_key}&access_token={token}", max_queue=None, ping_interval=None)


def frames_until(socket, enough, seconds: float = 8.0) -> list:
    """{token: packet} of each binary frame received until enough(frames) or the time is up."""
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline and not enough(frames):
        message = socket.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(message, bytes) and len(message) > 1:
            frames.append(split(message))
    return frames


def first_text(socket, seconds: float = 30.0) -> dict:
    """The first text message (heartbeats and ticks before it are passed over)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = socket.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(message, str):
            return json.loads(message)
    raise TimeoutError("no text message")


def covering(count: int):
    """frames_until's `enough`: the frames carry `count` instruments between them."""
    return lambda frames: len(set().union(*frames)) >= count


def test_official_kitetickers_in_different_modes_each_get_their_own(hub, sandbox_ticker, official_kite):
    url, app = hub
    probes = []
    for mode in ("ltp", "full"):
        api_key, token = credentials_of(app, f"probe-{mode}")
        command = [sys.executable, "-c", PROBE, api_key, token, url, mode, "4"]
        probes.append(subprocess.Popen(command, cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    seen = {}
    for mode, probe in zip(("ltp", "full"), probes, strict=True):
        stdout, stderr = probe.communicate(timeout=60)
        assert probe.returncode == 0, stderr.decode()[-2000:]
        seen[mode] = json.loads(stdout.decode().strip().splitlines()[-1])
    for mode, got in seen.items():
        assert {t["instrument_token"] for t in got["ticks"]} == {INFY, NIFTY}, mode
        assert {t["mode"] for t in got["ticks"]} == {mode} and not got["errors"], mode
    quote = official_kite.quote("NSE:INFY")["NSE:INFY"]
    full_infy = [t for t in seen["full"]["ticks"] if t["instrument_token"] == INFY][-1]
    assert full_infy["ohlc"] == quote["ohlc"] and [len(full_infy["depth"][s]) for s in ("buy", "sell")] == [5, 5]
    assert len(sandbox_ticker._connections) <= 1  # both clients through one upstream connection


def test_two_clients_one_instrument_and_unsubscribing_one_leaves_the_other(hub):
    url, app = hub
    with local_ticker(url, app, "a") as first, local_ticker(url, app, "b") as second:
        first.send(json.dumps({"a": "subscribe", "v": [INFY]}))
        first.send(json.dumps({"a": "mode", "v": ["ltp", [INFY]]}))
        second.send(json.dumps({"a": "subscribe", "v": [INFY, NIFTY]}))
        second.send(json.dumps({"a": "mode", "v": ["full", [INFY]]}))
        got_first = frames_until(first, lambda f: len(f) >= 2)
        got_second = frames_until(second, lambda f: len(f) >= 2)
        assert {mode_of(f[INFY]) for f in got_first[1:]} == {"ltp"} and all(NIFTY not in f for f in got_first)
        assert {mode_of(f[INFY]) for f in got_second[1:]} == {"full"}
        first.send(json.dumps({"a": "unsubscribe", "v": [INFY]}))
        time.sleep(0.2)
        assert frames_until(second, lambda f: len(f) >= 2)[-1].keys() == {INFY, NIFTY}
        assert first.recv(timeout=2) == b"\x00"  # nothing subscribed: a heartbeat a second


def test_order_updates_reach_every_client(hub, official_kite, sandbox_app):
    url, app = hub
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    with local_ticker(url, app, "a") as first, local_ticker(url, app, "b") as second:
        first.send(json.dumps({"a": "subscribe", "v": [INFY]}))  # the hub connects upstream for a subscriber
        frames_until(first, lambda f: len(f) >= 1)
        order_id = place_market_buy(official_kite)
        for socket in (first, second):
            deadline, updates = time.monotonic() + 8, []
            while time.monotonic() < deadline and not updates:
                message = socket.recv(timeout=8)
                if isinstance(message, str):
                    updates.append(json.loads(message))
            assert updates and updates[0]["type"] == "order" and updates[0]["data"]["order_id"] == order_id


def test_an_upstream_drop_is_a_gap_not_a_disconnect(hub, sandbox_ticker):
    url, app = hub
    with local_ticker(url, app, "a") as socket:
        socket.send(json.dumps({"a": "subscribe", "v": [INFY]}))
        frames_until(socket, lambda f: len(f) >= 1)
        assert sandbox_ticker.drop_all() == 1
        after = frames_until(socket, lambda f: len(f) >= 1, seconds=12)  # reconnected, subscribed again
        assert after and INFY in after[-1]


def test_bad_or_revoked_credentials_are_refused_at_the_handshake(hub):
    url, app = hub
    registry = app.extensions["kite_app"].gateway.clients
    api_key, token = credentials_of(app, "gone")
    assert registry.revoke("gone")
    for key, secret in ((api_key, token), ("kiteapp-0000000000000000", "made-up"), ("", "")):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{url}/?api_key={key}&access_token={secret}")
        assert refused.value.response.status_code == 403


def test_health_and_status_show_the_connections_and_each_clients_subscriptions(hub, config):
    url, app = hub
    with local_ticker(url, app, "notebook") as socket:
        socket.send(json.dumps({"a": "subscribe", "v": [INFY, NIFTY]}))
        socket.send(json.dumps({"a": "mode", "v": ["full", [NIFTY]]}))
        frames_until(socket, lambda f: len(f) >= 1)
        web = app.test_client()
        health = web.get("/health").get_json()["ticker_hub"]
        assert [(c["instruments"], c["state"]) for c in health["upstream"]] == [(2, "connected")]
        assert [c["instruments"] for c in health["clients"]] == [2]
        assert "subscriptions" not in health["clients"][0] and "name" not in health["clients"][0]  # counts only
        status = web.get("/api/status", headers={"X-Access-Code": config["CODE"]}).get_json()["ticker_hub"]
        assert status["clients"][0]["subscriptions"] == {"quote": [INFY], "full": [NIFTY]}
        assert status["clients"][0]["name"] == "notebook"


def test_the_javascript_clients_ticker_works_through_the_hub(node, hub, official_kite, sandbox_app):
    url, app = hub
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    api_key, token = credentials_of(app, "js-ticker")
    seen, stderr = javascript_ticker_run(node, api_key, token, url, "full", official_kite)
    infy = [t for t in seen["ticks"] if t["instrument_token"] == INFY]
    assert infy and not seen["errors"], (seen, stderr)
    assert infy[-1]["last_price"] == 1500.0 and [len(infy[-1]["depth"][s]) for s in ("buy", "sell")] == [5, 5]
    assert infy[-1]["ohlc"]["close"] == official_kite.quote("NSE:INFY")["NSE:INFY"]["ohlc"]["close"]
    assert [order["status"] for order in seen["orders"]][-1] == "COMPLETE"


def test_before_the_login_a_client_is_told_where_to_log_in(serve_hub):
    url, app = serve_hub(logged_in=False)
    with local_ticker(url, app, "early") as socket:
        message = json.loads(socket.recv(timeout=5))
        assert message["type"] == "error" and "/login" in message["data"]
        assert socket.recv(timeout=3) == b"\x00"  # still connected: ticks start after the login


@pytest.mark.e2e  # 9,000 instruments' ticks a second from the sandbox: the heaviest of the hub's runs
def test_kites_maximum_takes_three_connections_and_a_client_past_it_alone_is_refused(
    serve_hub, sandbox_ticker, sandbox_app
):
    url, app = serve_hub(caps=HubCaps(instruments=9001))  # shares large enough to reach Kite's maximum
    tokens = [i.token for i in sandbox_app.extensions["kite_sandbox"].market.instruments][:9001]
    plans = {"ltp": tokens[:4000], "quote": tokens[3000:7000], "full": tokens[6500:9000]}  # 9,000 distinct
    with ExitStack() as stack:
        sockets = {mode: stack.enter_context(local_ticker(url, app, mode)) for mode in plans}
        for mode, wanted in plans.items():
            sockets[mode].send(json.dumps({"a": "subscribe", "v": wanted}))
            sockets[mode].send(json.dumps({"a": "mode", "v": [mode, wanted]}))
        with local_ticker(url, app, "one-too-many") as late:
            late.send(json.dumps({"a": "subscribe", "v": tokens}))  # all 9,001 in one message, as clients do
            refusal = first_text(late)
        assert refusal["type"] == "error" and "Maximum of 9000 instruments" in refusal["data"]
        assert "1 not subscribed" in refusal["data"]
        for mode, wanted in plans.items():  # each upstream connection's frame carries its share
            frames = frames_until(sockets[mode], covering(len(wanted)), 60)
            seen = {token: packet for frame in frames for token, packet in frame.items()}
            assert seen.keys() == set(wanted) and {mode_of(p) for p in seen.values()} == {mode}, mode
        health = app.test_client().get("/health").get_json()["ticker_hub"]
        assert [c["instruments"] for c in health["upstream"]] == [3000, 3000, 3000]
    assert (sandbox_ticker.most_at_once, sandbox_ticker.refused_too_many) == (3, 0)  # a 4th never opened


def hub_client_names(app) -> list:
    """The hub's clients' names as /api/status lists them (/health gives counts only)."""
    code = app.extensions["kite_app"].settings.access_code
    status = app.test_client().get("/api/status", headers={"X-Access-Code": code}).get_json()
    return [c["name"] for c in status["ticker_hub"]["clients"]]


def wait_for_clients(app, names: list, seconds: float = 10) -> list:
    """The hub's clients' names (sorted) once they are `names`, or as they are when `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        found = sorted(hub_client_names(app))
        if found == names or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.e2e  # kernel buffers filled over real sockets: timing that a faked clock slows down
def test_a_client_that_reads_nothing_is_dropped_with_its_reason_and_the_other_keeps_its_ticks(
    hub, sandbox_app, monkeypatch
):
    from kite_service.ticker import local_server

    monkeypatch.setattr(local_server, "MAX_LAG_SECONDS", 1.0)  # 5 s in service: the same rule, sooner
    url, app = hub
    tokens = [i.token for i in sandbox_app.extensions["kite_sandbox"].market.instruments][:3000]
    api_key, token = credentials_of(app, "slow")
    # It reads nothing: its client library stops taking from the socket after one message, and its
    # socket takes little (the kernel's buffers would otherwise hold several seconds of frames)
    small = socket.socket()
    small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    small.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
    address = f"{url}/?api_key={api_key}&access_token={token}"
    slow = connect(address, sock=small, max_queue=1, ping_interval=None, max_size=None)
    with local_ticker(url, app, "quick") as quick, slow:
        for client in (quick, slow):
            client.send(json.dumps({"a": "subscribe", "v": tokens}))
            client.send(json.dumps({"a": "mode", "v": ["full", tokens]}))
        names = wait_for_clients(app, ["quick", "slow"])  # the hub takes each in on its own loop
        assert names == ["quick", "slow"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(name == "slow" for name in hub_client_names(app)):
            with suppress(TimeoutError):
                quick.recv(timeout=1)  # the quick one reads on
        names = hub_client_names(app)
        assert names == ["quick"]
        got = frames_until(quick, lambda f: len(f) >= 4)  # the other keeps its ticks (and 4 s pass)
        assert len(got) == 4 and len(got[-1]) == 3000
        deadline = time.monotonic() + 20
        with pytest.raises(ConnectionClosed) as closed:
            while (
                time.monotonic() < deadline
            ):  # a late reader still gets what was on its way, then the close frame with the reason
                slow.recv(timeout=10)
        assert closed.value.rcvd.code == 1008 and closed.value.rcvd.reason.startswith("Too slow: ")
