"""Benchmark section 11: the gateway. What it adds to a call, how many calls it carries, and whether
five programs of one account together stay within Kite's limits and use them fully."""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench import load
from bench.support import PROJECT_DIR, LoggedInSandbox, free_port, median, percentile, wait_for_port
from kite_service.config.settings import load_settings
from kite_service.gateway.clients import ClientRegistry
from kite_service.kite.sdk import KiteConnect

WORKER = PROJECT_DIR / "bench" / "gateway_worker.py"
BARE_PROXY = PROJECT_DIR / "bench" / "bare_proxy.py"
RUN_SECONDS = 30


def _serve(sandbox: LoggedInSandbox, limits: bool, **settings) -> tuple:
    """`kite_app.py --no-scheduler` in front of `sandbox` (with `settings` besides its own); (process, root,
    a trading client's (api_key, token), the settings)."""
    port = free_port()
    values = {**sandbox.values, "ORDER_STREAM": "off", "RATE_LIMITS": "on" if limits else "off", **settings}
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("CODE", "PORT", "HOST")},
        **values,
        "KITE_APP_PORT": str(port),
        "TICKER_HUB_PORT": str(free_port()),
        "KITE_APP_CODE": values["CODE"],
        "LOGIN_REMINDER_TIME": "",
        "KITE_APP_ENV_FILE": os.devnull,
    }
    client, token = ClientRegistry(load_settings(values).gateway_clients_file).add("bench", can_trade=True)
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_DIR / "kite_app.py"), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{root}/health", timeout=1).status_code == 200:
                return process, root, (client.api_key, token), values
        except requests.ConnectionError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError("kite_app.py did not start")


def _stop(process) -> None:
    process.terminate()
    process.wait(30)


def gateway_cost(row) -> list:
    return _added_cost(row) + _account_limits(row)


def _added_cost(row, rounds: int = 400) -> list:
    sandbox = LoggedInSandbox(own_process=True)  # no limits: the gateway's own cost is what is measured
    process, root, (api_key, token), _values = _serve(sandbox, limits=False)
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, str(BARE_PROXY), str(bare_port), str(sandbox.port), _auth(sandbox)])
    try:
        wait_for_port(bare_port)
        clients = {
            "direct": KiteConnect(sandbox.demo.api_key, access_token=sandbox.session.access_token, root=sandbox.root),
            "bare proxy": KiteConnect("bare", access_token="bare", root=f"http://127.0.0.1:{bare_port}"),
            "gateway": KiteConnect(api_key, access_token=token, root=root),
        }
        samples = {side: [] for side in clients}
        for round_number in range(rounds + 20):
            order = list(clients.items())
            for side, kite in order[round_number % 3 :] + order[: round_number % 3]:  # each side first in turn
                started = time.perf_counter()
                kite.profile()
                took = time.perf_counter() - started
                if round_number >= 20:
                    samples[side].append(took)
        headers = {"X-Kite-Version": "3"}
        gateway_port = int(root.rsplit(":", 1)[1])
        direct = load.run(sandbox.port, "/user/profile", {**headers, "Authorization": _auth(sandbox)}, seconds=4)
        floor = load.run(bare_port, "/user/profile", headers, seconds=4)
        ours = load.run(
            gateway_port, "/user/profile", {**headers, "Authorization": f"token {api_key}:{token}"}, seconds=4
        )
    finally:
        _stop(bare)
        _stop(process)
        sandbox.close()

    def added(side: str, share: float) -> float:
        return percentile(samples[side], share) - percentile(samples["direct"], share)

    return [
        row(
            "added by the gateway to a call (profile, official client): median (p99)",
            f"{added('gateway', 0.5) * 1000:.2f} ms ({added('gateway', 0.99) * 1000:.2f} ms)",
            f"{median(samples['direct']) * 1000:.2f} ms direct",
            None,
            "≤ 1 ms at the median",
            added("gateway", 0.5) <= 0.001,
        ),
        row(
            "the same, a bare WSGI proxy on waitress and urllib3 (the floor of this design): median (p99)",
            f"{added('bare proxy', 0.5) * 1000:.2f} ms ({added('bare proxy', 0.99) * 1000:.2f} ms)",
            "—",
            added("gateway", 0.5) / added("bare proxy", 0.5),
            "—",
            None,
        ),
        row(
            "calls per second through the gateway, 8 keep-alive clients (limits off)",
            f"{ours['rps']:.0f}",
            f"{direct['rps']:.0f} direct",
            ours["rps"] / direct["rps"],
            "≥ 0.8",
            ours["rps"] / direct["rps"] >= 0.8,
        ),
        row(
            "the same through the bare proxy (the floor of this design)",
            f"{floor['rps']:.0f}",
            f"{direct['rps']:.0f} direct",
            floor["rps"] / direct["rps"],
            "—",
            None,
        ),
    ]


def _auth(sandbox: LoggedInSandbox) -> str:
    return f"token {sandbox.demo.api_key}:{sandbox.session.access_token}"


def _account_limits(row) -> list:
    sandbox = LoggedInSandbox(own_process=False, enforce_rate_limits=True)  # enforcing Kite's limits
    process, root, (api_key, token), values = _serve(sandbox, limits=True)
    folder = Path(tempfile.mkdtemp(prefix="kite-bench-gateway-"))
    market = sandbox.app.extensions["kite_sandbox"].market
    price = market.circuit_limits(market.by_symbol("NSE", "INFY"))[0]  # a buy there rests all day
    health, stop = [], threading.Event()

    def watch_health():
        while not stop.is_set():
            started = time.perf_counter()
            requests.get(f"{root}/health", timeout=5)
            health.append(time.perf_counter() - started)
            stop.wait(0.05)

    workers = []
    try:
        watcher = threading.Thread(target=watch_health, daemon=True)
        watcher.start()
        for number, kind in enumerate(["kiteapi"] * 3 + ["official"] * 2):
            config = {"kind": kind, "seconds": RUN_SECONDS, "values": values, "api_key": api_key}
            config |= {"access_token": token, "root": root, "price": price, "out": str(folder / f"{number}.json")}
            workers.append(subprocess.Popen([sys.executable, str(WORKER), json.dumps(config)], cwd=PROJECT_DIR))
        for worker in workers:
            worker.wait(RUN_SECONDS + 60)
        stop.set()
        watcher.join(10)
    finally:
        _stop(process)
        sandbox.close()
    counts = [json.loads((folder / f"{number}.json").read_text()) for number in range(len(workers))]
    rates = {kind: _rate(counts, kind) for kind in ("orders", "quotes")}
    total = {name: sum(c[name] for c in counts) for name in counts[0] if name != "answered"}
    order_share, quote_share = rates["orders"] / 10, rates["quotes"] / 1
    return [
        row(
            "5 programs (3 KiteAPI, 2 official clients) via the gateway, 30 s: 429s from Kite (refused here)",
            f"{total['kite_429']} ({total['refused_here']})",
            "0",
            None,
            "0 from Kite",
            total["kite_429"] == 0 and total["other_errors"] == 0,
        ),
        row(
            "the same run: orders placed, share of Kite's 10/s",
            f"{rates['orders']:.2f}/s",
            "10/s",
            order_share,
            "≥ 0.95",
            order_share >= 0.95,
        ),
        row(
            "the same run: quotes, share of Kite's 1/s",
            f"{rates['quotes']:.2f}/s",
            "1/s",
            quote_share,
            "≥ 0.95",
            quote_share >= 0.95,
        ),
        row(
            "the same run: /health p99 (the service stays responsive)",
            f"{percentile(health, 0.99) * 1000:.1f} ms",
            "50 ms",
            percentile(health, 0.99) / 0.05,
            "< 50 ms",
            percentile(health, 0.99) < 0.05,
        ),
    ]


def _rate(counts: list, kind: str) -> float:
    """`kind` calls a second over the span in which the programs were at work: from the first answer
    of any program to the last. One program alone can use the whole limit (an order is answered in
    a few ms), so that span is saturated throughout."""
    spans = [c["answered"][kind] for c in counts if c["answered"][kind]]
    calls = sum(c[kind] for c in counts)
    span = max(s[-1] for s in spans) - min(s[0] for s in spans)
    return (calls - 1) / span if span > 0 else 0.0
