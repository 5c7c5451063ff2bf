"""Zerodha's official Go client (gokiteconnect v4) through Kite App, unchanged, against the sandbox over
real HTTP and WebSockets: pointed at the gateway with SetBaseURI and a gateway client's credentials it
reads profile, quotes, candles and the instruments CSV, places, modifies and cancels an order (tagged
with the client's name), places and deletes a GTT; a read-only client's orders are refused with Kite's
PermissionException; revoked credentials get a TokenException. Its KiteTicker, pointed at the ticker
hub, receives ticks in each mode (ltp, quote, full) with that mode's fields, and the order update of a
filled order. Kite's real access token appears in nothing the Go programs print.

The client is built from ../shared/go (a GOPATH tree beside the project's folder) with Debian's Go; see
tests/go/probe/main.go for the program that drives it."""

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import free_port, make_session
from kite_app import create_app, proxy_settings
from kite_sandbox.server import create_sandbox_app
from kite_service.login.session_store import SessionStore
from kite_service.web.http_server import create_http_server
from sandbox_support import place_market_buy

GO_TREE = Path(__file__).resolve().parents[2] / "shared" / "go"  # beside the clone, never inside it
GO_CLIENT = GO_TREE / "src" / "github.com" / "zerodha" / "gokiteconnect" / "v4"
PROBE = Path(__file__).resolve().parent / "go" / "probe"
INFY, NIFTY = 408065, 256265


@pytest.fixture(scope="module")
def go(tmp_path_factory) -> str:
    """The Go probe (tests/go/probe), built once for the module against ../shared/go; its path."""
    command = shutil.which("go")
    if command is None or not GO_CLIENT.is_dir():
        missing = "go not found" if command is None else f"the Go client is not at {GO_CLIENT}"
        if os.environ.get("KITE_APP_REQUIRE_GO"):
            pytest.fail(f"{missing}: CI installs golang-go and keeps shared/go beside the clone")
        pytest.skip(
            f"{missing}: install Go (apt-get install golang-go) and put the shared GOPATH tree at {GO_TREE} "
            "to test the official Go client"
        )
    out = tmp_path_factory.mktemp("go-probe")
    environment = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GO_TREE), "GOCACHE": str(out / "cache")}
    environment.pop("GOFLAGS", None)
    built = subprocess.run(
        [command, "build", "-o", str(out / "probe"), "."],  # GOPATH mode builds a directory by a relative path
        cwd=PROBE,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, f"the Go probe does not build:\n{built.stderr}"
    return str(out / "probe")


@pytest.fixture
def sandbox_app(demo, running_clock):
    """The sandbox on a clock that starts at a fixed weekday 10:00 IST and runs in real time (the ticker
    sends a second's ticks as it begins); calls direct and through the gateway side by side."""
    return create_sandbox_app(demo, clock=running_clock, enforce_rate_limits=False)


@pytest.fixture
def market(sandbox_app):
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    return market


@dataclass
class Gateway:
    root: str
    app: object
    access_token: str  # Kite's real token, which no program through the gateway may see

    def credentials(self, name: str, can_trade: bool = False) -> tuple:
        client, token = self.app.extensions["kite_app"].gateway.clients.add(name, can_trade=can_trade)
        return client.api_key, token


@pytest.fixture
def gateway(tmp_path, config, demo, official_kite, running_clock):
    """The service in front of the sandbox, logged in, served over HTTP as it serves."""
    credentials = tmp_path / "demo_credentials.json"
    credentials.write_text(json.dumps({"api_key": demo.api_key, "api_secret": demo.api_secret}))
    port = free_port()
    config.update(CREDENTIALS_FILE=str(credentials), KITE_API_ROOT=official_kite.root, PORT=str(port))
    app = create_app({**config, "ORDER_STREAM": "off"}, clock=running_clock)
    SessionStore(app.extensions["kite_app"].settings.session_file).save(
        make_session(official_kite.access_token, login_time=running_clock(), api_key=demo.api_key)
    )
    server = create_http_server(app, "127.0.0.1", port, **proxy_settings(app.extensions["kite_app"].settings))
    threading.Thread(target=server.run, daemon=True).start()
    yield Gateway(f"http://127.0.0.1:{server.effective_port}", app, official_kite.access_token)
    server.close()


def candle_hour(clock) -> tuple:
    """An hour of minute candles two days before the injected clock's day: 09:15 to 10:15 IST."""
    day = (clock() - timedelta(days=2)).date()
    return f"{day} 09:15:00", f"{day} 10:15:00"


def go_rest_run(go: str, gateway: Gateway, api_key: str, token: str, market, clock) -> tuple:
    """The Go probe's REST calls through the gateway with a client's credentials; (each call's answer, its
    stdout)."""
    instrument = str(market.by_symbol("NSE", "INFY").token)
    command = [go, "rest", api_key, token, gateway.root, instrument, *candle_hour(clock)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout


def errors_of(seen: dict) -> dict:
    return {name: answer["error"] for name, answer in seen.items() if "error" in answer}


def test_the_go_client_works_through_the_gateway_unchanged(go, gateway, market, official_kite, running_clock):
    seen, stdout = go_rest_run(go, gateway, *gateway.credentials("go-bot", can_trade=True), market, running_clock)
    errors = errors_of(seen)
    assert list(errors) == ["GenerateSession"], errors
    assert errors["GenerateSession"].startswith("PermissionException: ")
    assert seen["GenerateSession"]["code"] == 403
    assert seen["GetUserProfile"]["data"]["user_id"] == official_kite.profile()["user_id"]
    ltp = seen["GetLTP"]["data"]["NSE:INFY"]
    assert (ltp["instrument_token"], ltp["last_price"]) == (INFY, 1500)
    quote, kites = seen["GetQuote"]["data"]["NSE:INFY"], official_kite.quote("NSE:INFY")["NSE:INFY"]
    assert quote["last_price"] == 1500 and quote["ohlc"] == kites["ohlc"]
    assert [len(quote["depth"][side]) for side in ("buy", "sell")] == [5, 5] and quote["depth"]["buy"][0]["price"]
    candles = seen["GetHistoricalData"]["data"]
    day = candle_hour(running_clock)[0][:10]
    assert candles["count"] == 61  # 09:15 to 10:15, both ends included
    assert (candles["first"]["date"], candles["last"]["date"]) == (f"{day}T09:15:00+05:30", f"{day}T10:15:00+05:30")
    nse, everything = seen["GetInstrumentsByExchange"]["data"], seen["GetInstruments"]["data"]
    assert nse["count"] > 50 and nse["exchanges"] == {"NSE": nse["count"]}
    assert everything["exchanges"]["NSE"] == nse["count"] and everything["count"] > nse["count"]
    assert nse["first"]["instrument_token"] > 0 and nse["first"]["tradingsymbol"]
    placed = seen["PlaceOrder"]["data"]["order_id"]
    assert seen["ModifyOrder"]["data"]["order_id"] == seen["CancelOrder"]["data"]["order_id"] == placed
    last = seen["GetOrderHistory"]["data"][-1]
    assert (last["order_id"], last["status"], last["price"], last["tag"]) == (placed, "CANCELLED", 1401, "go-bot")
    assert official_kite.order_history(placed)[-1]["status"] == "CANCELLED"  # at Kite too, not just in the answer
    trigger = seen["PlaceGTT"]["data"]["trigger_id"]
    got = seen["GetGTT"]["data"]
    assert (got["id"], got["status"], got["condition"]["trigger_values"]) == (trigger, "active", [1450])
    assert [(leg["price"], leg["quantity"]) for leg in got["orders"]] == [(1451, 1)]
    assert seen["GetGTTs"]["data"][str(trigger)] == "active"
    assert seen["DeleteGTT"]["data"]["trigger_id"] == trigger
    assert seen["GetGTTsAfterDelete"]["data"].get(str(trigger), "deleted") == "deleted"
    assert gateway.access_token not in stdout


def test_a_read_only_go_client_reads_but_its_orders_are_refused(go, gateway, market, official_kite, running_clock):
    seen, stdout = go_rest_run(go, gateway, *gateway.credentials("go-reader"), market, running_clock)
    errors = errors_of(seen)
    assert sorted(errors) == ["GenerateSession", "PlaceGTT", "PlaceOrder"], errors
    # Kite's own error type, as Kite sends it (gokiteconnect's PermissionError constant reads
    # "PermissionError", so a Go program tells this refusal by its 403 code or by this name)
    for name in errors:
        assert errors[name].startswith("PermissionException: ") and seen[name]["code"] == 403, name
    assert "read-only" in errors["PlaceOrder"] and "read-only" in errors["PlaceGTT"]
    assert seen["GetLTP"]["data"]["NSE:INFY"]["last_price"] == 1500
    assert seen["GetHistoricalData"]["data"]["count"] == 61
    assert official_kite.orders() == [] and official_kite.get_gtts() == []  # nothing reached Kite
    assert gateway.access_token not in stdout


def test_a_revoked_go_client_gets_a_token_exception(go, gateway, market, running_clock):
    api_key, token = gateway.credentials("go-gone")
    assert gateway.app.extensions["kite_app"].gateway.clients.revoke("go-gone")
    seen, stdout = go_rest_run(go, gateway, api_key, token, market, running_clock)
    csv_calls = ("GetInstruments", "GetInstrumentsByExchange")
    refused = {name: answer for name, answer in seen.items() if name not in csv_calls}
    assert sorted(refused) == [
        "GenerateSession",
        "GetHistoricalData",
        "GetLTP",
        "GetQuote",
        "GetUserProfile",
        "PlaceGTT",
        "PlaceOrder",
    ]
    for name, answer in refused.items():
        assert answer["error"].startswith("TokenException: ") and answer["code"] == 403, (name, answer)
    # gokiteconnect reads the instruments CSV without looking at the HTTP status, so Kite's error JSON
    # reaches it as a CSV it cannot parse (at Kite itself just the same): no instrument leaks out
    for name in csv_calls:
        assert seen[name]["error"].startswith("GeneralException: Error parsing csv response"), seen[name]
    assert gateway.access_token not in stdout


def go_ticker_run(go: str, app, name: str, url: str, mode: str, rest_kite) -> tuple:
    """The Go KiteTicker through the hub at `url` in `mode` as gateway client `name`: once it has ticks of
    both instruments, `rest_kite` places a market buy; (what it saw, the buy's order_id or None if it never
    got ready, its output)."""
    client, token = app.extensions["kite_app"].gateway.clients.add(name)
    probe = subprocess.Popen(
        [go, "ticker", client.api_key, token, url, mode, "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = probe.stdout.readline()  # {"ready": true}, or the summary if it never got ticks in `mode`
    ready = json.loads(first).get("ready", False) if first.strip() else False
    order_id = place_market_buy(rest_kite) if ready else None
    stdout, stderr = probe.communicate(timeout=60)
    output = first + stdout
    assert probe.returncode == 0, stderr
    return json.loads(output.strip().splitlines()[-1]), order_id, output + stderr


@pytest.mark.parametrize("mode", ["ltp", "quote", "full"])
def test_the_go_clients_ticker_works_through_the_hub(
    go, hub, market, official_kite, sandbox_ticker, running_clock, mode
):
    url, app = hub
    seen, order_id, output = go_ticker_run(go, app, f"go-ticker-{mode}", url, mode, official_kite)
    assert order_id and seen["connected"] and not seen["errors"], output
    infy, nifty = seen["last"][str(INFY)], seen["last"][str(NIFTY)]
    assert (infy["Mode"], infy["LastPrice"], infy["IsIndex"]) == (mode, 1500, False)
    assert (nifty["Mode"], nifty["IsIndex"]) == (mode, True) and nifty["LastPrice"] > 0
    kites = official_kite.quote("NSE:INFY", "NSE:NIFTY 50")
    if mode == "ltp":  # the last price alone
        assert infy["OHLC"]["close"] == 0 and infy["VolumeTraded"] == 0
    else:  # and the day's OHLC; for a stock the volume as well
        assert infy["OHLC"] == kites["NSE:INFY"]["ohlc"] and nifty["OHLC"] == kites["NSE:NIFTY 50"]["ohlc"]
        assert infy["VolumeTraded"] > 0
    depth = [level["price"] for side in ("buy", "sell") for level in infy["Depth"][side]]
    if mode == "full":  # and five levels of market depth, and the exchange's timestamp
        assert all(price > 0 for price in depth) and len(depth) == 10
        for tick in (infy, nifty):  # the sandbox's clock, not the machine's: the second it ticked
            stamp = datetime.fromisoformat(tick["Timestamp"].replace("Z", "+00:00"))
            assert abs((stamp - running_clock()).total_seconds()) < 30, tick["Timestamp"]
    else:
        assert not any(depth) and infy["Timestamp"].startswith("0001")
    assert seen["orders"], output
    update = seen["orders"][-1]  # the market buy's update, as gokiteconnect decodes it
    assert (update["order_id"], update["status"], update["tradingsymbol"]) == (order_id, "COMPLETE", "INFY")
    assert (update["filled_quantity"], update["average_price"]) == (1, 1500)
    assert len(sandbox_ticker._connections) <= 1  # through the hub's one upstream connection
    assert official_kite.access_token not in output


def test_the_go_ticker_with_revoked_credentials_is_refused_at_the_handshake(go, hub, official_kite):
    url, app = hub
    registry = app.extensions["kite_app"].gateway.clients
    client, token = registry.add("go-gone")
    assert registry.revoke("go-gone")
    probe = subprocess.run(
        [go, "ticker", client.api_key, token, url, "full", "10"], capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert not seen["connected"] and seen["counts"] == {} and seen["orders"] == []
    assert seen["errors"] == ["websocket: bad handshake"]
