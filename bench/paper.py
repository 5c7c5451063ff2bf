"""Section 16: paper clients. Everything runs in this process, without HTTP (the gateway's share of a
paper call is section 11's): Kite's instrument rows and Kite's full-mode frames are made here, byte
for byte as Kite sends them (kite_sandbox/ticker_packets.py).

- Tick to paper fill: a resting LIMIT order, then the frame whose offer reaches it handed to the desk
  as the hub hands it (PaperFeed.offer); timed to the fill stored in paper.sqlite3 (synchronous=FULL)
  and its order update ready to send. 100 fills, one after another.
- 20 paper accounts, each with 100 resting orders over 200 instruments (none marketable): the desk's
  CPU time (thread_time) for one frame of the 200 instruments; and the hub's latency to 50 live
  clients (all 200 instruments in full mode, frames 10 a second for 10 s) with the desk among its
  clients and its thread working each frame, against the same run without it.
"""

import tempfile
import threading
import time
from pathlib import Path

from bench.support import median, percentile
from kite_sandbox.market_hours import MarketHours
from kite_sandbox.order_limits import OrderLimits
from kite_sandbox.ticker_packets import Tick, frame, packet
from kite_service.clock import now_ist
from kite_service.gateway.clients import GatewayClient
from kite_service.paper.desk import PaperDesk
from kite_service.paper.market import LiveMarket
from kite_service.paper.store import PaperStore
from kite_service.ticker.hub import TickerHub

INSTRUMENTS, ACCOUNTS, RESTING, LIVE_CLIENTS = 200, 20, 100, 50
FILLS = 100
FRAMES_PER_SECOND, SECONDS = 10, 10
PRICE = 1000.0


def paper_bench(row) -> list:
    rows = _instruments()
    return [*_tick_to_fill(row, rows), *_under_load(row, rows)]


def _instruments() -> dict:
    """{token: Kite's instrument row} of INSTRUMENTS NSE equities (token & 0xFF == 1: NSE)."""
    rows = {}
    for n in range(INSTRUMENTS):
        token = ((100 + n) << 8) | 1
        rows[token] = {
            "instrument_token": token,
            "exchange_token": 100 + n,
            "tradingsymbol": f"BENCH{n}",
            "name": f"BENCH {n}",
            "last_price": PRICE,
            "expiry": "",
            "strike": 0.0,
            "tick_size": 0.05,
            "lot_size": 1,
            "instrument_type": "EQ",
            "segment": "NSE",
            "exchange": "NSE",
        }
    return rows


def _desk(rows: dict, hub=None) -> PaperDesk:
    by_key = {f"NSE:{row['tradingsymbol']}": row for row in rows.values()}
    market = LiveMarket(by_key.get, rows.get, lambda keys: {}, now_ist)
    store = PaperStore(Path(tempfile.mkdtemp()) / "paper.sqlite3")
    return PaperDesk(market, store, hub, MarketHours(), now_ist)


def _frame(tokens, ask: float) -> bytes:
    stamp = int(time.time())
    packets = []
    for token in tokens:
        bids = tuple((100, round(ask - 0.05 * (n + 1), 2), 1) for n in range(5))
        offers = tuple((100, round(ask + 0.05 * n, 2), 1) for n in range(5))
        tick = Tick(token, ask - 0.05, 10, ask, 1000, 500, 500, PRICE, PRICE, PRICE, PRICE, stamp, 0, 0, 0, stamp)
        packets.append(packet(tick._replace(bids=bids, offers=offers), "full"))
    return frame(packets)


def _client(name: str, desk: PaperDesk) -> GatewayClient:
    """A paper client whose account takes orders as fast as the set-up places them (Kite's 10 a
    second, which paper accounts keep, is not the subject here)."""
    client = GatewayClient(name, f"kiteapp-{name}", "", True, "", paper_capital=10.0**9, paper_book="1")
    desk.account(client).book._caps = OrderLimits(False)
    return client


def _limit(symbol: str, price: float) -> dict:
    order = {"exchange": "NSE", "tradingsymbol": symbol, "transaction_type": "BUY", "quantity": "1"}
    return {**order, "product": "CNC", "order_type": "LIMIT", "price": f"{price:.2f}"}


def _tick_to_fill(row, rows: dict) -> list:
    desk = _desk(rows)
    done, stamps = threading.Event(), {}
    sent = desk._send

    def noted(account, updates):  # the order update ready: after its fill was stored
        if any('"COMPLETE"' in update for update in updates):
            stamps["filled"] = time.perf_counter()
            done.set()
        sent(account, updates)

    desk._send = noted
    client = _client("fills", desk)
    tokens = list(rows)
    for token in tokens[:FILLS]:  # each instrument's first quote, far above the order
        desk.market.on_frame(_frame([token], PRICE + 50))
    desk.start()
    samples = []
    try:
        for token in tokens[:FILLS]:
            symbol = rows[token]["tradingsymbol"]
            desk.call(client, lambda account, s=symbol: account.desk.place("regular", _limit(s, PRICE)))
            done.clear()
            started = time.perf_counter()
            desk._feed.offer(_frame([token], PRICE))  # the offer comes down to the limit
            if not done.wait(5):
                raise RuntimeError("a paper fill did not come")
            samples.append(stamps["filled"] - started)
    finally:
        desk.stop()
    p50, p99 = median(samples), percentile(samples, 0.99)
    return [
        row(
            f"tick to paper fill, {FILLS} fills (frame handed over to fill stored, order update ready): p50 (p99)",
            f"{p50 * 1000:.2f} ms ({p99 * 1000:.2f} ms)",
            "10 ms",
            p99 / 0.010,
            "p99 < 10 ms",
            p99 < 0.010,
        )
    ]


class _LiveClient:
    """A live client of the hub in this process: when each frame reached it."""

    share, paper, waiting, lag = None, False, 0, 0.0

    def __init__(self, name: str):
        self.name = name
        self.reached = 0.0

    def offer(self, message, received_at=None) -> bool:
        self.reached = time.perf_counter()
        return True

    def latency_ms(self) -> dict:
        return {}

    def close(self, code=1000, reason=""):
        pass


class _Upstream:
    """The hub's first connection, standing in for Kite's (frames are handed to the hub directly)."""

    on_binary = on_text = None

    def want(self, wanted):
        pass

    def start(self):
        pass

    def stop(self):
        pass


def _under_load(row, rows: dict) -> list:
    import json

    tokens = list(rows)
    desk = _desk(rows)
    for token in tokens:
        desk.market.on_frame(_frame([token], PRICE))
    for a in range(ACCOUNTS):
        client = _client(f"paper{a}", desk)
        for n in range(RESTING):
            symbol = rows[tokens[(a * RESTING + n) % INSTRUMENTS]]["tradingsymbol"]
            desk.call(client, lambda account, s=symbol: account.desk.place("regular", _limit(s, PRICE / 2)))
    cpu = []
    for _ in range(50):
        desk._feed.offer(_frame(tokens, PRICE))
        started = time.thread_time()
        desk.pass_frames()
        cpu.append(time.thread_time() - started)

    def hub_latencies(with_paper: bool) -> list:
        hub = TickerHub(_Upstream(), lambda index: _Upstream())
        clients = [_LiveClient(f"live{n}") for n in range(LIVE_CLIENTS)]
        for client in clients:
            hub.add(client)
            hub.handle(client, json.dumps({"a": "subscribe", "v": tokens}))
            hub.handle(client, json.dumps({"a": "mode", "v": ["full", tokens]}))
        if with_paper:
            desk._hub = hub
            desk._joined, desk._subscribed = False, set()
            desk._follow()  # the desk subscribes its 200 instruments at the hub, in full mode
            desk.start()
        samples = []
        try:
            for _ in range(FRAMES_PER_SECOND * SECONDS):
                data = _frame(tokens, PRICE)
                started = time.perf_counter()
                hub.pass_on(data, 0, time.monotonic())
                samples.append(max(client.reached for client in clients) - started)
                time.sleep(1 / FRAMES_PER_SECOND)
        finally:
            if with_paper:
                desk.stop()
        return samples

    alone, beside = hub_latencies(False), hub_latencies(True)
    added = percentile(beside, 0.99) - percentile(alone, 0.99)
    return [
        row(
            f"the desk's CPU for one frame of {INSTRUMENTS} instruments, {ACCOUNTS} accounts x {RESTING} resting "
            "orders: median (p99)",
            f"{median(cpu) * 1000:.2f} ms ({percentile(cpu, 0.99) * 1000:.2f} ms)",
            "reported",
            None,
            "—",
            None,
        ),
        row(
            f"the hub's latency to {LIVE_CLIENTS} live clients, frames {FRAMES_PER_SECOND}/s: p99 with the paper "
            "desk working each frame (without it)",
            f"{percentile(beside, 0.99) * 1000:.2f} ms ({percentile(alone, 0.99) * 1000:.2f} ms)",
            "+1 ms",
            added / 0.001,
            "≤ +1 ms p99",
            added <= 0.001,
        ),
    ]
