"""The gateway's slots: how many calls of each kind may be under way at once, and each client's share.

A call holds a slot from before it waits for the account's rate limit until Kite's answer is read.
One pool for all calls let 16 threads of historical-data calls, waiting for the account's 3 a
second, hold every slot while a trading client's orders were refused. So each slot class has a pool
of its own (whatever changes the account, quotes, historical data, the other reads), sized to what
its rate limit lets through with room to spare, and no client may hold more than half of a pool
(rounded up) while another waits. A call that finds no slot is refused at once with Kite's 429,
never queued: a program's waiting thread would hold one of waitress's threads.

The pools add up to waitress's threads minus two, which stay free for /health, /login and the API.
"""

import math
import threading
from collections import Counter
from contextlib import contextmanager

from kite_service.gateway.kite_routes import ACCOUNT
from kite_service.kite.rate_limit import HISTORICAL, OTHER, QUOTE

# Kite's limits: orders 10/s, quote 1/s, historical 3/s, the rest 10/s (facts §8). A slot is held for
# the wait for the rate limit (at most gateway/forward.py's MAX_WAIT_SECONDS) and Kite's answer.
POOL_SIZES = {ACCOUNT: 4, QUOTE: 2, HISTORICAL: 3, OTHER: 5}


class NoSlotError(Exception):
    """No slot for the call: the message says whose calls hold them and what to do."""


class CallSlots:
    """Per-class pools of slots, and each client's count in each."""

    def __init__(self, sizes: dict = POOL_SIZES):
        self.sizes = dict(sizes)
        self._lock = threading.Lock()
        self._held = Counter()  # slot class -> slots held
        self._by_client = Counter()  # (slot class, client) -> slots held

    def share(self, slot_class: str) -> int:
        """The most one client may hold of a class's pool."""
        return math.ceil(self.sizes[slot_class] / 2)

    @contextmanager
    def hold(self, slot_class: str, client: str):
        """A slot of `slot_class` for `client` for the `with` block, or NoSlotError at once."""
        self._take(slot_class, client)
        try:
            yield
        finally:
            with self._lock:
                self._held[slot_class] -= 1
                self._by_client[slot_class, client] -= 1
                if not self._by_client[slot_class, client]:
                    del self._by_client[slot_class, client]  # as many entries as calls under way, no more

    def in_use(self) -> dict:
        with self._lock:
            return {slot_class: self._held[slot_class] for slot_class in self.sizes}

    def _take(self, slot_class: str, client: str) -> None:
        size, share = self.sizes[slot_class], self.share(slot_class)
        with self._lock:
            if self._held[slot_class] >= size:
                raise NoSlotError(
                    f"Too many requests: {size} {slot_class} calls of this machine's programs are on their way to "
                    "Kite; not sent, try again shortly."
                )
            if self._by_client[slot_class, client] >= share:
                raise NoSlotError(
                    f"Too many requests: client {client!r} has {share} {slot_class} calls on their way to Kite, its "
                    f"share of {size}; not sent, try again when one is answered."
                )
            self._held[slot_class] += 1
            self._by_client[slot_class, client] += 1
