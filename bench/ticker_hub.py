"""Benchmark section 12: the ticker hub. 50 local clients (official KiteTickers and the script ticker,
in 5 processes) with overlapping subscriptions in mixed modes over every tradable instrument of the
sandbox (up to Kite's 9,000), carried from the sandbox's ticker by the hub's connections; then one
client that reads nothing for 30 s. Also the script ticker's decoding against KiteTicker's."""

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from bench.gateway_cost import _serve, _stop
from bench.support import PROJECT_DIR, LoggedInSandbox, free_port, median
from bench.ticker_load import cpu_seconds
from kite_sandbox.ticker_packets import Tick, frame, packet
from kite_service.config.settings import load_settings
from kite_service.gateway.clients import ClientRegistry
from kite_service.kite.sdk import KiteConnect
from kite_service.ticker.ticks import decode_frame

CLIENT = PROJECT_DIR / "bench" / "hub_client.py"
STANDIN = PROJECT_DIR / "bench" / "ticker_standin.py"
INSTRUMENTS = 9000
CLIENTS, PROCESSES, OFFICIAL = 50, 5, 2  # OFFICIAL of the processes run one official KiteTicker each
PER_CLIENT = 540  # each instrument wanted by 3 clients
MODES = ("ltp", "quote", "full")
WARM_UP_SECONDS, WINDOW_SECONDS, SLOW_SECONDS = 15, 20, 30
CODE = "bench-access-code"


def ticker_hub(row) -> list:
    """The hub with its 50 clients as they come, then with the clients' processes under `nice 10` (as
    the README advises for strategies beside the service): every row of each run."""
    rows = _measure(row, niced=False)
    for niced in _measure(row, niced=True):
        rows.append(replace(niced, metric=f"nice 10 clients: {niced.metric}"))
    return rows


def _measure(row, niced: bool) -> list:
    sandbox = LoggedInSandbox(own_process=True)  # Kite's REST API: the login, the instrument list
    # Kite's ticker: prepared frames (bench/ticker_standin.py), at the lowest priority. The sandbox's
    # own ticker works each tick out (0.7 s of CPU a second at 9,000 instruments) and fell behind.
    standin_port = free_port()
    standin = subprocess.Popen([sys.executable, str(STANDIN), str(standin_port)], cwd=PROJECT_DIR)
    os.setpriority(os.PRIO_PROCESS, standin.pid, 19)
    ticker_url = f"ws://127.0.0.1:{standin_port}"
    process, _root, _client, values = _serve(sandbox, limits=False, ORDER_STREAM="on", KITE_TICKER_URL=ticker_url)
    folder = Path(tempfile.mkdtemp(prefix="kite-bench-hub-"))
    workers = []
    try:
        status_url = f"{_root}/api/status"
        hub_url = _hub_url(status_url, values)
        kite = KiteConnect(sandbox.demo.api_key, access_token=sandbox.session.access_token, root=sandbox.root)
        tokens = [i["instrument_token"] for i in kite.instruments() if i["segment"] != "INDICES"][:INSTRUMENTS]
        registry = ClientRegistry(load_settings(values).gateway_clients_file)
        plans = []
        for number in range(CLIENTS):
            client, token = registry.add(f"bench-{number}")
            window = [tokens[(number * len(tokens) // CLIENTS + k) % len(tokens)] for k in range(PER_CLIENT)]
            plans.append({"api_key": client.api_key, "access_token": token, "tokens": window})
            plans[-1] |= {"mode": MODES[number % 3], "official": number < OFFICIAL * (CLIENTS // PROCESSES)}
        start_at = time.time() + WARM_UP_SECONDS
        for number in range(PROCESSES):
            share = plans[number::PROCESSES]
            for index, plan in enumerate(share):
                plan["official"] = number < OFFICIAL and index == 0
            config = {"url": hub_url, "clients": share, "start_at": start_at, "seconds": WINDOW_SECONDS}
            config["out"] = str(folder / f"{number}.json")
            command = [sys.executable, str(CLIENT), json.dumps(config)]
            if niced:
                command = ["nice", "-n", "10", *command]
            workers.append(subprocess.Popen(command, cwd=PROJECT_DIR))
        time.sleep(max(0.0, start_at - time.time()))
        cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
        frames_before = {c["name"]: c["tick_frames"] for c in _status(status_url)["upstream"]}
        time.sleep(WINDOW_SECONDS)
        hub_cpu = (cpu_seconds(process.pid) - cpu_before) / (time.monotonic() - wall_before)
        during = _status(status_url)
        # What the hub received from Kite's stand-in: each connection's frames a second in the window
        # (a frame carries every instrument of its connection)
        received = min(
            (c["tick_frames"] - frames_before.get(c["name"], 0)) / WINDOW_SECONDS
            for c in during["upstream"]
            if c["instruments"]
        )
        before_p99 = max(c["latency_ms"]["p99"] or 0 for c in during["clients"])
        written_p99 = max(c["latency_ms"]["written_p99"] or 0 for c in during["clients"])
        work_p50, work_p99 = during["frame_work_ms"]["p50"] or 0, during["frame_work_ms"]["p99"] or 0
        for worker in workers:
            worker.wait(60)
        slow_p99, dropped_reason, still_listed = _slow_client(hub_url, registry, tokens, status_url)
        upstream = during["upstream"]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        _stop(process)
        standin.kill()
        standin.wait(10)
        sandbox.close()
    records = [record for number in range(PROCESSES) for record in json.loads((folder / f"{number}.json").read_text())]
    share = [record["ticks"] / (record["instruments"] * WINDOW_SECONDS) for record in records]
    delivered = [got / received for got in share] if received else [0.0]
    wrong = sum(record["wrong"] for record in records)
    ours, theirs = _decode_cost()
    return [
        row(
            f"connections to Kite for {len(tokens):,} instruments, {CLIENTS} clients (and their states)",
            f"{len(upstream)} ({', '.join(sorted({c['state'] for c in upstream}))})",
            "3",
            None,
            "≤ 3, the order stream's included",
            len(upstream) <= 3 and all(c["state"] == "connected" for c in upstream),
        ),
        row(
            f"frames the hub received from Kite's stand-in a second, per connection ({WINDOW_SECONDS} s): lowest",
            f"{received:.3f}",
            "1",
            None,
            "reported (the stand-in's own pace at the lowest priority)",
            None,
        ),
        row(
            f"ticks each client got of its instruments a second, in its mode ({WINDOW_SECONDS} s): lowest, median",
            f"{min(share):.3f}, {median(share):.3f}; {wrong} in another mode",
            "1",
            None,
            "reported",
            None,
        ),
        row(
            "delivered / received: each client's ticks a second over the hub's frames a second: lowest, median",
            f"{min(delivered):.3f}, {median(delivered):.3f}",
            "1",
            min(delivered),
            "≥ 0.98 each, none in another mode",
            min(delivered) >= 0.98 and wrong == 0,
        ),
        row(
            "the hub's own latency, frame in from Kite to frame handed to a client's socket: p99, worst client",
            f"{before_p99:.2f} ms",
            "5 ms",
            before_p99 / 5,
            "≤ 5 ms",
            before_p99 <= 5,
        ),
        row(
            "… of it, the hub's own work (CPU time of taking a frame apart and handing it to the clients): p50 (p99)",
            f"{work_p50:.2f} ms ({work_p99:.2f} ms)",
            "5 ms",
            work_p99 / 5,
            "p99 ≤ 5 ms",
            work_p99 <= 5,
        ),
        row(
            "… to frame written (send() returned, after the client read what came before): p99, worst client",
            f"{written_p99:.2f} ms",
            "—",
            None,
            "reported",
            None,
        ),
        row(
            "the hub's CPU (the service's process, share of one core)",
            f"{hub_cpu:.0%}",
            "50%",
            hub_cpu / 0.5,
            "≤ 50%",
            hub_cpu <= 0.5,
        ),
        row(
            f"one client reading nothing for {SLOW_SECONDS} s: the others' p99 latency (before)",
            f"{slow_p99:.2f} ms ({before_p99:.2f} ms)",
            "+5 ms",
            None,
            "< +5 ms, and it is dropped with a reason",
            slow_p99 - before_p99 < 5 and bool(dropped_reason) and not still_listed,
        ),
        row(
            "the slow client's close reason",
            dropped_reason or "not dropped",
            "—",
            None,
            "—",
            None,
        ),
        row(
            "decoding a frame of 3,000 full ticks: the script ticker vs KiteTicker's parser",
            f"{ours * 1000:.1f} ms",
            f"{theirs * 1000:.1f} ms",
            ours / theirs,
            "reported",
            None,
        ),
    ]


def _hub_url(status_url: str, values: dict) -> str:
    """The hub's address, from the service's own gateway_local.json (written once it serves)."""
    local = load_settings(values).data_dir / "gateway_local.json"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if local.exists():
            ticker_root = json.loads(local.read_text()).get("ticker_root")
            if ticker_root:
                return ticker_root
        time.sleep(0.1)
    raise RuntimeError("the service's ticker hub did not start")


def _status(status_url: str) -> dict:
    return requests.get(status_url, headers={"X-Access-Code": CODE}, timeout=10).json()["ticker_hub"]


def _slow_client(hub_url: str, registry, tokens: list, status_url: str) -> tuple:
    """Others' worst p99 while one client reads nothing for SLOW_SECONDS; its close reason; still listed?"""
    quick_client, quick_token = registry.add("bench-quick")
    slow_client, slow_token = registry.add("bench-slow")
    quick = connect(f"{hub_url}/?api_key={quick_client.api_key}&access_token={quick_token}", max_size=2**22)
    # No pings of its own: a client that reads nothing would otherwise time out its own pings and leave.
    slow = connect(
        f"{hub_url}/?api_key={slow_client.api_key}&access_token={slow_token}",
        max_size=2**22,
        ping_interval=None,
        max_queue=1,
    )
    for socket in (quick, slow):
        socket.send(json.dumps({"a": "subscribe", "v": tokens[:3000]}))
        socket.send(json.dumps({"a": "mode", "v": ["full", tokens[:3000]]}))
    deadline = time.monotonic() + SLOW_SECONDS
    while time.monotonic() < deadline:  # the quick one reads, the slow one never does
        try:
            quick.recv(timeout=1)
        except TimeoutError:
            pass
    status = _status(status_url)
    others = [c["latency_ms"]["p99"] or 0 for c in status["clients"] if c["name"] != "bench-slow"]
    still_listed = any(c["name"] == "bench-slow" for c in status["clients"])
    reason, deadline = None, time.monotonic() + 20
    try:
        while time.monotonic() < deadline:  # what it had not read, then the close frame (if dropped)
            slow.recv(timeout=5)
    except ConnectionClosed as closed:
        reason = closed.rcvd.reason if closed.rcvd else None
    except TimeoutError:
        pass
    quick.close()
    slow.close()
    return max(others, default=0.0), reason, still_listed


def _decode_cost(rounds: int = 20) -> tuple:
    """Seconds to decode one frame of 3,000 full ticks: ours, KiteTicker's."""
    from kiteconnect import KiteTicker

    stamp = 1_780_000_000
    ticks = [
        Tick(token=(t << 8) + 1, last_price=1000.0 + t % 97, volume=t, exchange_timestamp=stamp) for t in range(3000)
    ]
    made = frame([packet(tick, "full") for tick in ticks])
    parser = KiteTicker.__new__(KiteTicker)
    ours, theirs = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        decode_frame(made)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        parser._parse_binary(made)
        theirs.append(time.perf_counter() - started)
    return median(ours), median(theirs)
