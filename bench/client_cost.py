"""Benchmark sections 1-3: KiteAPI's own layers against the bare client, rate-limit efficiency, the order watch."""

import datetime as dt
import tempfile
import threading
import time
from pathlib import Path

from bench.support import HttpCounter, LoggedInSandbox, median, percentile
from bench.table import Row, ms, time_row
from kite_api import KiteAPI
from kite_service.clock import now_ist
from kite_service.kite.client import NO_RETRY, FastJSONSession
from kite_service.kite.rate_limit import KITE_RATE_LIMITS, RateLimiter
from kite_service.kite.sdk import KiteConnect, kite_errors
from kite_service.orders.events import OrderEvents
from kite_service.orders.watch import OrderWatcher

UNTHROTTLED = {name: RateLimiter(10**6) for name in KITE_RATE_LIMITS}  # limiter code runs, never waits


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
        today = now_ist().date()  # the sandbox's day, whatever the machine's time zone
        cases = [
            (  # the raw client behind KiteAPI: every call goes to the sandbox (historical_data's cache would
                # answer repeats itself on any clock)
                "historical (3/s)",
                3,
                lambda api: api.kite.historical_data(408065, today - dt.timedelta(days=60), today, "day"),
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
                        "0.97 to 1.00, 0 429s",  # above 1: faster than Kite allows
                        0.97 <= ratio <= 1.0 and rate_limited == 0,
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
