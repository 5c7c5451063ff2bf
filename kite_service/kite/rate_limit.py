"""Client-side throttling to Kite's per-api_key limits and its order caps, shared by every thread of a process.

A sliding window (at most `rate` calls in any `period` seconds) rather than a fixed spacing:
bursts up to the limit go out at once, and the window can never hold one call too many.
Written here because the throttling libraries on PyPI are either non-blocking (limits,
flask-limiter's engine) or built around shared storage; this needs ~30 lines of blocking code.
"""

import bisect
import threading
import time
from collections import deque
from contextlib import contextmanager
from datetime import timedelta

from kite_service.clock import now_ist
from kite_service.errors import OrderCapError

QUOTE = "quote"
HISTORICAL = "historical"
ORDER_PLACEMENT = "order_placement"
OTHER = "other"

# Requests per second, per api_key, from Kite's documented limits.
KITE_RATE_LIMITS = {QUOTE: 1, HISTORICAL: 3, ORDER_PLACEMENT: 10, OTHER: 10}

# Kite's clock and ours differ by network jitter; keep a little away from the edge.
SAFETY_MARGIN_SECONDS = 0.02
IN_FLIGHT_POLL_SECONDS = 0.01  # how often a caller looks again while every slot's call is in flight
RATE_WINDOW_SECONDS = 1.0 + SAFETY_MARGIN_SECONDS  # the least wait before asking again after Kite's 429

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
        self._calls = deque()  # when each call of the window was answered (or made), in time order
        self._in_flight = 0  # calls sent and not yet answered: Kite may count any of them at any moment
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._first_waiting = 0  # callers that go before the line (the kill switch's) and wait for room

    def acquire(self) -> float:
        """Wait for a free slot and take it for a call made now; returns the seconds waited.

        Callers are served in arrival order (a ticket each), so under contention none of them
        starves; only the caller at the head of the line sleeps until a slot frees.
        """
        waited, stamp = self._take()
        self._settle(stamp, stamp)
        return waited

    def slot(self) -> "_Slot":
        """Take a slot for one call (as acquire()); when the call is over, its stamp moves to then.

            with limiter.slot():
                send the request and read the answer

        Kite counts a request when it arrives, somewhere between the two moments. A thread held up
        between taking its slot and sending (a busy machine) would otherwise let the next call
        arrive less than a period after it, and Kite would answer 429."""
        return _Slot(self)

    def expected_wait(self) -> float:
        """How long a call asking now would wait for its slot, given the calls in the window and the
        callers already in line (for refusing rather than queueing without end)."""
        with self._turn:
            now = self._clock()
            calls = self._calls
            while calls and calls[0] <= now - self.period:  # in time order: what is left is in the window
                calls.popleft()
            in_line = self._next_ticket - self._serving
            if len(calls) + self._in_flight + in_line < self.rate:
                return 0.0
            # The window's slots in the order they free (free ones first; a call in flight as if it
            # were answered now); each caller in line takes the next, and the slot it takes frees a
            # period later. Ours comes after theirs.
            free = [now - self.period] * max(0, self.rate - len(calls) - self._in_flight)
            frees = deque(sorted(free + list(calls) + [now] * self._in_flight)[-self.rate :])
            for _ in range(in_line + 1):
                taken = max(frees.popleft() + self.period, now)
                frees.append(taken)
            return taken - now

    def _take(self) -> tuple:
        """(seconds waited, the slot's stamp). A thread inside `calls_first()` goes before every caller
        in line and takes the first slot that frees."""
        if getattr(_first, "on", False):
            return self._take_first()
        with self._turn:
            if self._serving == self._next_ticket and not self._first_waiting:
                now = self._clock()
                if self._has_room(now):
                    return 0.0, now  # nobody waiting and a free slot: the common case, one lock round-trip
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._turn.wait()
        waited = 0.0
        try:
            while True:
                with self._turn:
                    now = self._clock()
                    if not self._first_waiting and self._has_room(now):
                        return waited, now
                    # The oldest answered call leaves the window a period after its answer; with every
                    # slot in flight, look again shortly (an answer frees nothing before a period).
                    delay = self._calls[0] + self.period - now if self._calls else IN_FLIGHT_POLL_SECONDS
                    if self._first_waiting:  # a free slot is theirs: look again once they have taken it
                        delay = max(delay, IN_FLIGHT_POLL_SECONDS)
                self._sleep(delay)
                waited += delay
        finally:
            with self._turn:
                self._serving += 1
                self._turn.notify_all()

    def _take_first(self) -> tuple:
        waited = 0.0
        with self._turn:
            self._first_waiting += 1
        try:
            while True:
                with self._turn:
                    now = self._clock()
                    if self._has_room(now):
                        return waited, now
                    delay = self._calls[0] + self.period - now if self._calls else IN_FLIGHT_POLL_SECONDS
                self._sleep(delay)
                waited += delay
        finally:
            with self._turn:
                self._first_waiting -= 1
                self._turn.notify_all()

    def _settle(self, stamp: float, done: float) -> None:
        """A call taken at `stamp` was answered at `done`: it counts in the window from then on."""
        with self._turn:
            calls = self._calls
            self._in_flight -= 1
            if not calls or calls[-1] <= done:
                calls.append(max(stamp, done))  # the usual case: now is later than every stamp
            else:
                bisect.insort(calls, max(stamp, done))

    def _has_room(self, now: float) -> bool:
        """Take a slot at `now` if the window has one (call with the lock held). A call in flight holds
        its slot until it is answered, however long that takes: Kite counts it on arrival, which may
        come late (a busy server queues requests), and a window that forgot it would let a call too
        many arrive within Kite's second."""
        while self._calls and self._calls[0] <= now - self.period:
            self._calls.popleft()
        if len(self._calls) + self._in_flight < self.rate:
            self._in_flight += 1
            return True
        return False


_first = threading.local()


@contextmanager
def calls_first():
    """Inside it, this thread's calls go before every caller waiting for the same limit: the kill
    switch's cancels, exits and reads are never held up by the programs' queued calls."""
    before = getattr(_first, "on", False)
    _first.on = True
    try:
        yield
    finally:
        _first.on = before


class _Slot:
    """The context manager of RateLimiter.slot() (a class: a generator-based one costs twice as much)."""

    __slots__ = ("_answered", "_limiter", "_stamp")

    def __init__(self, limiter: RateLimiter):
        self._limiter = limiter
        self._answered = None

    def __enter__(self):
        self._stamp = self._limiter._take()[1]
        return self

    def answered(self) -> None:
        """The answer's first bytes are in: Kite has counted the call by now. Its body (60 days of
        minute candles: megabytes) is read and decoded outside the window."""
        self._answered = self._limiter._clock()

    def __exit__(self, *_exc):
        done = self._answered if self._answered is not None else self._limiter._clock()
        self._limiter._settle(self._stamp, done)
        return False


# Kite's order caps per account, across all its API keys (2026): beyond them Kite answers HTTP 429
# instead of placing the order. An iceberg is one request, and each of its legs one order toward
# the day's cap (Kite forum, staff, comment 51724).
ORDERS_PER_MINUTE = 400
ORDERS_PER_DAY = 5000
MOST_ICEBERG_LEGS = 50


def day_orders(variety, params) -> int:
    """The orders one placement counts toward the day's cap: an iceberg's legs each, else one."""
    if str(variety or "").lower() != "iceberg":
        return 1
    try:
        legs = int((params or {}).get("iceberg_legs") or 1)
    except (TypeError, ValueError):
        return 1  # Kite refuses it; the request still counts once
    return min(max(legs, 1), MOST_ICEBERG_LEGS)


class OrderCaps:
    """Counts order placements against Kite's minute and day caps; refuses (never delays) beyond them.

    A sliding 60-second window, so no calendar minute can hold more than the cap either; the day is
    the IST calendar day. Counted per process: scripts running side by side each count their own."""

    def __init__(self, per_minute=ORDERS_PER_MINUTE, per_day=ORDERS_PER_DAY, clock=now_ist):
        self.per_minute = per_minute
        self.per_day = per_day
        self._clock = clock
        self._lock = threading.Lock()
        self._minute = deque()
        self._day = None
        self._day_count = 0

    def take(self, now=None, orders: int = 1) -> None:
        """Count one placement request at `now` (default: the clock's) that makes `orders` orders (an
        iceberg's legs), or raise OrderCapError (counting nothing) if a cap is reached."""
        with self._lock:
            now = now or self._clock()
            if now.date() != self._day:
                self._day, self._day_count = now.date(), 0
            while self._minute and self._minute[0] <= now - timedelta(minutes=1):
                self._minute.popleft()
            if self._day_count + orders > self.per_day:
                raise OrderCapError(self.per_day, "day", "at 00:00 IST")
            if len(self._minute) >= self.per_minute:
                resets = self._minute[0] + timedelta(minutes=1)
                raise OrderCapError(self.per_minute, "minute", f"at {resets:%H:%M:%S} IST")
            self._minute.append(now)
            self._day_count += orders


def kite_limiters(margin: float = SAFETY_MARGIN_SECONDS) -> dict:
    """A fresh set of limiters, one per Kite endpoint class."""
    return {name: RateLimiter(rate, 1.0 + margin) for name, rate in KITE_RATE_LIMITS.items()}


class NoOrderCaps:
    """Order caps that count nothing: for a sandbox without Kite's limits (RATE_LIMITS=off)."""

    def take(self, now=None, orders: int = 1) -> None:
        return None


class NoLimit:
    """A limiter that never makes a call wait and counts nothing: for a sandbox without Kite's limits."""

    def acquire(self) -> float:
        return 0.0

    def slot(self) -> "NoLimit":
        return self

    def expected_wait(self) -> float:
        return 0.0

    def __enter__(self):
        return self

    def answered(self) -> None:
        pass

    def __exit__(self, *_exc):
        return False


def unlimited_limiters() -> dict:
    """Limiters that never make a call wait: for a sandbox without Kite's limits (RATE_LIMITS=off)."""
    return {name: NoLimit() for name in KITE_RATE_LIMITS}


_shared: dict = {}
_shared_caps: dict = {}
_shared_lock = threading.Lock()


def shared_limiters(api_key: str) -> dict:
    """The process-wide limiters for `api_key`: Kite counts per key, so all clients share them."""
    with _shared_lock:
        if api_key not in _shared:
            _shared[api_key] = kite_limiters()
        return _shared[api_key]


def shared_order_caps(api_key: str) -> OrderCaps:
    """The process-wide order caps for `api_key` (Kite counts per user)."""
    with _shared_lock:
        if api_key not in _shared_caps:
            _shared_caps[api_key] = OrderCaps()
        return _shared_caps[api_key]
