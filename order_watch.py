"""The order-status check: one orders() call per poll, each status change logged exactly once.

Last-seen statuses are kept in a small JSON file so a restart does not announce them again.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from kiteconnect import exceptions as kite_errors

from atomic_file import read_json, write_json_atomic
from clock import now_ist
from errors import KiteAppError, SessionError

log = logging.getLogger("kite_app.orders")

TERMINAL_STATUSES = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})
MAX_BACKOFF_SECONDS = 120


@dataclass
class PollOutcome:
    """What the last poll did, for health reporting."""

    at: datetime
    ok: bool
    detail: str


class OrderWatcher:
    """Compares Kite's order book with what it saw last time and logs the differences."""

    def __init__(self, api, state_file: Path, clock=now_ist, interval_seconds: float = 20):
        self._api = api
        self._state_file = Path(state_file)
        self._clock = clock
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._seen = None  # {order_id: {"status": str, "filled_quantity": int}}
        self._day = None
        self._pause_reason = None
        self._failures = 0
        self._failure_cause = None
        self._next_attempt = None
        self.last_outcome: PollOutcome | None = None

    @property
    def watched_count(self) -> int:
        return len(self._seen or {})

    def poll(self) -> list:
        """Run one check; returns the log lines of the transitions it found."""
        with self._lock:
            now = self._clock()
            if self._next_attempt is not None and now < self._next_attempt:
                return []
            self._load_state(now)
            try:
                orders = self._api.get_orders()  # checks the session first; no call without one
            except SessionError as exc:
                self._pause(str(exc))
                self.last_outcome = PollOutcome(now, False, "no usable session")
                return []
            except Exception as exc:  # noqa: BLE001 - a poll must never take the scheduler down
                self._record_failure(now, exc)
                return []
            self._resume(now)
            events = self._compare(orders)
            if events:
                write_json_atomic(self._state_file, {"date": self._day, "orders": self._seen})
            self.last_outcome = PollOutcome(now, True, f"{len(orders)} orders")
            return events

    def prune(self, today: datetime) -> None:
        """Forget order state of previous days (Kite's order book is per day)."""
        with self._lock:
            self._load_state(today)

    # -- state ---------------------------------------------------------------------------

    def _load_state(self, now: datetime) -> None:
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

    # -- comparing -------------------------------------------------------------------------

    def _compare(self, orders: list) -> list:
        events = []
        for order in orders:
            order_id = str(order.get("order_id"))
            current = {"status": order.get("status"), "filled_quantity": order.get("filled_quantity") or 0}
            previous = self._seen.get(order_id)
            if previous == current:
                continue
            self._seen[order_id] = current
            line = describe_transition(order, previous)
            level = logging.WARNING if current["status"] == "REJECTED" else logging.INFO
            log.log(level, "%s", line)
            events.append(line)
        return events

    # -- pauses and failures -------------------------------------------------------------------

    def _pause(self, reason: str) -> None:
        if reason != self._pause_reason:
            log.warning("Order check paused: %s", reason)
            self._pause_reason = reason

    def _resume(self, now: datetime) -> None:
        if self._pause_reason is not None:
            log.info("Order check resumed: session is valid again")
            self._pause_reason = None
        if self._failures:
            log.info("Order check recovered after %d failed attempt(s)", self._failures)
        self._failures = 0
        self._failure_cause = None
        self._next_attempt = None

    def _record_failure(self, now: datetime, exc: Exception) -> None:
        self._failures += 1
        cause = f"{type(exc).__name__}: {exc}"
        backoff = min(self._interval * 2 ** (self._failures - 1), max(MAX_BACKOFF_SECONDS, self._interval))
        self._next_attempt = now + timedelta(seconds=backoff) - timedelta(seconds=self._interval / 2)
        if cause != self._failure_cause:
            expected = isinstance(exc, (KiteAppError, kite_errors.KiteException))
            log.error("Order check failed: %s; next attempt in %.0f s", cause, backoff, exc_info=not expected)
            self._failure_cause = cause
        self.last_outcome = PollOutcome(now, False, cause)


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
