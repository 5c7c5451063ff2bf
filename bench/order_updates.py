"""Benchmark section: from a fill in the sandbox to the service's order event, by stream, postback and poll."""

import threading
import time

from waitress.server import create_server

from bench.support import LoggedInSandbox, free_port, median, percentile
from kite_api import KiteAPI
from kite_app import create_app
from kite_sandbox.ticker import TickerServer
from kite_service.config.settings import load_settings
from kite_service.login.session_store import SessionStore
from kite_service.orders.events import OrderEvents
from kite_service.orders.stream import OrderStream
from kite_service.orders.watch import OrderWatcher

POLL_SECONDS = 1.0  # the benchmark's poll; the service's default is 20 s (on average 10 s after a fill)


class Arrivals:
    """When each channel first announced each order COMPLETE (monotonic seconds)."""

    def __init__(self):
        self.times: dict = {}
        self.lock = threading.Lock()

    def outbox(self, channel: str):
        """An outbox for OrderEvents that notes the time an event is queued (inside its transaction)."""
        arrivals = self

        class Outbox:
            def queue(self, _tx, event: dict) -> bool:
                if event["status"] == "COMPLETE":
                    with arrivals.lock:
                        arrivals.times.setdefault((channel, event["order_id"]), time.monotonic())
                return True

            def wake(self) -> None:
                pass

        return Outbox()


def order_update_latency(row, orders: int = 30) -> list:
    service_port = free_port()
    bench_sandbox = LoggedInSandbox(
        enforce_rate_limits=False, postback_url=f"http://127.0.0.1:{service_port}/api/postback"
    )
    folder = bench_sandbox.dir
    sandbox = bench_sandbox.app.extensions["kite_sandbox"]
    ticker = TickerServer(sandbox, "127.0.0.1", 0).start()
    values = {**bench_sandbox.values, "KITE_TICKER_URL": ticker.url, "PORT": str(service_port)}
    settings = load_settings(values)
    arrivals = Arrivals()
    fills = {}
    original = sandbox.book._on_update

    def on_update(order):
        if order["status"] == "COMPLETE":
            fills.setdefault(order["order_id"], time.monotonic())
        original(order)

    sandbox.book._on_update = on_update
    store = SessionStore(settings.session_file)
    stream = OrderStream(
        settings,
        bench_sandbox.demo.api_key,
        store,
        OrderEvents(folder / "stream.sqlite3", outbox=arrivals.outbox("stream")),
    )
    service = create_app(values)  # its /api/postback, with the follow-up lookup at Kite
    context = service.extensions["kite_app"]
    context.events._outbox = arrivals.outbox("postback")
    context.postbacks.start()
    service_server = create_server(service, host="127.0.0.1", port=service_port, threads=8)
    threading.Thread(target=service_server.run, daemon=True).start()
    watcher = OrderWatcher(
        KiteAPI(settings), OrderEvents(folder / "poll.sqlite3", outbox=arrivals.outbox("poll")), interval_seconds=1
    )
    polling = threading.Event()

    def poll_loop():
        while not polling.wait(POLL_SECONDS):
            watcher.poll_and_announce()

    threading.Thread(target=poll_loop, daemon=True).start()
    stream.start()
    try:
        _wait(lambda: stream.state.state == "connected", 10)
        infy = sandbox.market.by_symbol("NSE", "INFY")
        order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "1"}
        order |= {"product": "MIS", "order_type": "LIMIT", "price": "1495"}
        for _ in range(orders):
            sandbox.market.pin_price(infy, 1500.0)
            order_id = sandbox.book.place("regular", order)
            time.sleep(0.2)
            sandbox.market.pin_price(infy, 1494.0)  # the matcher fills it within its 50 ms pass
            _wait(
                lambda order_id=order_id: all((c, order_id) in arrivals.times for c in ("stream", "postback", "poll")),
                5,
            )
    finally:
        polling.set()
        stream.stop()
        context.postbacks.stop()
        service_server.close()
        ticker.close()
        bench_sandbox.close()
    rows = []
    for channel, target in (("stream", 0.100), ("postback", None), ("poll", None)):
        delays = [arrivals.times[(channel, o)] - fills[o] for o in fills if (channel, o) in arrivals.times]
        missing = len(fills) - len(delays)
        p99 = percentile(delays, 0.99)
        label = {"stream": "stream (Kite's WebSocket)", "postback": "postback, then a lookup at Kite"}
        label["poll"] = f"poll every {POLL_SECONDS:g} s (20 s by default)"
        rows.append(
            row(
                f"fill to order event, {label[channel]}: p50, p99, missed ({len(fills)} fills)",
                f"{median(delays) * 1000:.0f} ms, {p99 * 1000:.0f} ms, {missing}",
                "100 ms" if target else "—",
                p99 / target if target else None,
                "p99 < 100 ms, 0 missed" if target else "—",
                (p99 < target and missing == 0) if target else None,
            )
        )
    return rows


def _wait(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
