"""Section 15: the /day page. Its load with 500 orders of 20 programs, the time from an order event to
an open page, and the service's memory with 20 pages open through an hour's traffic.

The service runs in this process (create_app, served by waitress over loopback) in front of the
sandbox in a process of its own, so this process's memory is the service's. The day's 500 orders
are stored as the order channels store them (OrderEvents.observe, three steps each) with the audit
lines of the programs that placed them; a few real fills at the sandbox give the P&L its positions.
The pages are read by a child process (bench/day_pages_client.py), never by this one.

The hour is compressed twelve-fold into five minutes: the feed renders twelve times a second
instead of once, the pages' streams end every 25 s instead of 300 (and reconnect), and an order
event comes every second (3,600 section renders, 240 reconnects and 300 order events: a busy
hour's count of each). Memory grows with the count of what is done, not with the minutes.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

import requests

from bench.support import LoggedInSandbox, free_port, percentile, rss_kb
from kite_service.config.settings import PROJECT_DIR
from kite_service.day import feed as feed_module
from kite_service.kite.sdk import KiteConnect
from kite_service.web.day_access import DAY_COOKIE

ORDERS, PROGRAMS, LOADS, FILLS, PAGES = 500, 20, 30, 50, 20
HOUR_SECONDS, SPEED = 300, 12  # the hour as run here, and how much faster than real it goes
CODE = "bench-access-code"


def day_page_bench(row) -> list:
    sandbox = LoggedInSandbox(own_process=True)
    try:
        app, context, root = _service(sandbox)
        tokens = _a_busy_day(sandbox, context)
        cookie = _open(root)
        rows = [*_page_load(row, root, cookie), _event_to_page(row, root, cookie, context)]
        return rows + _an_hour(row, root, context, app.extensions["day_feed"], tokens)
    finally:
        sandbox.close()


def _service(sandbox: LoggedInSandbox):
    from kite_app import create_app
    from kite_service.web.http_server import create_http_server

    values = {**sandbox.values, "ORDER_STREAM": "off", "LOGIN_REMINDER_TIME": "", "KITE_TICKER_URL": "ws://127.0.0.1:9"}
    port = free_port()
    app = create_app({**values, "PORT": str(port), "MAX_DAILY_LOSS": "50000", "MAX_ORDERS_PER_DAY": "3000"})
    server = create_http_server(app, "127.0.0.1", port)
    threading.Thread(target=server.run, daemon=True).start()
    return app, app.extensions["kite_app"], f"http://127.0.0.1:{port}"


def _order(number: int, status: str, filled: int) -> dict:
    return {
        "order_id": f"9{number:08d}",
        "status": status,
        "filled_quantity": filled,
        "quantity": 10,
        "transaction_type": "BUY" if number % 2 else "SELL",
        "exchange": "NSE",
        "tradingsymbol": ("INFY", "TCS", "SBIN", "RELIANCE")[number % 4],
        "order_type": "LIMIT",
        "product": "MIS",
        "price": 1500.0,
        "average_price": 1500.0 if filled else 0.0,
    }


def _a_busy_day(sandbox: LoggedInSandbox, context) -> list:
    """500 orders of 20 programs, each placed (its audit line), open, part-filled and complete; and
    four real fills at the sandbox for the positions."""
    now = context.clock()
    for number in range(PROGRAMS):
        context.gateway.clients.add(f"program-{number:02d}", can_trade=True)
    for number in range(ORDERS):
        answer = json.dumps({"status": "success", "data": {"order_id": _order(number, "OPEN", 0)["order_id"]}})
        context.gateway.audit.record(
            now, f"program-{number % PROGRAMS:02d}", "POST", "/orders/regular", {}, 200, answer
        )
        context.gateway.audit.count(now, f"program-{number % PROGRAMS:02d}", order=True)
    for status, filled in (("OPEN", 0), ("OPEN", 4), ("COMPLETE", 10)):
        context.events.observe([_order(number, status, filled) for number in range(ORDERS)], "stream")
    kite = KiteConnect(sandbox.demo.api_key, access_token=sandbox.session.access_token, root=sandbox.root)
    tokens = []
    for symbol in ("INFY", "TCS", "SBIN", "RELIANCE"):
        quote = kite.ltp(f"NSE:{symbol}")[f"NSE:{symbol}"]
        price = quote["last_price"]
        tokens.append(quote["instrument_token"])
        kite.place_order(
            "regular", exchange="NSE", tradingsymbol=symbol, transaction_type="BUY", quantity=10, product="MIS",
            order_type="LIMIT", price=round(price * 1.01, 1),
        )  # fmt: skip
    time.sleep(2.5)  # the sandbox fills a marketable order within two seconds
    context.loss_watch.want(3600)
    context.loss_watch.refresh()
    return tokens


def _open(root: str) -> str:
    answer = requests.post(f"{root}/day/open", data={"code": CODE}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303, (answer.status_code, answer.text[:300])
    return answer.cookies[DAY_COOKIE]


def _page_load(row, root: str, cookie: str) -> list:
    """GET /day over loopback: the whole answer read, LOADS times."""
    session = requests.Session()
    session.cookies.set(DAY_COOKIE, cookie)
    session.get(f"{root}/day", timeout=30)  # the templates compiled once
    samples, size = [], 0
    for _ in range(LOADS):
        started = time.perf_counter()
        answer = session.get(f"{root}/day", timeout=30)
        samples.append(time.perf_counter() - started)
        size = len(answer.content)
        assert answer.status_code == 200 and answer.text.count('class="order"') == ORDERS
    worst = percentile(samples, 0.99)
    return [
        row(
            f"/day with {ORDERS} orders (3 steps each) of {PROGRAMS} programs: the whole answer, median (p99)",
            f"{percentile(samples, 0.5) * 1000:.0f} ms ({worst * 1000:.0f} ms)",
            "300 ms",
            worst / 0.3,
            "p99 < 300 ms",
            worst < 0.3,
        ),
        row("its size (not compressed)", f"{size / 1024:.0f} kB", "—", None, "—", None),
    ]


def _event_to_page(row, root: str, cookie: str, context) -> object:
    """From OrderEvents.observe (stored and announced) to the event read by an open page, FILLS times."""
    page = requests.get(f"{root}/day", cookies={DAY_COOKIE: cookie}, timeout=30).text
    mark = re.search(r'data-mark="([^"]+)"', page).group(1)
    stream = requests.get(
        f"{root}/day/events", params={"since": mark}, cookies={DAY_COOKIE: cookie}, stream=True, timeout=30
    )
    arrived, lines = {}, stream.iter_lines(decode_unicode=True)

    def read():
        try:
            for line in lines:
                if line.startswith('data: {"id":"8'):
                    arrived.setdefault(line[len('data: {"id":"') :].split('"')[0], time.perf_counter())
        except (AttributeError, requests.RequestException):
            pass  # closed below, when every fill has arrived

    threading.Thread(target=read, daemon=True).start()
    time.sleep(2)  # the stream's first messages read and gone
    sent = {}
    for number in range(FILLS):
        order = {**_order(number, "COMPLETE", 10), "order_id": f"8{number:08d}"}
        sent[order["order_id"]] = time.perf_counter()
        context.events.observe([order], "stream")
        deadline = time.monotonic() + 5
        while order["order_id"] not in arrived and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0.1)
    stream.close()
    delays = [arrived[order_id] - at for order_id, at in sent.items() if order_id in arrived]
    worst = percentile(delays, 0.99) if len(delays) == FILLS else float("inf")
    return row(
        f"an order event to an open page, {FILLS} fills: median (p99)",
        f"{percentile(delays, 0.5) * 1000:.0f} ms ({worst * 1000:.0f} ms), {len(delays)}/{FILLS} arrived",
        "1 s",
        worst / 1.0,
        "p99 < 1 s",
        worst < 1.0,
    )


def _an_hour(row, root: str, context, day_feed, tokens: list) -> list:
    """20 pages open through an hour's traffic (compressed), then their browsers gone."""
    saved = (feed_module.RENDER_EVERY_SECONDS, feed_module.STREAM_SECONDS, feed_module.HEARTBEAT_SECONDS)
    feed_module.RENDER_EVERY_SECONDS, feed_module.STREAM_SECONDS = 1 / SPEED, 300 / SPEED
    feed_module.HEARTBEAT_SECONDS = 2.0
    pages = subprocess.Popen(
        [sys.executable, str(PROJECT_DIR / "bench" / "day_pages_client.py"), root, CODE, str(PAGES)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while day_feed.open_pages < PAGES and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(10)  # warmed up: every page has its first messages
        before = rss_kb(os.getpid())
        started, number = time.monotonic(), 0
        while time.monotonic() - started < HOUR_SECONDS:
            for step in range(SPEED):  # a new price each of the hour's seconds (twelve a second here)
                context.loss_watch.on_prices(dict.fromkeys(tokens, 1500 + (number * SPEED + step) % 50 / 10))
                time.sleep(1 / SPEED)
            context.events.observe([{**_order(number, "COMPLETE", 10), "order_id": f"7{number:08d}"}], "stream")
            number += 1
        after = rss_kb(os.getpid())
        open_at_end = day_feed.open_pages
        pages.terminate()
        pages.wait(10)
        gone = time.monotonic()
        while day_feed.open_pages and time.monotonic() - gone < 30:
            time.sleep(0.1)
        dropped_in = time.monotonic() - gone
    finally:
        feed_module.RENDER_EVERY_SECONDS, feed_module.STREAM_SECONDS, feed_module.HEARTBEAT_SECONDS = saved
        if pages.poll() is None:
            pages.kill()
    growth_mb = (after - before) / 1024
    return [
        row(
            f"the service's memory, {PAGES} pages open through an hour's traffic ({number} order events, "
            f"{day_feed.published} messages to each page): growth",
            f"{growth_mb:+.1f} MB ({before / 1024:.0f} to {after / 1024:.0f} MB; {open_at_end} pages open at the end)",
            "5 MB",
            max(growth_mb, 0) / 5,
            "≤ 5 MB",
            growth_mb <= 5 and open_at_end == PAGES,
        ),
        row(
            "pages whose browser went away, dropped",
            f"{PAGES - day_feed.open_pages}/{PAGES} in {dropped_in:.1f} s",
            "—",
            None,
            "all",
            day_feed.open_pages == 0,
        ),
    ]
