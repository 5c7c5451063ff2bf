"""Benchmark sections 4-6: logging, the service under load against a bare Flask app, start-up and footprint."""

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench import load
from bench.support import PROJECT_DIR, LoggedInSandbox, free_port, median, rss_kb
from bench.table import Row, ms
from kite_service.logs.files import DailyFileHandler
from kite_service.logs.formatter import LOG_FORMAT, RedactingFormatter
from kite_service.logs.redaction import SecretRegistry

# -- 4. logging ------------------------------------------------------------------------------------------------


def logging_cost(records: int = 4000, rounds: int = 15) -> list:
    logging.disable(logging.NOTSET)  # main() silences the service's warnings; here records must flow
    folder = Path(tempfile.mkdtemp())
    registry = SecretRegistry()
    planted = ["api-secret-0a1b2c3d4e5f", "access-token-9f8e7d6c5b4a", "public-token-1122334455", "code-55667788"]
    registry.add(*planted)
    registry.add(*[f"reqtoken{n:06d}" for n in range(8)], short_lived=True)
    ours = DailyFileHandler(folder / "ours")
    ours.setFormatter(RedactingFormatter(registry=registry))
    (folder / "plain").mkdir()
    plain = logging.FileHandler(folder / "plain" / "plain.log", encoding="utf-8")
    plain.setFormatter(logging.Formatter(LOG_FORMAT))
    messages = {
        "without secrets": ("Order %s COMPLETE: BUY 10 NSE:SBIN filled 10/10 @ %s", ("250117800776785", 812.45)),
        "with secrets": (
            "Kite GET /orders failed: access_token=%s api_secret=%s Authorization: token key:%s",
            (planted[1], planted[0], planted[2]),
        ),
    }
    rows = []
    for kind, (message, args) in messages.items():
        timings = {"ours": [], "plain": []}
        for round_number in range(rounds):
            pair = (("ours", ours), ("plain", plain))
            for name, handler in pair if round_number % 2 else pair[::-1]:  # alternate who goes first
                logger = logging.getLogger(f"bench.{name}")
                logger.propagate, logger.handlers = False, [handler]
                logger.setLevel(logging.INFO)
                started = time.perf_counter()
                for _ in range(records):
                    logger.info(message, *args)
                timings[name].append((time.perf_counter() - started) / records)
        ratio = min(timings["ours"]) / min(timings["plain"])
        rows.append(
            Row(
                f"log record {kind}",
                f"{min(timings['ours']) * 1e6:.1f} µs",
                f"{min(timings['plain']) * 1e6:.1f} µs",
                ratio,
                "≤ 1.5",
                ratio <= 1.5,
            )
        )
    ours.close()
    plain.close()
    logging.disable(logging.WARNING)
    written = "".join(p.read_text() for p in (folder / "ours").glob("*.log"))
    leaked = [secret for secret in planted if secret in written]
    rows.append(Row("planted secrets left in the redacted log", str(len(leaked)), "0", None, "0", not leaked))
    return rows


# -- 5. the service under load ------------------------------------------------------------------------------


def _start(command: list, env: dict, port: int) -> tuple:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.perf_counter()
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited with {process.returncode}")
        time.sleep(0.005)


def _service_env(sandbox: LoggedInSandbox, port: int, poll_seconds: str = "20") -> dict:
    return {
        **{k: v for k, v in os.environ.items() if k not in ("CODE", "PORT", "HOST")},
        **sandbox.values,
        "KITE_APP_PORT": str(port),
        "KITE_APP_CODE": sandbox.values["CODE"],
        "ORDER_POLL_SECONDS": poll_seconds,
        "LOGIN_REMINDER_TIME": "",
        "KITE_APP_ENV_FILE": os.devnull,
    }


def service_throughput(seconds: float = 2.5, rounds: int = 7) -> list:
    sandbox = LoggedInSandbox(enforce_rate_limits=False)
    code = sandbox.values["CODE"]
    ours_port, bare_port = free_port(), free_port()
    ours, _ = _start(
        [sys.executable, str(PROJECT_DIR / "kite_app.py"), "--no-scheduler"],
        _service_env(sandbox, ours_port),
        ours_port,
    )
    health = requests.get(f"http://127.0.0.1:{ours_port}/health", timeout=5).json()
    url = requests.get(f"http://127.0.0.1:{ours_port}/api/url", headers={"X-Access-Code": code}, timeout=5).json()
    bare, _ = _start(
        [
            sys.executable,
            str(Path(__file__).parent / "bare_app.py"),
            str(bare_port),
            json.dumps(health),
            json.dumps(url),
        ],
        dict(os.environ),
        bare_port,
    )
    rows = []
    try:
        for path in ("/health", "/api/url"):
            results = {"ours": [], "bare": []}
            for round_number in range(rounds):  # interleaved, who goes first alternating
                pair = (("ours", ours_port), ("bare", bare_port))
                for name, port in pair if round_number % 2 else pair[::-1]:
                    results[name].append(load.run(port, path, {"X-Access-Code": code}, clients=8, seconds=seconds))
            # Each round's two runs are back to back, so their ratio shares the machine's state
            # of the moment; the median over rounds sets aside a round that a burst of noise hit.
            ratio = median([o["rps"] / b["rps"] for o, b in zip(results["ours"], results["bare"], strict=True)])
            typical = {name: median([run["rps"] for run in runs]) for name, runs in results.items()}
            p99 = {name: median([run["p99"] for run in runs]) for name, runs in results.items()}
            rows.append(
                Row(
                    f"{path}: requests/s, 8 clients",
                    f"{typical['ours']:.0f}",
                    f"{typical['bare']:.0f}",
                    ratio,
                    "≥ 0.8",
                    ratio >= 0.8,
                )
            )
            rows.append(
                Row(f"{path}: p99 latency", ms(p99["ours"]), ms(p99["bare"]), p99["ours"] / p99["bare"], "—", None)
            )
    finally:
        for process in (ours, bare):
            process.terminate()
            process.wait(30)
        sandbox.close()
    return rows


# -- 6. start-up and footprint ---------------------------------------------------------------------------


def startup_and_footprint() -> list:
    sandbox = LoggedInSandbox(enforce_rate_limits=False)
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "1", "product": "CNC"}
    try:
        market = sandbox.app.extensions["kite_sandbox"].market
        lowest = market.circuit_limits(market.by_symbol("NSE", "INFY"))[0]  # a buy there rests all day
        for _ in range(20):
            sandbox.book.place("regular", {**order, "order_type": "LIMIT", "price": str(lowest)})
        times, rss_start, bare_times, bare_rss = [], [], [], []
        rss_after = None
        for round_number in range(3):
            port = free_port()
            env = _service_env(sandbox, port, poll_seconds="0.1")
            process, took = _start([sys.executable, str(PROJECT_DIR / "kite_app.py")], env, port)
            times.append(took)
            rss_start.append(rss_kb(process.pid))
            if round_number == 0:
                time.sleep(180 * 0.1 + 1)  # 180 order checks: an hour's worth at the default 20 s
                rss_after = rss_kb(process.pid)
            process.terminate()
            process.wait(30)
            port = free_port()
            bare_app = [sys.executable, str(Path(__file__).parent / "bare_app.py"), str(port), "{}", "{}"]
            process, took = _start(bare_app, dict(os.environ), port)
            bare_times.append(took)
            bare_rss.append(rss_kb(process.pid))
            process.terminate()
            process.wait(30)
    finally:
        sandbox.close()
    ratio = median(times) / median(bare_times)
    rows = [
        Row(
            "start-up: `python kite_app.py` to first /health",
            ms(median(times)),
            ms(median(bare_times)),
            ratio,
            "≤ 3.0 (bare Flask app)",
            ratio <= 3.0,
        ),
        Row(
            "resident memory after start",
            f"{median(rss_start) / 1024:.1f} MB",
            f"{median(bare_rss) / 1024:.1f} MB",
            median(rss_start) / median(bare_rss),
            "≤ 2.0 (bare Flask app)",
            median(rss_start) / median(bare_rss) <= 2.0,
        ),
    ]
    growth = rss_after - rss_start[0]
    rows.append(
        Row(
            "resident memory after 180 order checks (an hour's worth)",
            f"{rss_after / 1024:.1f} MB",
            f"{rss_start[0] / 1024:.1f} MB",
            rss_after / rss_start[0],
            "growth ≤ 2 MB",
            growth <= 2048,
        )
    )
    return rows + import_cost()


# A script's `from kite_api import KiteAPI`: kite_service/kite/sdk.py loads kiteconnect's REST half only.
# The reference is the same import after `import kiteconnect` in full (its ticker, twisted, autobahn).
# Peak memory is VmHWM (this program's own peak; getrusage's would include the parent's before exec).
IMPORT_PROBE = (
    "import re, time; started = time.perf_counter(); {first}from kite_api import KiteAPI; "
    "took = time.perf_counter() - started; "
    "print(took, re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
)


def import_cost(rounds: int = 5) -> list:
    measured = {}
    for name, first in (("light", ""), ("full", "import kiteconnect; ")):
        runs = []
        for _ in range(rounds):
            out = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE.format(first=first)], capture_output=True, text=True, check=True
            )
            seconds, max_rss_kb = out.stdout.split()
            runs.append((float(seconds), int(max_rss_kb)))
        measured[name] = (median(r[0] for r in runs), median(r[1] for r in runs))
    (light_s, light_kb), (full_s, full_kb) = measured["light"], measured["full"]
    return [
        Row(
            "`from kite_api import KiteAPI` (kiteconnect without its ticker) vs after `import kiteconnect`: time",
            ms(light_s),
            ms(full_s),
            light_s / full_s,
            "≤ 0.8 (else drop sdk.py)",
            light_s / full_s <= 0.8,
        ),
        Row(
            "the same import: peak memory of the process",
            f"{light_kb / 1024:.1f} MB",
            f"{full_kb / 1024:.1f} MB",
            light_kb / full_kb,
            "≤ 0.8 (else drop sdk.py)",
            light_kb / full_kb <= 0.8,
        ),
    ]
