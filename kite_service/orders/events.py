"""Order events: each status change of an order, announced once whatever told us about it.

The order check (polling), the order stream and postback look-ups all feed `OrderEvents.observe()`.
An order's last known status and filled quantity live in the order database together with the
notification outbox: a batch of changes and its notifications are saved in one transaction, and
only then logged and counted as announced. A failed write (full disk, read-only folder) changes
nothing, so the next poll or stream message finds the same changes and announces them, once.
Updates that would move an order backwards (a stale poll after the stream said COMPLETE, say)
are ignored. Kite's day runs from 06:00 IST to 06:00 IST (clock.trading_day): state is kept for
that day and the one before, so nothing is announced again across midnight or a restart.
"""

import logging
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from kite_service.clock import now_ist, trading_day
from kite_service.errors import StorageError
from kite_service.logs.text import clean_text
from kite_service.orders.database import OrderDatabase

log = logging.getLogger("kite_app.orders")

TERMINAL_STATUSES = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})
POSTBACK_STATUS_ALIASES = {"CANCEL": "CANCELLED"}
ORDER_DETAIL_FIELDS = (
    "transaction_type",
    "quantity",
    "exchange",
    "tradingsymbol",
    "order_type",
    "product",
    "price",
    "average_price",
    "status_message",
    "tag",
)


@dataclass(frozen=True)
class OrderEvent:
    """One change of an order's status or filled quantity."""

    order_id: str
    status: str
    filled_quantity: int
    text: str
    source: str  # "poll", "stream" or "postback"
    at: str
    order: dict = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return f"order:{self.order_id}:{self.status}:{self.filled_quantity}"

    @property
    def is_rejection(self) -> bool:
        return self.status == "REJECTED"

    def to_dict(self) -> dict:
        return {"event": "order_update", "id": self.event_id, **asdict(self)}


class OrderEvents:
    """The deduplicating event stream; thread-safe (polls, the stream and postbacks use other threads).

    `outbox` (the notification outbox, optional) takes each event in the same transaction as the
    order state: `outbox.queue(tx, notification)`, then `outbox.wake()` once it is committed."""

    def __init__(self, database: OrderDatabase | Path, outbox=None, clock=now_ist):
        self.database = database if isinstance(database, OrderDatabase) else OrderDatabase(database)
        self._outbox = outbox
        self._clock = clock
        self._lock = threading.Lock()
        self._seen = None  # {order_id: {"status", "filled_quantity", "trading_day"}}, today's and yesterday's
        self._day = None  # the trading day _seen was loaded for
        self.events_today = 0
        self.listeners: list = []  # called with each batch of events once stored (the guard's P&L)

    @property
    def watched_count(self) -> int:
        """How many orders changed during the current trading day."""
        with self._lock:
            return sum(1 for state in (self._seen or {}).values() if state["trading_day"] == self._day)

    def is_final(self, order_id: str) -> bool:
        """True when the order is known to be COMPLETE, CANCELLED or REJECTED: nothing about it can change.

        False when unknown, or when the order state cannot be read (then it is worth a look-up)."""
        with self._lock:
            try:
                self._load_state(self._clock())
            except StorageError:
                return False
            state = self._seen.get(order_id)
            return state is not None and state["status"] in TERMINAL_STATUSES

    def status_counts(self) -> dict:
        """How many of the current trading day's orders are in each status."""
        with self._lock:
            seen = self._seen or {}
            return dict(Counter(s["status"] for s in seen.values() if s["trading_day"] == self._day))

    def observe(self, orders: list, source: str) -> list:
        """Compare `orders` with what is known; save, log and queue each change; return the new events.

        Raises StorageError when the order database cannot be read or written: then nothing was
        announced, and the same changes are found again by the next call."""
        with self._lock:
            now = self._clock()
            self._load_state(now)
            changed = {}  # order_id -> new state, in this batch
            events = []
            for order in orders:
                found = self._change(order, source, now, changed)
                if found is not None:
                    events.append(found)
            if not events:
                return []
            with self.database.transaction() as tx:
                for order_id, state in changed.items():
                    self.database.save_order(tx, order_id, state)
                for event in events:
                    self.database.save_event(tx, event, self._day)
                if self._outbox is not None:
                    for event in events:
                        self._outbox.queue(tx, event.to_dict())
            # Saved and queued: from here on these events count as announced.
            self._seen.update(changed)
            self.events_today += len(events)
            for event in events:
                log.log(logging.WARNING if event.is_rejection else logging.INFO, "%s", event.text)
            if self._outbox is not None:
                self._outbox.wake()
        for listener in self.listeners:  # outside the lock: a listener may read the order state
            listener(events)
        return events

    def timelines(self, now=None) -> dict:
        """{order_id: its steps} of the trading day of `now` (default: the clock's), as announced."""
        return self.database.timelines(trading_day(now or self._clock()))

    def day_orders(self, now=None) -> dict:
        """{order_id: {"status", "filled_quantity", "order"}} of the trading day of `now`, as stored."""
        return self.database.day_orders(trading_day(now or self._clock()))

    def prune(self, now) -> None:
        """Forget orders of trading days before yesterday's (Kite's order book is per day)."""
        with self._lock:
            self._load_state(now)
            forgotten = self.database.forget_orders_before(_day_before(self._day))
            if forgotten:
                log.info("Forgot the state of %d order(s) of earlier trading days", forgotten)

    def _change(self, order: dict, source: str, now, changed: dict) -> OrderEvent | None:
        order_id = str(order.get("order_id") or "")
        if not order_id:
            return None
        previous = changed.get(order_id) or self._seen.get(order_id)
        if (
            previous is not None
            and previous["status"] == order.get("status")
            and previous["filled_quantity"] == order.get("filled_quantity")
        ):
            return None  # the common case on every poll: nothing new about this order
        status = str(order.get("status") or "UNKNOWN")
        status = POSTBACK_STATUS_ALIASES.get(status, status)
        if status == "UPDATE":  # an update for a modification or partial fill: the status itself is unchanged
            status = previous["status"] if previous else "OPEN"
        filled = _int(order.get("filled_quantity"))
        if previous is not None and previous["status"] == status and previous["filled_quantity"] == filled:
            return None
        if previous is not None and (
            previous["status"] in TERMINAL_STATUSES or filled < previous.get("filled_quantity", 0)
        ):
            return None  # stale news: an order never leaves a final status, fills never shrink
        changed[order_id] = {"status": status, "filled_quantity": filled, "trading_day": self._day}
        # Kite's text (status messages, symbols, tags) goes into log lines and notifications: made inert.
        order = {
            **{name: clean_text(value) if isinstance(value, str) else value for name, value in order.items()},
            "order_id": clean_text(order_id, 40),
            "status": clean_text(status, 40),
            "filled_quantity": filled,
        }
        return OrderEvent(
            order_id=order["order_id"],
            status=order["status"],
            filled_quantity=filled,
            text=describe_transition(order, previous),
            source=source,
            at=now.isoformat(timespec="seconds"),
            order={name: order.get(name) for name in ORDER_DETAIL_FIELDS},
        )

    def _load_state(self, now) -> None:
        """Read today's and yesterday's order state once, and again when a new trading day begins."""
        today = trading_day(now)
        if self._seen is not None and self._day == today:
            return
        self._seen = self.database.load_orders(since_day=_day_before(today))  # StorageError: try again later
        if self._day is not None:
            self.events_today = 0
        self._day = today


def _day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def describe_transition(order: dict, previous: dict | None) -> str:
    """One human line for an order's new state, e.g. 'Order 1512... COMPLETE: BUY 1 NSE:INFY @ 1500.0'."""
    order_id = order.get("order_id")
    status = order.get("status")
    quantity = order.get("quantity") or 0
    filled = order.get("filled_quantity") or 0
    what = f"{order.get('transaction_type')} {quantity} {order.get('exchange')}:{order.get('tradingsymbol')}"
    if status == "COMPLETE":
        return f"Order {order_id} COMPLETE: {what} filled {filled}/{quantity} @ {order.get('average_price')}"
    if status == "REJECTED":
        return f"Order {order_id} REJECTED: {what}: {order.get('status_message') or 'no reason given'}"
    if status == "CANCELLED":
        return f"Order {order_id} CANCELLED: {what}, filled {filled}/{quantity}"
    if 0 < filled < quantity:
        return f"Order {order_id} partially filled: {what}, {filled}/{quantity} @ {order.get('average_price')}"
    if previous is None:
        return f"Order {order_id} placed: {what} {order.get('order_type')}, status {status}"
    return f"Order {order_id} {previous.get('status')} -> {status}: {what}"


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
