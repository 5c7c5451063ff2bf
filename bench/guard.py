"""Section 14: the guard and the kill switch. The check's cost per order, the time from a breaching
tick to the latch, and from the trip to a flat account against the least Kite's limits allow.

The service runs in this process (create_app, no HTTP server: the kill switch and the loss watch
call Kite themselves) in front of the sandbox served by waitress, Kite's limits on at both ends.
"""

import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.support import LoggedInSandbox, free_port, percentile
from kite_sandbox.exchange_numbers import FREEZE_QUANTITIES, INDEX_LOT_SIZES, most_per_order
from kite_sandbox.ticker import TickerServer
from kite_service.clock import now_ist
from kite_service.config.guard import GuardSettings
from kite_service.guard.guard import Guard
from kite_service.guard.latch import KillLatches
from kite_service.kite.sdk import KiteConnect

BREACHES = 20
OPEN_ORDERS, POSITIONS, OPTION_POSITIONS = 50, 20, 3  # the options above the freeze quantity
LIMIT_PER_SECOND = 10  # Kite's for placements, and for cancels (all other calls)


def guard_bench(row) -> list:
    return [_check_cost(row), *_tick_to_trip(row), *_trip_to_flat(row)]


def _check_cost(row) -> object:
    """Guard.check of a placement with every limit set, under its send lock, as both paths run it."""
    limits = GuardSettings(
        max_orders_per_day=10**9,
        max_order_quantity=10**6,
        max_order_value=10.0**12,
        allowed_exchanges=frozenset({"NSE", "NFO"}),
        allowed_products=frozenset({"CNC", "MIS"}),
    )
    guard = Guard(limits, KillLatches(Path(tempfile.mkdtemp()), now_ist), now_ist)
    form = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "10"}
    form |= {"product": "CNC", "order_type": "LIMIT", "price": "1500"}
    samples = []
    for _ in range(20_000):
        started = time.perf_counter()
        with guard.sending():
            guard.check("POST", "/orders/regular", form, "bench")
        samples.append(time.perf_counter() - started)
    median = statistics.median(samples)
    return row(
        "the guard's check of one placement, every limit set (the same code on the gateway and in KiteAPI): "
        "median (p99)",
        f"{median * 1e6:.1f} µs ({percentile(samples, 0.99) * 1e6:.1f} µs)",
        "50 µs",
        median / 50e-6,
        "median < 50 µs",
        median < 50e-6,
    )


def _service(sandbox: LoggedInSandbox, **settings):
    from kite_app import create_app

    values = {**sandbox.values, "ORDER_STREAM": "on", "LOGIN_REMINDER_TIME": "", **settings}
    return create_app(values).extensions["kite_app"]


def _tick_to_trip(row) -> list:
    """From the hub taking in the first tick past MAX_DAILY_LOSS to the latch written, 20 times."""
    sandbox = LoggedInSandbox(enforce_rate_limits=False)
    ticker = TickerServer(sandbox.app.extensions["kite_sandbox"], "127.0.0.1", free_port()).start()
    context = _service(sandbox, MAX_DAILY_LOSS="1000", KITE_TICKER_URL=ticker.url)
    market = sandbox.app.extensions["kite_sandbox"].market
    infy = market.by_symbol("NSE", "INFY")
    market.pin_price(infy, 1500.0)
    kite = KiteConnect(sandbox.demo.api_key, access_token=sandbox.session.access_token, root=sandbox.root)
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 10}
    kite.place_order(variety="regular", product="MIS", order_type="LIMIT", price=1510, **order)
    context.kill_switch._flatten = lambda run, client: None  # the latch is the subject; the position stays
    hub, seen, latched = context.ticker_hub, [], []
    pass_on, pull = hub.pass_on, context.guard.latches.pull

    def noted_pass_on(data, index=0, received_at=None):
        seen.append(time.monotonic())
        return pass_on(data, index, received_at)

    def noted_pull(*args, **kwargs):
        answer = pull(*args, **kwargs)
        latched.append(time.monotonic())
        return answer

    hub.pass_on, context.guard.latches.pull = noted_pass_on, noted_pull  # read on each frame: ours from now
    watch = context.loss_watch
    watch.start()
    delays = []
    try:
        _wait(lambda: watch.status()["positions"] and watch.status()["positions"][0]["quantity"] == 10)
        for _ in range(BREACHES):
            market.pin_price(infy, 1500.0)
            _wait(lambda: watch.status()["total"] > -1000)
            context.guard.latches.reset()
            watch._tripped_day = None
            seen.clear()
            latched.clear()
            market.pin_price(infy, 1350.0)  # 10 x -150: past the limit
            if _wait(lambda: latched, 10):
                first_tick = next(at for at in seen if at <= latched[0])
                delays.append(latched[0] - first_tick)
    finally:
        watch.stop()
        context.ticker_hub.stop()
        if context.stream is not None:
            context.stream.stop()
        ticker.close()
        sandbox.close()
    p50, p99 = statistics.median(delays), percentile(delays, 0.99)
    return [
        row(
            f"tick to trip: the hub taking in the first tick past MAX_DAILY_LOSS to the latch written, "
            f"{len(delays)} of {BREACHES} breaches: p50 (p99)",
            f"{p50 * 1000:.1f} ms ({p99 * 1000:.1f} ms)",
            "1 s",
            p99 / 1.0,
            "p99 < 1 s",
            p99 < 1.0 and len(delays) == BREACHES,
        )
    ]


def _trip_to_flat(row) -> list:
    """50 open orders and 20 positions (3 NIFTY options above the freeze quantity) flattened, Kite's
    limits on, against the least time those limits allow."""
    sandbox = LoggedInSandbox(enforce_rate_limits=True)
    context = _service(sandbox)
    kite = KiteConnect(sandbox.demo.api_key, access_token=sandbox.session.access_token, root=sandbox.root)
    market = sandbox.app.extensions["kite_sandbox"].market
    stocks = [i for i in market.instruments if i.exchange == "NSE" and i.segment == "NSE"][:POSITIONS]
    day = now_ist().date()
    lot, freeze = INDEX_LOT_SIZES.on("NIFTY", day).value, FREEZE_QUANTITIES.on("NIFTY", day).value
    most = most_per_order(freeze, lot)
    options = [
        i for i in market.instruments if i.exchange == "NFO" and i.name == "NIFTY" and i.tradingsymbol.endswith("CE")
    ][:OPTION_POSITIONS]
    resting = [_buy(i, 1, "CNC", "LIMIT", price=market.circuit_limits(i)[0]) for i in (stocks * 3)[:OPEN_ORDERS]]
    intraday = [_buy(i, 1, "MIS", "MARKET") for i in stocks[: POSITIONS - OPTION_POSITIONS]]
    _paced(kite.place_order, resting + intraday)
    _paced(kite.place_autoslice_order, [_buy(i, 2 * most + lot, "MIS", "MARKET") for i in options])
    time.sleep(3)  # the sandbox fills MARKET orders after 2 s
    kite.positions()
    time.sleep(1.1)  # this set-up's own calls out of Kite's second (the switch's limiter does not see them)
    exits = (POSITIONS - OPTION_POSITIONS) + OPTION_POSITIONS * 3
    # Cancels and reads share one of Kite's limits, placements another: the switch must read the
    # orders and the positions once, cancel each open order and place each exit
    needed = max(OPEN_ORDERS + 2, exits) / LIMIT_PER_SECOND
    refused = _count_429s(sandbox)
    started = time.monotonic()
    report = context.kill_switch.pull("bench", "trip to flat", wait=True)
    took = time.monotonic() - started
    flat_at = report["steps"][-1]
    sandbox.close()
    flat = flat_at["step"] == "flat"
    first_flat = _seconds_between(report["steps"][0]["at"], flat_at["at"])
    return [
        row(
            f"trip to flat: {OPEN_ORDERS} open orders, {POSITIONS} positions ({OPTION_POSITIONS} above the freeze "
            f"quantity: {exits} exits), against max(cancels + 2 reads, exits) / 10 a second",
            f"{first_flat:.2f} s ({'flat' if flat else 'NOT flat'}; the call {took:.2f} s)",
            f"{needed:.2f} s",
            first_flat / needed,
            "≤ 1.2, flat",
            flat and first_flat / needed <= 1.2,
        ),
        row(
            "… calls refused for rate on the way (the sandbox's 429s)",
            f"{refused[0]}",
            "0",
            None,
            "0",
            refused[0] == 0,
        ),
    ]


def _buy(instrument, quantity: int, product: str, order_type: str, **fields) -> dict:
    order = {"variety": "regular", "exchange": instrument.exchange, "tradingsymbol": instrument.tradingsymbol}
    order |= {"transaction_type": "BUY", "quantity": quantity, "product": product, "order_type": order_type}
    return order | ({"market_protection": -1} if order_type == "MARKET" else {}) | fields


def _paced(call, orders: list) -> None:
    """Place `orders` at Kite's 10 a second (the set-up, not the subject)."""
    for order in orders:
        started = time.monotonic()
        call(**order)
        time.sleep(max(0.0, 0.11 - (time.monotonic() - started)))


def _count_429s(sandbox) -> list:
    """[the sandbox's 429 answers from now on] (a list, counted into as they come)."""
    count, serve = [0], sandbox.app.wsgi_app

    def counting(environ, start_response):
        def start(status, headers, *rest):
            count[0] += status.startswith("429")
            return start_response(status, headers, *rest)

        return serve(environ, start)

    sandbox.app.wsgi_app = counting
    return count


def _seconds_between(first: str, last: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(last) - datetime.fromisoformat(first)) / timedelta(seconds=1)


def _wait(condition, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False
