"""Kite's per-api_key rate limits at the sandbox: a moving window of each class's last second.

Our own 20 lines rather than `limits`' moving window: that library's in-memory storage starts a
timer thread every 10 ms while requests come (about a hundred threads a second under load), to
expire entries this window drops as it counts.
"""

import threading
import time
from collections import deque


class MovingWindow:
    """At most `rate` hits per key in any `period` seconds (a hit refused is not counted); thread-safe."""

    def __init__(self, period: float = 1.0, clock=time.monotonic):
        self._period = period
        self._clock = clock
        self._hits = {}  # key -> deque of the moments of the hits still in the window
        self._lock = threading.Lock()

    def hit(self, key, rate: int) -> bool:
        """Count a hit for `key` if its window has room; False when it has not."""
        with self._lock:
            now = self._clock()
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self._period:
                hits.popleft()
            if len(hits) >= rate:
                return False
            hits.append(now)
            return True
