"""Postbacks as signals: each verified postback makes the service ask Kite what happened to that order.

Kite's checksum covers only order_id and order_timestamp; the status, the fill and every message
in a postback are unsigned, so anyone holding one genuine postback could resend it with any status.
The service therefore never believes a postback's contents: it fetches the order's history from
Kite (one request, through KiteAPI's rate limits) on a background thread and announces what Kite
says, exactly as a poll would.

A postback is cheap to replay: an order is looked up at most once per LOOKUP_WINDOW_SECONDS (a
postback inside the window is folded into one look-up at its end), never once it is known to be
final, and never for a postback from an earlier trading day (its signed timestamp says so).
Ignored postbacks are counted and logged, a few lines a minute at most.
"""

import heapq
import logging
import threading
import time
from collections import OrderedDict
from datetime import datetime

from kite_service.clock import IST, now_ist, trading_day
from kite_service.errors import SessionError
from kite_service.logs.text import clean_text
from kite_service.logs.throttle import LogThrottle

log = logging.getLogger("kite_app.orders")

MAX_PENDING = 256  # orders waiting to be looked up; beyond this the 20-second poll catches up
LOOKUP_WINDOW_SECONDS = 10.0  # at most one look-up per order in this long
REMEMBERED_LOOKUPS = 10_000  # orders whose last look-up time is kept (the oldest forgotten first)
KITE_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

QUEUED, FOLDED, FINAL, EARLIER_DAY, BUSY = "queued", "folded", "final", "earlier day", "busy"


class PostbackFollowUp:
    """Look-ups of postbacked orders at Kite, due now or at the end of their window, worked by one
    daemon thread (or run_pending())."""

    def __init__(self, api, events, clock=now_ist, monotonic=time.monotonic):
        self._api = api
        self._events = events
        self._clock = clock
        self._monotonic = monotonic
        self._due: list = []  # heap of (monotonic due time, order_id)
        self._pending: set = set()  # order ids in _due
        self._last_lookup: OrderedDict = OrderedDict()  # order_id -> monotonic time of its last look-up
        self._condition = threading.Condition()
        self._busy = 0  # look-ups in progress
        self._stopping = False
        self._thread = None
        self._throttle = LogThrottle(log)
        self.looked_up = 0
        self.last_heard = None  # when Kite last sent a postback that passed its checksum (the /day page)
        self.ignored = {FOLDED: 0, FINAL: 0, EARLIER_DAY: 0, BUSY: 0}

    def submit(self, order_id: str, order_timestamp: str | None = None) -> str:
        """Schedule one look-up; returns QUEUED, or why none was added (FOLDED into one already
        due, the order is FINAL, the postback is of an EARLIER_DAY, or the queue is BUSY)."""
        self.last_heard = self._clock()
        outcome = self._schedule(order_id, order_timestamp)
        if outcome != QUEUED:
            self.ignored[outcome] += 1
            self._throttle.warning(
                "ignored postbacks", "Postback for order %s not looked up: %s", clean_text(order_id, 40), outcome
            )
        return outcome

    def _schedule(self, order_id: str, order_timestamp: str | None) -> str:
        if order_timestamp is not None and _trading_day_of(order_timestamp) < trading_day(self._clock()):
            return EARLIER_DAY  # a replay: Kite sends an order's postbacks on the day it changes
        if self._events.is_final(order_id):
            return FINAL
        with self._condition:
            if order_id in self._pending:
                return FOLDED
            if len(self._pending) >= MAX_PENDING:
                return BUSY
            last = self._last_lookup.get(order_id)
            now = self._monotonic()
            due = now if last is None else max(now, last + LOOKUP_WINDOW_SECONDS)
            heapq.heappush(self._due, (due, order_id))
            self._pending.add(order_id)
            self._condition.notify_all()
        return QUEUED

    def start(self) -> None:
        with self._condition:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="postback-followup", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        with self._condition:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._condition.notify_all()
        if thread is not None:
            thread.join(timeout)

    def run_pending(self, include_later: bool = False) -> int:
        """Look up everything due (with `include_later`, everything scheduled), in the calling thread
        (when no worker runs: tests, tools)."""
        done = 0
        while (order_id := self._next(block=False, include_later=include_later)) is not None:
            self._look_up(order_id)
            done += 1
        return done

    def wait_idle(self) -> None:
        """Until nothing is due now and no look-up is in progress."""
        with self._condition:
            while self._busy or (self._due and self._due[0][0] <= self._monotonic()):
                self._condition.wait(0.05)

    def _run(self) -> None:
        while (order_id := self._next(block=True)) is not None:
            self._look_up(order_id)

    def _next(self, block: bool, include_later: bool = False) -> str | None:
        """The next order due (waiting for it when `block`); None when stopping or, unblocked, none due."""
        with self._condition:
            while not self._stopping:
                if self._due:
                    due, order_id = self._due[0]
                    wait = due - self._monotonic()
                    if wait <= 0 or include_later:
                        heapq.heappop(self._due)
                        self._pending.discard(order_id)
                        self._busy += 1
                        return order_id
                else:
                    wait = None
                if not block:
                    return None
                self._condition.wait(wait)
            return None

    def _look_up(self, order_id: str) -> None:
        try:
            self._remember_lookup(order_id)
            history = self._api.get_order_history(order_id)
            self.looked_up += 1
            if history:
                self._events.observe([history[-1]], source="postback")
        except SessionError:
            self._throttle.warning(
                "postback lookups without a session",
                "Postback for order %s not checked: no usable Kite session (log in at /login)",
                order_id,
            )
        except Exception as exc:  # noqa: BLE001 - a lookup must never stop the worker; the poll catches up
            self._throttle.warning(
                "failed postback lookups",
                "Postback for order %s not checked with Kite (%s); the order check will catch up",
                order_id,
                clean_text(f"{type(exc).__name__}: {exc}", 200),
            )
        finally:
            with self._condition:
                self._busy -= 1
                self._condition.notify_all()

    def _remember_lookup(self, order_id: str) -> None:
        with self._condition:
            self._last_lookup[order_id] = self._monotonic()
            self._last_lookup.move_to_end(order_id)
            while len(self._last_lookup) > REMEMBERED_LOOKUPS:
                self._last_lookup.popitem(last=False)


def _trading_day_of(order_timestamp: str) -> str:
    """Kite's day of a postback's order_timestamp (IST, checked to be of Kite's form by orders/postback.py)."""
    return trading_day(datetime.strptime(order_timestamp, KITE_TIMESTAMP_FORMAT).replace(tzinfo=IST))
