"""The order-status check: one orders() call per poll; changes go to the order event stream.

The poll pauses (logged once) while there is no usable session, and backs off on failures.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from kite_service.clock import now_ist
from kite_service.errors import KiteAppError, SessionError
from kite_service.kite.sdk import kite_errors
from kite_service.orders.events import OrderEvents

log = logging.getLogger("kite_app.orders")

MAX_CAUSE_LENGTH = 300
MAX_BACKOFF_SECONDS = 60  # at most 3 polls missed: a fill is reported at most a minute after Kite is back


@dataclass
class PollOutcome:
    """What the last poll did, for health reporting."""

    at: datetime
    ok: bool
    detail: str


class OrderWatcher:
    """Polls Kite's order book and feeds it to the order events."""

    def __init__(self, api, events: OrderEvents, clock=now_ist, interval_seconds: float = 20):
        self._api = api
        api.forget_raw_orders()  # this watcher's events have not seen the current order book yet
        self.events = events
        self._clock = clock
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._pause_reason = None
        self._failures = 0
        self._failure_cause = None
        self._next_attempt = None
        self._order_count = 0
        self.last_outcome: PollOutcome | None = None

    def poll_and_announce(self) -> list[str]:
        """Run one check: ask Kite for the order book, announce each change; returns the announced lines."""
        with self._lock:
            now = self._clock()
            if self._next_attempt is not None and now < self._next_attempt:
                return []
            try:
                orders = self._api.get_raw_orders(if_changed=True)  # checks the session first
                # None: byte-identical to the last answer, nothing can have changed. StorageError from
                # observe(): nothing was announced; the same changes are found again next time.
                events = [] if orders is None else self.events.observe(orders, source="poll")
            except SessionError as exc:
                self._pause(str(exc))
                self.last_outcome = PollOutcome(now, False, "no usable session")
                return []
            except Exception as exc:  # noqa: BLE001 - a poll must never take the scheduler down
                self._api.forget_raw_orders()  # compare the whole order book again next time
                self._record_failure(now, exc)
                return []
            self._resume(now)
            if orders is not None:
                self._order_count = len(orders)
            self.last_outcome = PollOutcome(now, True, f"{self._order_count} orders")
            return [event.text for event in events]

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
        if len(cause) > MAX_CAUSE_LENGTH:  # an HTML error page is not worth a 10 kB log line
            cause = cause[:MAX_CAUSE_LENGTH] + "..."
        backoff = min(self._interval * 2 ** (self._failures - 1), max(MAX_BACKOFF_SECONDS, self._interval))
        self._next_attempt = now + timedelta(seconds=backoff) - timedelta(seconds=self._interval / 2)
        if cause != self._failure_cause:
            expected = isinstance(exc, (KiteAppError, kite_errors.KiteException))
            log.error("Order check failed: %s; next attempt in %.0f s", cause, backoff, exc_info=not expected)
            self._failure_cause = cause
        self.last_outcome = PollOutcome(now, False, cause)
