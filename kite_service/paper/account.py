"""One paper client's account (the sandbox's order desk, GTTs and alerts over a PaperBook on the
shared LiveMarket), and the paper desk's client of the ticker hub.

An account's changes are stored (store.py) at the end of every call and every pass of the prices
(`flush`), and only the updates of stored changes are handed on to be sent.
"""

import itertools
import json
import logging
import secrets
import threading
from collections import deque
from datetime import date

from kite_sandbox.alerts import Alerts
from kite_sandbox.charges import order_charges
from kite_sandbox.gtt import Triggers
from kite_sandbox.order_record import FINAL_STATUSES
from kite_sandbox.order_rules import LIVE_STATUSES
from kite_sandbox.postbacks import postback_payload, postback_status
from kite_sandbox.varieties import OrderDesk
from kite_service.clock import IST
from kite_service.paper.book import PaperBook
from kite_service.paper.day_roll import end_of_day, start_day
from kite_service.paper.square_off import square_off
from kite_service.paper.store import PaperStore

log = logging.getLogger("kite_app.paper")

PAPER_USER_ID = "PAPER"  # the account_id / placed_by of paper orders
QUEUED_FRAMES = 64  # frames waiting for the matching thread; older ones are dropped (newer quotes win)


class PaperAccount:
    """One paper client's account. Callers hold `lock` around every use and call `flush()` after."""

    def __init__(self, name: str, key: str, capital: float, market, clock, hours, store: PaperStore, secret: str):
        """`key`: the account's rows in the store (the client's name and when its paper book began)."""
        self.name, self.key, self.capital, self._store, self._secret = name, key, capital, store, secret
        self.lock = threading.RLock()
        self.book = PaperBook(market, PAPER_USER_ID, clock, self._on_update, capital, hours)
        self.book.new_order_id = self._new_order_id
        self.desk = OrderDesk(self.book, market)
        self.triggers = Triggers(market, self.book, PAPER_USER_ID, clock)
        self.alerts = Alerts(market, self.desk, PAPER_USER_ID, clock)
        self._clock = clock
        self._ids = itertools.count(1)
        self._dirty: set = set()
        self._saved_trades = 0
        self._last_seen: dict = {}
        self._updates: list = []  # order updates waiting for the next flush
        self._saved_extras = ""
        self.day = clock().astimezone(IST).date()  # the trading day the book is on (restore() may say otherwise)

    def _new_order_id(self) -> str:
        # "P" and 15 digits: never one of Kite's order ids (all digits), so logs and pages cannot mix them up
        return f"P{self._clock():%y%m%d}{next(self._ids):09d}"

    def _on_update(self, order: dict) -> None:
        """Told every order update by the book (its lock held)."""
        self.desk.on_update(order)
        self._dirty.add(order["order_id"])
        previous = self._last_seen.get(order["order_id"])
        self._last_seen[order["order_id"]] = (order["status"], order["filled_quantity"], order["status_message"])
        if order["status"] in FINAL_STATUSES:
            self._last_seen.pop(order["order_id"], None)
        status = postback_status(order, previous[:2] if previous else None)
        if status is None and previous is not None and previous[2] != order["status_message"]:
            status = order["status"]  # a new reason it waits: told as Kite tells an UPDATE
        if status is not None:
            payload = postback_payload(order, status, PAPER_USER_ID, self.name, self._secret)
            self._updates.append(json.dumps({"type": "order", "id": "", "data": payload}))

    def advance(self, tokens=None) -> None:
        """Let the prices act: fills and triggers on `tokens` (None: all), next legs, GTTs, alerts; and
        the clock: a new day begun (day_roll.py), intraday positions squared off at Zerodha's times."""
        now = self._clock()
        today = now.astimezone(IST).date()
        if today > self.day:
            self._roll(today)
        square_off(self.book, now, self.book._hours.trading_day(now.astimezone(IST).date()))
        self.book.advance(now, tokens=tokens)
        for part in (self.desk, self.triggers, self.alerts):
            part.advance()

    def flush(self) -> list:
        """Store what changed since the last flush; the order updates that may now be sent."""
        self._store_changes()
        updates, self._updates = self._updates, []
        return updates

    def _store_changes(self) -> None:
        extras = json.dumps({"gtt": self.triggers.state(), "alerts": self.alerts.state(), "desk": self.desk.state()})
        changed_extras = extras if extras != self._saved_extras else None
        book = self.book
        orders = [(book.orders[i], book._history[i], book.bounds.get(i)) for i in sorted(self._dirty)]
        trades = book.trades[self._saved_trades :]
        self._store.save(self.key, orders, trades, self._saved_trades, changed_extras)
        self._saved_extras = extras
        self._dirty.clear()
        self._saved_trades = len(book.trades)

    def _roll(self, today) -> None:
        """The day is over: its open orders cancelled and stored, the new day's state stored (the old
        day's orders and trades forgotten with it), then begun in memory."""
        state = end_of_day(self.book, self._clock(), self.day)
        self._store_changes()  # the cancellations: their updates go out with the next flush
        state["day"] = today.isoformat()
        self._store.new_day(self.key, state, keep=set(self.book._live))
        start_day(self.book, state)
        self._saved_trades = 0
        self.day = today

    def restore(self) -> None:
        """Rebuild the account from what the store kept: the state its day started from, then that
        day's orders, their history and its trades."""
        state = self._store.load_day(self.key)
        orders, trades = self._store.load(self.key)
        extras = self._store.load_extras(self.key)
        if extras is not None:
            self.triggers.restore(extras["gtt"])
            self.alerts.restore(extras["alerts"])
            self.desk.restore(extras.get("desk", {"icebergs": {}, "cover_stops": {}}))
            self._saved_extras = json.dumps(extras)
        book = self.book
        if state is not None:
            start_day(book, state)
            self.day = date.fromisoformat(state["day"])
        elif orders:  # its first day: the day of its first order
            self.day = date.fromisoformat(orders[0][0]["order_timestamp"][:10])
        for trade in trades:
            instrument = book._market.by_token(trade["instrument_token"])
            if instrument is not None:
                book.portfolio.book_fill(
                    instrument, trade["product"], trade["transaction_type"], trade["quantity"], trade["average_price"]
                )
        book.trades = trades
        numbers = [0]
        for order, history, bound in orders:
            order_id = order["order_id"]
            book.orders[order_id], book._history[order_id] = order, history
            numbers.append(int(order_id[-9:]))
            if bound is not None:
                book.bounds[order_id] = bound
            if order["status"] in LIVE_STATUSES:
                book._live[order_id] = order
                book._placed_at[order_id] = self._clock()
                instrument = book._market.by_token(order["instrument_token"])
                if instrument is not None:  # the margin it holds, as when it was placed
                    book._blocked[order_id] = book._margin_needed(order, instrument)
                if order["status"] == "AMO REQ RECEIVED":  # to the exchange at the next opening
                    book._opens_at[order_id] = book._hours.next_open(self._clock())
            elif order["filled_quantity"]:
                instrument = book._market.by_token(order["instrument_token"])
                if instrument is not None:
                    charges = order_charges(
                        instrument,
                        order["product"],
                        order["transaction_type"],
                        order["filled_quantity"],
                        order["average_price"],
                    )
                    book.portfolio.charges += charges["total"]
        self._ids = itertools.count(max(numbers) + 1)
        book._trade_ids = itertools.count(10000001 + len(trades))
        self._saved_trades = len(trades)

    def tokens(self) -> set:
        """The instruments whose ticks this account needs: its live orders' and open positions'."""
        with self.lock:
            held = {order["instrument_token"] for order in self.book._live.values()}
            held |= {p.instrument.token for p in self.book.portfolio.positions.values() if p.net}
        return held


class PaperFeed:
    """The desk's client of the ticker hub: frames queued for the matching thread, never worked on the hub's loop."""

    name = "paper"
    share = None  # the service's own: no share of the hub's instruments
    paper = False  # live order updates are not for it (it ignores them anyway)
    waiting = 0
    lag = 0.0

    def __init__(self, wake):
        self.frames: deque = deque(maxlen=QUEUED_FRAMES)
        self._wake = wake

    def offer(self, message, received_at=None) -> bool:
        if isinstance(message, bytes) and len(message) > 2:
            self.frames.append(message)
            self._wake.set()
        return True

    def latency_ms(self) -> dict:
        return {"p50": None, "p99": None, "written_p99": None}

    def close(self, code: int = 1000, reason: str = "") -> None:
        pass


def new_secret() -> str:
    """The key of the checksums on paper order updates (the client cannot check them: as with Kite,
    only the api_secret's holder can)."""
    return secrets.token_hex(16)
