"""Kite's 2026 order caps per user: 10 orders a second, 400 a minute, 5,000 a day, 25 modifications.

Counted on the sandbox's clock, so a test on a simulated clock can reach the minute and day caps
without waiting. Beyond a second's 10 Kite answers HTTP 429 "Too many requests"; beyond the minute
and day caps 429 too, worded as the title of Zerodha's support article ("Maximum allowed order
requests exceeded"); the error_type is our choice (Kite answers other 429s as NetworkException).
"Maximum allowed order modifications exceeded." is Kite's own wording (Kite forum, staff), sent as
a NetworkException. An iceberg is one request toward the second and the minute, and each of its legs
one order toward the day (Kite forum, staff, comment 51724).
"""

import threading
from collections import deque
from datetime import datetime, timedelta

from .clock import IST
from .error_responses import KiteError, RateLimitedError

ORDERS_PER_SECOND = 10
ORDERS_PER_MINUTE = 400
ORDERS_PER_DAY = 5000
MODIFICATIONS_PER_ORDER = 25


class ModificationsExceededError(KiteError):
    status = 400
    error_type = "NetworkException"


class OrderLimits:
    """Counts placements against the caps per second, minute and day (when enforced) and modifications always.

    The second and the minute are sliding windows (no 60 s holds more than 400, so no calendar minute
    does either); the day is the IST calendar day."""

    def __init__(self, enforce_rates: bool = True):
        self.enforce_rates = enforce_rates
        self._lock = threading.Lock()
        self._second: deque = deque()  # placement times in the last second
        self._minute: deque = deque()  # placement times in the last minute
        self.day, self.placed_today = None, 0
        self._modifications: dict = {}

    def take_placement(self, now: datetime, day_orders: int = 1) -> None:
        """Count one placement request, or raise if it would break a cap (then nothing is counted).
        `day_orders`: the orders it counts toward the day's cap (an iceberg's legs, forum 51724)."""
        if not self.enforce_rates:
            return
        with self._lock:
            while self._second and self._second[0] <= now - timedelta(seconds=1):
                self._second.popleft()
            while self._minute and self._minute[0] <= now - timedelta(minutes=1):
                self._minute.popleft()
            today = now.astimezone(IST).date()
            if today != self.day:
                self.day, self.placed_today = today, 0
            if len(self._second) >= ORDERS_PER_SECOND:
                raise RateLimitedError("Too many requests")
            if self.placed_today + day_orders > ORDERS_PER_DAY:
                raise _cap_reached(ORDERS_PER_DAY, "day", "tomorrow")
            if len(self._minute) >= ORDERS_PER_MINUTE:
                raise _cap_reached(ORDERS_PER_MINUTE, "minute", "in a minute")
            self._second.append(now)
            self._minute.append(now)
            self.placed_today += day_orders

    def take_modification(self, order_id: str) -> None:
        with self._lock:
            done = self._modifications.get(order_id, 0)
            if done >= MODIFICATIONS_PER_ORDER:
                raise ModificationsExceededError("Maximum allowed order modifications exceeded.")
            self._modifications[order_id] = done + 1


def _cap_reached(limit: int, per: str, again: str) -> RateLimitedError:
    return RateLimitedError(f"Maximum allowed order requests exceeded: {limit} orders a {per}. Try again {again}.")
