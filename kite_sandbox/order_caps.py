"""Kite's 2026 order caps per user: 10 orders a second, 400 a minute, 5,000 a day, 25 modifications.

Counted on the sandbox's clock, so a test on a simulated clock can reach the minute and day caps
without waiting. Beyond a second's 10 Kite answers HTTP 429 "Too many requests"; beyond the minute
and day caps 429 too, worded as the title of Zerodha's support article ("Maximum allowed order
requests exceeded"); the error_type is our choice (Kite answers other 429s as NetworkException).
"Maximum allowed order modifications exceeded." is Kite's own wording (Kite forum, staff), sent as
a NetworkException.
"""

import threading
from collections import deque
from datetime import datetime, timedelta

from errors import OrderCapError
from rate_limit import OrderCaps as MinuteAndDayCaps

from .kite_errors import KiteError, RateLimitedError

ORDERS_PER_SECOND = 10
MODIFICATIONS_PER_ORDER = 25


class ModificationsExceededError(KiteError):
    status = 400
    error_type = "NetworkException"


class OrderCaps:
    """Counts placements against the caps per second, minute and day (when enforced) and modifications always.

    The minute and day windows are KiteAPI's own (rate_limit.OrderCaps), counted on the sandbox's clock."""

    def __init__(self, enforce_rates: bool = True):
        self.enforce_rates = enforce_rates
        self._lock = threading.Lock()
        self._second: deque = deque()  # placement times in the last second
        self.minute_and_day = MinuteAndDayCaps()
        self._modifications: dict = {}

    def take_placement(self, now: datetime) -> None:
        """Count one placement, or raise if it would break a cap (then nothing is counted)."""
        if not self.enforce_rates:
            return
        with self._lock:
            while self._second and self._second[0] <= now - timedelta(seconds=1):
                self._second.popleft()
            if len(self._second) >= ORDERS_PER_SECOND:
                raise RateLimitedError("Too many requests")
            try:
                self.minute_and_day.take(now)
            except OrderCapError as cap:
                again = "in a minute" if cap.per == "minute" else "tomorrow"
                raise RateLimitedError(
                    f"Maximum allowed order requests exceeded: {cap.limit} orders a {cap.per}. Try again {again}."
                ) from None
            self._second.append(now)

    def take_modification(self, order_id: str) -> None:
        with self._lock:
            done = self._modifications.get(order_id, 0)
            if done >= MODIFICATIONS_PER_ORDER:
                raise ModificationsExceededError("Maximum allowed order modifications exceeded.")
            self._modifications[order_id] = done + 1
