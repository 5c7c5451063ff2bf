"""Client-side throttling to Kite's per-api_key limits, shared by every thread of a process.

A sliding window (at most `rate` calls in any `period` seconds) rather than a fixed spacing:
bursts up to the limit go out at once, and the window can never hold one call too many.
Written here because the throttling libraries on PyPI are either non-blocking (limits,
flask-limiter's engine) or built around shared storage; this needs ~30 lines of blocking code.
"""

import threading
import time
from collections import deque

QUOTE = "quote"
HISTORICAL = "historical"
ORDER_PLACEMENT = "order_placement"
OTHER = "other"

# Requests per second, per api_key, from Kite's documented limits.
KITE_RATE_LIMITS = {QUOTE: 1, HISTORICAL: 3, ORDER_PLACEMENT: 10, OTHER: 10}

# Kite's clock and ours differ by network jitter; keep a little away from the edge.
SAFETY_MARGIN_SECONDS = 0.02

_ROUTE_CLASSES = {
    "market.quote": QUOTE,
    "market.quote.ohlc": QUOTE,
    "market.quote.ltp": QUOTE,
    "market.historical": HISTORICAL,
    "order.place": ORDER_PLACEMENT,
}


def endpoint_class(route: str) -> str:
    """Which of Kite's rate-limit classes a kiteconnect route key belongs to."""
    return _ROUTE_CLASSES.get(route, OTHER)


class RateLimiter:
    """Blocks in acquire() until a call fits in the window."""

    def __init__(self, rate: int, period: float = 1.0, clock=time.monotonic, sleep=time.sleep):
        self.rate = rate
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._calls = deque()
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def acquire(self) -> float:
        """Wait for a free slot and take it; returns the seconds waited.

        Callers are served in arrival order (a ticket each), so under contention none of them
        starves; only the caller at the head of the line sleeps until a slot frees.
        """
        with self._turn:
            if self._serving == self._next_ticket and self._has_room(self._clock()):
                return 0.0  # nobody waiting and a free slot: the common case, one lock round-trip
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._turn.wait()
        waited = 0.0
        try:
            while True:
                with self._turn:
                    now = self._clock()
                    if self._has_room(now):
                        return waited
                    delay = self._calls[0] + self.period - now
                self._sleep(delay)
                waited += delay
        finally:
            with self._turn:
                self._serving += 1
                self._turn.notify_all()

    def _has_room(self, now: float) -> bool:
        """Take a slot at `now` if the window has one (call with the lock held)."""
        while self._calls and self._calls[0] <= now - self.period:
            self._calls.popleft()
        if len(self._calls) < self.rate:
            self._calls.append(now)
            return True
        return False


def kite_limiters(margin: float = SAFETY_MARGIN_SECONDS) -> dict:
    """A fresh set of limiters, one per Kite endpoint class."""
    return {name: RateLimiter(rate, 1.0 + margin) for name, rate in KITE_RATE_LIMITS.items()}


_shared: dict = {}
_shared_lock = threading.Lock()


def shared_limiters(api_key: str) -> dict:
    """The process-wide limiters for `api_key`: Kite counts per key, so all clients share them."""
    with _shared_lock:
        if api_key not in _shared:
            _shared[api_key] = kite_limiters()
        return _shared[api_key]
