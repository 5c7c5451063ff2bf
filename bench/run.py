"""Kite App benchmarks: the cost of every layer, as ratios taken in one run against the sandbox.

    .venv/bin/python -m bench.run            every benchmark (about 7 minutes); writes docs/performance.md
    .venv/bin/python -m bench.run 3 4        only sections 3 and 4, printed

Prints one table (metric, ours, reference, ratio, target, pass/fail) and writes it, with the
machine and the versions, to docs/performance.md. No timing assertion lives in the test suite.
"""

import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import requests

from bench import load
from bench.order_burst import order_burst
from bench.order_updates import order_update_latency
from bench.sandbox_orders import order_rate_and_fill_latency
from bench.support import PROJECT_DIR, HttpCounter, LoggedInSandbox, free_port, median, percentile, rss_kb
from bench.ticker_load import ticker_at_kites_maximum
from kite_api import KiteAPI
from kite_service.kite.client import NO_RETRY, FastJSONSession
from kite_service.kite.rate_limit import KITE_RATE_LIMITS, RateLimiter
from kite_service.kite.sdk import KiteConnect, kite_errors
from kite_service.logs.files import DailyFileHandler
from kite_service.logs.formatter import LOG_FORMAT, RedactingFormatter
from kite_service.logs.redaction import SecretRegistry
from kite_service.orders.events import OrderEvents
from kite_service.orders.watch import OrderWatcher

UNTHROTTLED = {name: RateLimiter(10**6) for name in KITE_RATE_LIMITS}  # limiter code runs, never waits


@dataclass
class Row:
    metric: str
    ours: str
    reference: str
    ratio: float | None
    target: str
    passed: bool | None

    def cells(self) -> list:
        verdict = "—" if self.passed is None else ("pass" if self.passed else "FAIL")
        ratio = "—" if self.ratio is None else f"{self.ratio:.3f}"
        return [self.metric, self.ours, self.reference, ratio, self.target, verdict]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def time_row(metric: str, ours: float, reference: float, limit: float) -> Row:
    """Our time against a reference time (seconds); passes when their ratio is at most `limit`."""
    ratio = ours / reference
    return Row(metric, ms(ours), ms(reference), ratio, f"≤ {limit:g}", ratio <= limit)


# -- 1. wrapper overhead ------------------------------------------------------------------------------


def wrapper_overhead(rounds: int = 600) -> list:
    """KiteAPI against a bare KiteConnect and against a KiteConnect on KiteAPI's HTTP session."""
    sandbox = LoggedInSandbox(enforce_rate_limits=False, own_process=True)
    counter = HttpCounter()
    sides = ("ours", "bare", "same session")
    connections = dict.fromkeys(sides, 0)  # new TCP connections opened, over each client's whole use
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1, "product": "CNC"}
    try:
        with counter.counting():
            ours = KiteAPI(sandbox.settings, limiters=UNTHROTTLED)
            bare = KiteConnect(sandbox.demo.api_key, access_token=sandbox.session.access_token, root=sandbox.root)
            same_session = KiteConnect(
                sandbox.demo.api_key, access_token=sandbox.session.access_token, root=sandbox.root
            )
            same_session.reqsession = FastJSONSession()
            resting = round(ours.ltp("NSE:INFY")["NSE:INFY"]["last_price"] * 0.9, 1)  # inside the day's band
            for _ in range(20):
                ours.place_order(**order, order_type="LIMIT", price=resting)
            connections["ours"] = counter.connections
            calls = {
                "profile": (ours.get_profile, bare.profile, same_session.profile),
                "orders": (ours.get_orders, bare.orders, same_session.orders),
                "positions": (ours.get_positions, bare.positions, same_session.positions),
                "ltp": (
                    lambda: ours.ltp("NSE:INFY"),
                    lambda: bare.ltp("NSE:INFY"),
                    lambda: same_session.ltp("NSE:INFY"),
                ),
            }
            samples = {name: {side: [] for side in sides} for name in calls}
            cpu = dict.fromkeys(sides, 0.0)
            for round_number in range(rounds + 20):
                for name, functions in calls.items():
                    pairs = list(zip(sides, functions, strict=True))
                    turn = round_number % len(sides)  # who goes first rotates every round
                    for side, function in pairs[turn:] + pairs[:turn]:
                        before = counter.connections
                        cpu_before, started = time.thread_time(), time.perf_counter()
                        function()
                        took = time.perf_counter() - started
                        connections[side] += counter.connections - before
                        if round_number >= 20:  # after the warm-up
                            samples[name][side].append(took)
                            cpu[side] += time.thread_time() - cpu_before
    finally:
        sandbox.close()
    rows = [
        time_row(f"KiteAPI.{name} median latency", median(by_side["ours"]), median(by_side["bare"]), 1.03)
        for name, by_side in samples.items()
    ]
    p99 = {side: sum(percentile(by_side[side], 0.99) for by_side in samples.values()) for side in sides}
    rows.append(time_row("KiteAPI p99 latency (sum of the 4 calls)", p99["ours"], p99["bare"], 1.03))
    calls_made = rounds * len(calls)
    cpu_ours, cpu_bare = cpu["ours"] / calls_made, cpu["bare"] / calls_made
    rows.append(Row("client CPU per call", ms(cpu_ours), ms(cpu_bare), cpu_ours / cpu_bare, "—", None))
    same = {side: sum(median(by_side[side]) for by_side in samples.values()) for side in sides}
    rows.append(
        time_row(
            "KiteAPI's own layers: median latency vs KiteConnect on the same HTTP session (sum of 4)",
            same["ours"],
            same["same session"],
            1.03,
        )
    )
    total_calls = (rounds + 20) * len(calls) + 20
    rows.append(
        Row(
            f"TCP connections opened for {total_calls} calls",
            str(connections["ours"]),
            str(connections["bare"]),
            None,
            "1 (reused)",
            connections["ours"] == 1,
        )
    )
    return rows


# -- 2. rate-limit efficiency ---------------------------------------------------------------------------


def _bulk(call, apis: list, count: int, threads: int) -> tuple:
    """Run `call(api)` count times over `threads` threads, one KiteAPI each; returns (finish times, 429s).

    Finish times, not start times: a call starts before the limiter lets it through.
    """
    finishes, rate_limited, lock = [], [0], threading.Lock()
    per_thread = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]

    def work(n, api):
        for _ in range(n):
            try:
                call(api)
            except kite_errors.NetworkException as exc:
                if exc.code != 429:
                    raise
                rate_limited[0] += 1
            with lock:
                finishes.append(time.perf_counter())

    workers = [threading.Thread(target=work, args=(n, apis[i])) for i, n in enumerate(per_thread)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(finishes), rate_limited[0]


def rate_limit_efficiency() -> list:
    sandbox = LoggedInSandbox(enforce_rate_limits=True)
    rows = []
    try:
        apis = [KiteAPI(sandbox.settings, retry=NO_RETRY) for _ in range(4)]  # one shared limiter per api_key
        order_id = apis[0].place_order(
            variety="regular",
            exchange="NSE",
            tradingsymbol="INFY",
            transaction_type="BUY",
            quantity=1,
            product="CNC",
            order_type="MARKET",  # KiteAPI adds Kite's market protection
        )
        time.sleep(1.1)
        today = dt.date.today()
        cases = [
            (
                "historical (3/s)",
                3,
                lambda api: api.historical_data(408065, today - dt.timedelta(days=60), today, "day"),
            ),
            ("quote (1/s)", 1, lambda api: api.quote("NSE:INFY")),
            ("order history (10/s)", 10, lambda api: api.get_order_history(order_id)),
        ]
        for name, limit, call in cases:
            for threads in (1, 4):
                count = limit * 8 + 1  # 8 seconds' worth after the first call
                starts, rate_limited = _bulk(call, apis, count, threads)
                time.sleep(1.1)  # let the window empty before the next case
                achieved = (len(starts) - 1) / (starts[-1] - starts[0])
                ratio = achieved / limit
                rows.append(
                    Row(
                        f"{name}, {threads} thread{'s' if threads > 1 else ''}: rate, 429s",
                        f"{achieved:.2f}/s, {rate_limited}",
                        f"{limit}/s, 0",
                        ratio,
                        "≥ 0.97, 0 429s",
                        ratio >= 0.97 and rate_limited == 0,
                    )
                )
    finally:
        sandbox.close()
    return rows


# -- 3. order watch cost ---------------------------------------------------------------------------------


def order_watch_cost() -> list:
    sandbox = LoggedInSandbox(enforce_rate_limits=False)
    rows = []
    try:
        api = KiteAPI(sandbox.settings, limiters=UNTHROTTLED)
        market = sandbox.app.extensions["kite_sandbox"].market
        lowest = market.circuit_limits(market.by_symbol("NSE", "INFY"))[0]  # a buy there rests all day
        placed = 0
        for size in (10, 1000, 5000):
            while placed < size:
                sandbox.book.place(
                    "regular",
                    {
                        "exchange": "NSE",
                        "tradingsymbol": "INFY",
                        "transaction_type": "BUY",
                        "quantity": "1",
                        "product": "CNC",
                        "order_type": "LIMIT",
                        "price": str(lowest),
                    },
                )
                placed += 1
            state = Path(tempfile.mkdtemp()) / "orders.sqlite3"
            watcher = OrderWatcher(api, OrderEvents(state), interval_seconds=20)
            counter = HttpCounter()
            with counter.counting():
                started = time.thread_time()
                watcher.poll_and_announce()  # the first poll announces every order
                first_cpu = time.thread_time() - started
                cpu, polls = [], 20
                before = counter.requests
                for _ in range(polls):
                    started = time.thread_time()
                    watcher.poll_and_announce()
                    cpu.append(time.thread_time() - started)
                per_poll = (counter.requests - before) / polls
                open_order = next(o["order_id"] for o in sandbox.book.orders.values() if o["status"] == "OPEN")
                sandbox.book.cancel("regular", open_order)  # one order changes: the whole book is read again
                started = time.thread_time()
                watcher.poll_and_announce()
                changed_cpu = time.thread_time() - started
            rows.append(
                Row(
                    f"order watch, {size} orders: requests per poll",
                    f"{per_poll:g}",
                    "1",
                    per_poll,
                    "exactly 1",
                    per_poll == 1,
                )
            )
            target = 0.020 if size == 5000 else None
            rows.append(
                Row(
                    f"order watch, {size} orders: CPU per poll (after one change; first poll)",
                    f"{ms(median(cpu))} ({ms(changed_cpu)}; {ms(first_cpu)})",
                    "20 ms" if target else "—",
                    median(cpu) / 0.020 if target else None,
                    "≤ 20 ms" if target else "—",
                    median(cpu) <= target if target else None,
                )
            )
    finally:
        sandbox.close()
    return rows


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


# -- 7. the sandbox's order engine and market -------------------------------------------------------------------


def sandbox_orders() -> list:
    return order_rate_and_fill_latency(Row)


# -- 8. order updates by stream, postback and poll ------------------------------------------------------------


def order_updates() -> list:
    return order_update_latency(Row)


# -- 9. the ticker at Kite's maximum -------------------------------------------------------------------------


def ticker_load() -> list:
    return ticker_at_kites_maximum(Row)


# -- 10. a burst of order updates into the order database ----------------------------------------------------


def order_burst_cost() -> list:
    return order_burst(Row)


# -- the table -------------------------------------------------------------------------------------------------

SECTIONS = [
    ("1. Wrapper overhead (KiteAPI vs bare KiteConnect, same sandbox)", wrapper_overhead),
    ("2. Rate-limit efficiency (through KiteAPI, sandbox enforcing Kite's limits)", rate_limit_efficiency),
    ("3. Order watch cost", order_watch_cost),
    ("4. Logging (redacting daily handler vs plain FileHandler, same format)", logging_cost),
    ("5. Service (waitress, 8 concurrent keep-alive clients) vs a bare Flask app", service_throughput),
    ("6. Start-up and footprint", startup_and_footprint),
    ("7. Sandbox orders and market (through KiteAPI, sandbox enforcing Kite's limits)", sandbox_orders),
    ("8. Order updates: from a fill to the service's order event", order_updates),
    ("9. The sandbox's ticker at Kite's maximum (3 official KiteTickers, each in a process of its own)", ticker_load),
    ("10. A burst of 1,000 order updates into the order database and its outbox", order_burst_cost),
]
HEADER = ["metric", "ours", "reference", "ratio", "target", "result"]


def markdown(sections: list) -> str:
    lines = []
    for title, rows in sections:
        lines += [f"### {title}", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    packages = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("flask", "waitress", "kiteconnect", "requests", "apscheduler", "limits", "orjson")
    )
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
        f"Python {platform.python_version()}; {packages}"
    )


def main(argv: list) -> int:
    """Run every section (or the numbered ones given) and print the table; a full run writes the report."""
    logging.disable(logging.WARNING)  # the service's own warnings (e.g. "Order placed") are not the subject
    chosen = [SECTIONS[int(n) - 1] for n in argv] or SECTIONS
    results = []
    for title, benchmark in chosen:
        print(f"{title} ...", flush=True)
        rows = benchmark()
        results.append((title, rows))
        for row in rows:
            print("   " + " | ".join(row.cells()), flush=True)
    table = markdown(results)
    failed = sum(1 for _, rows in results for row in rows if row.passed is False)
    print("\n" + table)
    print(f"{failed} target(s) missed")
    if chosen == SECTIONS:
        write_report(table, failed)
    return 1 if failed else 0


def write_report(table: str, failed: int) -> None:
    report = PROJECT_DIR / "docs" / "performance.md"
    intro = report.read_text().split("<!-- results -->")[0] if report.exists() else "# Performance\n\n"
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    report.write_text(
        f"{intro}<!-- results -->\n\nMeasured {stamp} on {machine()}.\n{failed} target(s) missed.\n\n{table}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
