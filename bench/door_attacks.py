"""The gateway's and the hub's attacks of docs/reliability.md (section 13), each measured once against
`kite_app.py --no-scheduler` in front of the sandbox (Kite's limits on), as a client with its own
credentials would try them. Prints one table; the figures before the fixes are in the doc.

    .venv/bin/python -m bench.door_attacks
"""

import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from bench.gateway_cost import _serve, _stop
from bench.support import LoggedInSandbox, free_port, percentile
from kite_sandbox.ticker import TickerServer
from kite_service.config.settings import load_settings
from kite_service.gateway.clients import ClientRegistry
from kite_service.kite.sdk import KiteConnect, kite_errors

INFY = 408065


def main() -> None:
    sandbox = LoggedInSandbox(enforce_rate_limits=True)
    ticker = TickerServer(sandbox.app.extensions["kite_sandbox"], "127.0.0.1", free_port()).start()
    process, root, _trader, values = _serve(sandbox, limits=True, ORDER_STREAM="on", KITE_TICKER_URL=ticker.url)
    registry = ClientRegistry(load_settings(values).gateway_clients_file)
    code = {"X-Access-Code": values["CODE"]}
    hub = json.loads((load_settings(values).data_dir / "gateway_local.json").read_text())["ticker_root"]
    rows = []
    try:
        rows += _revoked_connection(registry, hub, root, code)
        rows += _connection_flood(registry, hub, root, values, process.pid)
        rows += _instrument_share(registry, hub)
        rows += _reads_and_orders(registry, root)
        rows += _paths(registry, root, sandbox)
        rows += _audit(registry, root, values)
    finally:
        _stop(process)
        ticker.close()
        sandbox.close()
    print("| attack | after |\n|---|---|")
    for name, figure in rows:
        print(f"| {name} | {figure} |")


def _client(registry, name: str, trade: bool = False) -> tuple:
    client, token = registry.add(name, can_trade=trade)
    return client.api_key, token


def _revoked_connection(registry, hub: str, root: str, code: dict) -> list:
    key, token = _client(registry, "leaver")
    with connect(f"{hub}/?api_key={key}&access_token={token}", ping_interval=None) as socket_:
        socket_.send(json.dumps({"a": "subscribe", "v": [INFY]}))
        socket_.recv(timeout=10)
        started = time.monotonic()
        registry.revoke("leaver")
        reason = ""
        try:
            while True:
                socket_.recv(timeout=10)
        except ConnectionClosed as closed:
            reason = closed.rcvd.reason if closed.rcvd else ""
        took = time.monotonic() - started
    listed = [
        c["name"] for c in requests.get(f"{root}/api/status", headers=code, timeout=10).json()["ticker_hub"]["clients"]
    ]
    return [
        (
            "a revoked client's open hub connection",
            f"closed after {took * 1000:.0f} ms ({reason!r}); listed: {'leaver' in listed}",
        )
    ]


def _connection_flood(registry, hub: str, root: str, values: dict, pid: int) -> list:
    key, token = _client(registry, "flooder")
    log_dir = Path(values["LOG_DIR"])
    lines_before = sum(len(p.read_text().splitlines()) for p in log_dir.glob("kite_app_*.log"))
    health, stop = [], threading.Event()

    def probe():
        while not stop.is_set():
            started = time.monotonic()
            requests.get(f"{root}/health", timeout=10)
            health.append(time.monotonic() - started)
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    host, port = urlsplit(hub).hostname, urlsplit(hub).port
    idle = [socket.create_connection((host, port)) for _ in range(300)]
    opened, refused, held = 0, 0, []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            held.append(connect(f"{hub}/?api_key={key}&access_token={token}", ping_interval=None, open_timeout=5))
            opened += 1
        except InvalidStatus as exc:
            refused += exc.response.status_code == 429
        except (OSError, TimeoutError):
            refused += 1
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    time.sleep(4)  # past the handshake time
    idle_open = sum(_still_open(s) for s in idle)
    stop.set()
    prober.join()
    for s in idle:
        s.close()
    for connection in held:
        connection.close()
    lines = sum(len(p.read_text().splitlines()) for p in log_dir.glob("kite_app_*.log")) - lines_before
    return [
        (
            "one client opening hub connections for 5 s, with 300 idle sockets",
            f"{opened} opened, {refused} refused with 429",
        ),
        ("… the service's open files at the peak", f"{fds}"),
        ("… idle sockets still open 4 s later", f"{idle_open} of 300"),
        ("… /health p99 during the flood", f"{percentile(health, 0.99) * 1000:.0f} ms over {len(health)} calls"),
        ("… log lines written", f"{lines}"),
    ]


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def _instrument_share(registry, hub: str) -> list:
    hog_key, hog_token = _client(registry, "hog")
    key, token = _client(registry, "modest")
    with connect(f"{hub}/?api_key={hog_key}&access_token={hog_token}", ping_interval=None, max_queue=None) as hog:
        hog.send(json.dumps({"a": "subscribe", "v": list(range(10_000_000, 10_009_000))}))
        refusal = _first_text(hog)
        with connect(f"{hub}/?api_key={key}&access_token={token}", ping_interval=None, max_queue=None) as modest:
            modest.send(json.dumps({"a": "subscribe", "v": [INFY]}))
            got = _first_binary(modest)
    return [
        ("one client subscribing 9,000 made-up tokens", refusal[:160]),
        ("… another client's one subscription", "ticks" if got else "refused"),
    ]


def _first_text(ws, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = ws.recv(timeout=deadline - time.monotonic())
        if isinstance(message, str):
            return json.loads(message).get("data", "")
    return ""


def _first_binary(ws, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = ws.recv(timeout=deadline - time.monotonic())
        if isinstance(message, bytes) and len(message) > 1:
            return True
    return False


def _kite(registry, name: str, trade: bool, root: str) -> KiteConnect:
    key, token = _client(registry, name, trade)
    return KiteConnect(key, access_token=token, root=root)


def _reads_and_orders(registry, root: str) -> list:
    reader, trader = _kite(registry, "reader16", False, root), _kite(registry, "trader", True, root)
    stop, answers = threading.Event(), []

    def read():
        while not stop.is_set():
            try:
                reader.historical_data(INFY, "2026-12-01 09:15:00", "2026-12-01 09:20:00", "minute")
                answers.append("ok")
            except kite_errors.KiteException as exc:
                answers.append(type(exc).__name__)

    threads = [threading.Thread(target=read) for _ in range(16)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    placed = 0
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1}
    price = int(trader.ltp("NSE:INFY")["NSE:INFY"]["last_price"] * 0.98)  # within the day's range, resting
    order |= {"product": "CNC", "order_type": "LIMIT", "price": price}
    for _ in range(6):
        try:
            trader.place_order(variety="regular", **order)
            placed += 1
        except kite_errors.KiteException as exc:
            print("order refused:", type(exc).__name__, exc)
            break
    stop.set()
    for thread in threads:
        thread.join()
    return [
        ("16 threads of historical calls, then 6 orders from a trading client", f"{placed} of 6 placed"),
        ("… the reads", f"{answers.count('ok')} answered, {len(answers) - answers.count('ok')} refused at once (429)"),
    ]


def _paths(registry, root: str, sandbox) -> list:
    key, token = _client(registry, "prober")
    headers = {"Authorization": f"token {key}:{token}", "X-Kite-Version": "3"}
    double = f"{root}/instruments/historical%252F{INFY}%252Fminute"
    with ThreadPoolExecutor(9) as pool:
        answers = list(pool.map(lambda _: requests.get(double, headers=headers, timeout=10), range(9)))
    statuses = [(a.status_code, a.json().get("error_type")) for a in answers]
    newline = requests.delete(f"{root}/session/token%0A", headers=headers, timeout=10).status_code
    forwarded = requests.get(
        f"{root}/user/profile", headers={**headers, "X-Forwarded-For": "203.0.113.7"}, timeout=10
    ).status_code
    return [
        (
            "9 parallel GET /instruments/historical%252F…%252Fminute",
            f"{sorted(set(statuses))}: the gateway's refusal, none sent",
        ),
        ("DELETE /session/token%0A", f"{newline}"),
        ("a loopback call with X-Forwarded-For, TRUSTED_PROXY unset", f"{forwarded}"),
    ]


def _audit(registry, root: str, values: dict) -> list:
    key, token = _client(registry, "gtt-bot", trade=True)
    kite = KiteConnect(key, access_token=token, root=root)
    kite.place_gtt(
        trigger_type=kite.GTT_TYPE_SINGLE,
        tradingsymbol="INFY",
        exchange="NSE",
        trigger_values=[1000],
        last_price=1500,
        orders=[{"transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": 1000}],
    )
    reader_key, reader_token = _client(registry, "refused")
    headers = {"Authorization": f"token {reader_key}:{reader_token}", "X-Kite-Version": "3"}
    body = {f"field{n}": "x" * 240 for n in range(60)}  # just under the 16 kB a request may carry
    for _ in range(100):
        requests.post(f"{root}/orders/regular", data=body, headers=headers, timeout=10)
    files = list(Path(values["LOG_DIR"]).glob("gateway_audit_*.jsonl"))
    lines = [json.loads(line) for path in files for line in path.read_text().splitlines()]
    refused = [line for line in lines if line["client"] == "refused"]
    size = sum(len(json.dumps(line)) + 1 for line in refused)
    gtt = any(line["call"] == "POST /gtt/triggers" for line in lines)
    return [
        ("POST /gtt/triggers: an audit line", "yes" if gtt else "no"),
        ("100 refused order calls of 15 kB each in a minute: audit lines, bytes", f"{len(refused)}, {size:,}"),
    ]


if __name__ == "__main__":
    main()
