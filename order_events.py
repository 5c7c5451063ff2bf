"""Order events: each status change of an order, reported once whatever told us about it.

The order check (polling) and Kite's postbacks both feed `OrderEvents.observe()`. An order's last
known status and filled quantity are kept in a small JSON file, so an event is announced once
across both sources and across restarts. Updates that would move an order backwards (a stale poll
after a postback said COMPLETE, say) are ignored.
"""

import logging
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from atomic_file import read_json, write_json_atomic
from clock import now_ist
from log_utils import clean_text

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
    source: str  # "poll" or "postback"
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
    """The deduplicating event stream; thread-safe (polls and postbacks arrive on different threads)."""

    def __init__(self, state_file: Path, publish=None, clock=now_ist):
        self._state_file = Path(state_file)
        self._publish = publish
        self._clock = clock
        self._lock = threading.Lock()
        self._seen = None  # {order_id: {"status": str, "filled_quantity": int}}
        self._day = None
        self.events_today = 0

    @property
    def watched_count(self) -> int:
        return len(self._seen or {})

    def status_counts(self) -> dict:
        """How many of today's known orders are in each status."""
        with self._lock:
            return dict(Counter(state["status"] for state in (self._seen or {}).values()))

    def observe(self, orders: list, source: str) -> list:
        """Compare `orders` with what is known; log and publish each change; return the new events."""
        with self._lock:
            now = self._clock()
            self._load_state(now)
            events = [e for e in (self._change(order, source, now) for order in orders) if e is not None]
            if not events:
                return []
            for event in events:
                log.log(logging.WARNING if event.is_rejection else logging.INFO, "%s", event.text)
                if self._publish is not None:
                    self._publish(event.to_dict())  # into the notification outbox before the state is saved: none lost
            write_json_atomic(self._state_file, {"date": self._day, "orders": self._seen})
            self.events_today += len(events)
            return events

    def prune(self, now) -> None:
        """Forget order state of previous days (Kite's order book is per day)."""
        with self._lock:
            self._load_state(now)

    def _change(self, order: dict, source: str, now) -> OrderEvent | None:
        order_id = str(order.get("order_id") or "")
        if not order_id:
            return None
        previous = self._seen.get(order_id)
        if (
            previous is not None
            and previous["status"] == order.get("status")
            and previous["filled_quantity"] == order.get("filled_quantity")
        ):
            return None  # the common case on every poll: nothing new about this order
        status = str(order.get("status") or "UNKNOWN")
        status = POSTBACK_STATUS_ALIASES.get(status, status)
        if status == "UPDATE":  # postback for a modification or partial fill: the status itself is unchanged
            status = previous["status"] if previous else "OPEN"
        filled = _int(order.get("filled_quantity"))
        current = {"status": status, "filled_quantity": filled}
        if previous == current:
            return None
        if previous is not None and (
            previous["status"] in TERMINAL_STATUSES or filled < previous.get("filled_quantity", 0)
        ):
            return None  # stale news: an order never leaves a final status, fills never shrink
        self._seen[order_id] = current
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
        today = now.date().isoformat()
        if self._seen is not None and self._day == today:
            return
        stored = self._read_state_file()
        if stored.get("date") == today and isinstance(stored.get("orders"), dict):
            self._seen = stored["orders"]
        else:
            if stored:
                log.info("Order state of %s dropped; starting the day fresh", stored.get("date"))
                write_json_atomic(self._state_file, {"date": today, "orders": {}})
            self._seen = {}
            self.events_today = 0
        self._day = today

    def _read_state_file(self) -> dict:
        try:
            data = read_json(self._state_file)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("%s is unreadable; order statuses will be announced afresh", self._state_file)
            return {}
        return data if isinstance(data, dict) else {}


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
