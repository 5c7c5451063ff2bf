"""The day's P&L at live prices, and the kill switch pulled once when it reaches minus MAX_DAILY_LOSS.

Positions come from Kite (`positions()["net"]`), read again when an order event says something
filled (and every REFRESH_SECONDS besides), never polled fast. Prices come from the ticker hub: the
watch is a client of the hub inside the service (no socket), subscribed in LTP mode to the
positions' instruments, and every tick marks the positions to market. Kite's own formulas, per
position (Kite Connect's positions documentation):

    pnl = (sell_value - buy_value) + quantity * last_price * multiplier
    m2m = (sell_m2m - buy_m2m) + quantity * last_price * multiplier

The day's P&L is the sum of m2m: for an overnight position Kite's buy_m2m and sell_m2m take the
previous close instead of the price paid, so the day counts from yesterday's close. `last_price` is
the hub's (Kite says not to use the positions answer's own for live figures); until the first tick
of an instrument, the answer's. At 80 % of the limit a notification, once a day; at the limit the
kill switch, once a day, pulled on a thread of its own so that the hub's loop never waits for it.
"""

import json
import logging
import threading
import time

from kite_service.clock import as_ist, trading_day
from kite_service.ticker.frames import split
from kite_service.ticker.ticks import decode

log = logging.getLogger("kite_app.guard")

REFRESH_SECONDS = 300.0  # positions read again at least this often (trades from Kite's web or app)
WARN_AT = 0.8  # of MAX_DAILY_LOSS: a notification
CURVE_MINUTES = 24 * 60  # the day's P&L kept minute by minute (the /day page's chart)


def position_pnl(row: dict, last_price: float) -> float:
    """Kite's pnl of one position at `last_price` (since the position opened, overnight part included)."""
    multiplier = float(row.get("multiplier") or 1)
    value = float(row.get("sell_value") or 0) - float(row.get("buy_value") or 0)
    return value + int(row.get("quantity") or 0) * last_price * multiplier


def position_m2m(row: dict, last_price: float) -> float:
    """Kite's m2m of one position at `last_price`."""
    multiplier = float(row.get("multiplier") or 1)
    buy, sell = row.get("buy_m2m"), row.get("sell_m2m")
    if buy is None or sell is None:  # an answer without the m2m values: the position's pnl
        buy, sell = row.get("buy_value") or 0, row.get("sell_value") or 0
    return float(sell) - float(buy) + int(row.get("quantity") or 0) * last_price * multiplier


class HubMarks:
    """The watch's client of the ticker hub, inside the service: each frame's last prices to `on_prices`."""

    name = "guard"
    share = None  # the service's own: no share of the hub's instruments
    waiting = 0
    lag = 0.0

    def __init__(self, on_prices):
        self._on_prices = on_prices

    def offer(self, message, received_at=None) -> bool:
        if isinstance(message, bytes) and len(message) > 2:
            try:
                self._on_prices({token: decode(packet)["last_price"] for token, packet in split(message).items()})
            except Exception:  # a frame we cannot read is skipped; the next one marks again
                log.exception("Guard: a tick frame could not be read")
        return True

    def latency_ms(self) -> dict:
        return {"p50": None, "p99": None, "written_p99": None}

    def close(self, code: int = 1000, reason: str = "") -> None:
        pass


def client_books(trades: list, owned: dict) -> dict:
    """{client: {(exchange, symbol, product): {"quantity", "buy_value", "sell_value", "token"}}} built
    from the day's `trades` of the orders each client placed (`owned`: {client: {order ids}})."""
    owner = {order_id: name for name, ids in owned.items() for order_id in ids}
    books: dict = {}
    for trade in trades:
        name = owner.get(str(trade.get("order_id")))
        if name is None:
            continue
        key = (trade["exchange"], trade["tradingsymbol"], trade["product"])
        entry = books.setdefault(name, {}).setdefault(
            key, {"quantity": 0, "buy_value": 0.0, "sell_value": 0.0, "token": trade.get("instrument_token")}
        )
        quantity, value = int(trade["quantity"]), int(trade["quantity"]) * float(trade["average_price"])
        if trade["transaction_type"] == "BUY":
            entry["quantity"] += quantity
            entry["buy_value"] += value
        else:
            entry["quantity"] -= quantity
            entry["sell_value"] += value
    return books


class LossWatch:
    """`clients`: the gateway's registry (each client's --max-loss); `owned(name)`: the order ids the
    audit gives that client today."""

    def __init__(self, api, hub, kill_switch, limits, clock, publish=None, clients=None, owned=None):
        self._api, self._hub, self._kill_switch = api, hub, kill_switch
        self._limits, self._clock, self._publish = limits, clock, publish
        self._clients, self._owned = clients, owned
        self._books: dict = {}  # client -> its book (client_books)
        self._multipliers: dict = {}  # (exchange, symbol, product) -> the positions answer's multiplier
        self._client_tripped: dict = {}  # client -> the trading day its switch was pulled
        self._lock = threading.Lock()
        self._rows: list = []
        self._prices: dict = {}  # token -> last price from the hub
        self._subscribed: set = set()
        self._marks = HubMarks(self.on_prices)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._warned_day = self._tripped_day = None
        self._joined = False
        self._wanted_until = 0.0  # monotonic: an open /day page wants the P&L without any limit set
        self._curve: dict = {}  # "YYYY-MM-DDTHH:MM" (IST) -> the day's total P&L at that minute's last mark
        self._curve_day = None
        self.refreshed_at = None  # when the positions were last read (None: never)
        self._positions_read = threading.Event()
        self.last_total: float | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="guard-loss-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._hub.remove(self._marks)

    def on_order_events(self, events: list) -> None:
        """Told of new order events: a fill changes the positions, so they are read again."""
        if any(event.filled_quantity for event in events):
            self._wake.set()

    def on_prices(self, prices: dict) -> None:
        """Ticks from the hub (on its loop: quick, never waits)."""
        with self._lock:
            self._prices.update(prices)
        self._evaluate()

    def status(self) -> dict:
        """The day's P&L as the guard marks it: the total and each position."""
        with self._lock:
            rows, prices = list(self._rows), dict(self._prices)
        positions = []
        for row in rows:
            last = prices.get(row.get("instrument_token"), row.get("last_price") or 0)
            positions.append(
                {
                    "position": f"{row.get('exchange')}:{row.get('tradingsymbol')} {row.get('product')}",
                    "quantity": row.get("quantity"),
                    "last_price": last,
                    "m2m": round(position_m2m(row, last), 2),
                    "pnl": round(position_pnl(row, last), 2),
                }
            )
        total = round(sum(p["m2m"] for p in positions), 2) if positions else 0.0
        body = {"total": total, "limit": self._limits.max_daily_loss, "positions": positions}
        return body | {"clients": self.client_pnl()}

    def _capped_clients(self) -> dict:
        """{client: its --max-loss} of the clients that have one."""
        if self._clients is None:
            return {}
        return {c.name: c.max_loss for c in self._clients.all() if c.max_loss and not c.paper}

    def watching(self) -> bool:
        wanted = time.monotonic() < self._wanted_until
        return wanted or bool(self._limits.max_daily_loss) or bool(self._capped_clients())

    def want(self, seconds: float) -> None:
        """Mark positions for the next `seconds` even with no limit set (an open /day page); the first
        want wakes the watch to read them now."""
        was = self.watching()
        self._wanted_until = max(self._wanted_until, time.monotonic() + seconds)
        if not was:
            self._wake.set()

    def wait_for_positions(self, seconds: float) -> bool:
        """Wait up to `seconds` for the first reading of the positions (the day's first /day page);
        False at once when the watch is not running."""
        if self._thread is None or not self._thread.is_alive():
            return False
        return self._positions_read.wait(seconds)

    def curve(self) -> list:
        """[("YYYY-MM-DDTHH:MM", total), ...]: the day's P&L minute by minute (IST; each minute's last
        mark), in order. Kept in memory: a restart starts the chart again."""
        with self._lock:
            return sorted(self._curve.items())

    def refresh(self) -> None:
        """Read the positions (and, for clients with --max-loss, the day's trades) again and subscribe
        their instruments at the hub (LTP mode)."""
        if not self.watching():
            if self._joined:  # no limit and no page any more: the hub's instruments are let go
                self._hub.remove(self._marks)
                with self._lock:
                    self._joined, self._subscribed = False, set()
            return
        if not self._joined:  # a client of the hub from the first limit on (none before: no subscriptions)
            self._hub.add(self._marks)
            self._joined = True
        rows = self._api.kite.positions()["net"]
        tokens = {row["instrument_token"] for row in rows if row.get("instrument_token")}
        capped = self._capped_clients()
        books = {}
        if capped and self._owned is not None:
            owned = {name: self._owned(name)[0] for name in capped}
            books = client_books(self._api.kite.trades(), owned)
            tokens |= {entry["token"] for book in books.values() for entry in book.values() if entry["token"]}
        with self._lock:
            self._rows, self._books = rows, books
            self.refreshed_at = self._clock()
            self._multipliers = {
                (r["exchange"], r["tradingsymbol"], r["product"]): float(r.get("multiplier") or 1) for r in rows
            }
            new, gone = tokens - self._subscribed, self._subscribed - tokens
            self._subscribed = tokens
        self._positions_read.set()
        if new:
            self._hub.handle(self._marks, json.dumps({"a": "subscribe", "v": sorted(new)}))
            self._hub.handle(self._marks, json.dumps({"a": "mode", "v": ["ltp", sorted(new)]}))
        if gone:
            self._hub.handle(self._marks, json.dumps({"a": "unsubscribe", "v": sorted(gone)}))
        self._evaluate()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 (no session yet, Kite down: tried again later)
                log.warning("Guard: positions not read (%s); the day's P&L waits for them", exc)
            self._wake.wait(REFRESH_SECONDS)
            self._wake.clear()

    def client_pnl(self) -> dict:
        """{client: its P&L}: the trades of its own orders, marked at the hub's prices."""
        with self._lock:
            books, prices, multipliers = dict(self._books), dict(self._prices), dict(self._multipliers)
        totals = {}
        for name, book in books.items():
            total = 0.0
            for key, entry in book.items():
                last = prices.get(entry["token"])
                if last is None:
                    continue  # no tick yet: marked once one comes
                total += entry["sell_value"] - entry["buy_value"] + entry["quantity"] * last * multipliers.get(key, 1.0)
            totals[name] = round(total, 2)
        return totals

    def _evaluate_clients(self) -> None:
        with self._lock:
            if not self._books:
                return
        capped = self._capped_clients()
        day = trading_day(self._clock())
        for name, total in self.client_pnl().items():
            most = capped.get(name)
            if most and total <= -most and self._client_tripped.get(name) != day:
                self._client_tripped[name] = day
                reason = f"client {name!r}'s P&L {total:,.2f} reached minus its --max-loss ({most:,.0f})"
                log.error("Guard: %s: pulling the kill switch for it", reason)
                threading.Thread(
                    target=self._kill_switch.pull,
                    args=(f"{name}'s --max-loss", reason, name),
                    name="guard-client-trip",
                    daemon=True,
                ).start()

    def _evaluate(self) -> None:
        self._evaluate_clients()
        total = self.status()["total"]
        self.last_total = total
        now = self._clock()
        day = trading_day(now)
        with self._lock:
            if day != self._curve_day:
                self._curve, self._curve_day = {}, day
            if len(self._curve) < CURVE_MINUTES:
                self._curve[f"{as_ist(now):%Y-%m-%dT%H:%M}"] = total
        most = self._limits.max_daily_loss
        if not most:
            return
        if total <= -most and self._tripped_day != day:
            self._tripped_day = day
            reason = f"the day's P&L {total:,.2f} reached minus MAX_DAILY_LOSS ({most:,.0f})"
            log.error("Guard: %s: pulling the kill switch", reason)
            threading.Thread(
                target=self._kill_switch.pull, args=("MAX_DAILY_LOSS", reason), name="guard-trip", daemon=True
            ).start()
        elif total <= -most * WARN_AT and self._warned_day != day:
            self._warned_day = day
            text = f"The day's P&L is {total:,.2f}: {WARN_AT:.0%} of MAX_DAILY_LOSS ({most:,.0f}) is gone"
            log.warning("Guard: %s", text)
            if self._publish is not None:
                self._publish({"event": "loss_warning", "id": f"loss-warning:{day}", "text": text})
