"""Postbacks as signals: each verified postback makes the service ask Kite what happened to that order.

Kite's checksum covers only order_id and order_timestamp; the status, the fill and every message
in a postback are unsigned, so anyone holding one genuine postback could resend it with any status.
The service therefore never believes a postback's contents: it fetches the order's history from
Kite (one request, through KiteAPI's rate limits) on a background thread and announces what Kite
says, exactly as a poll would.
"""

import logging
import queue
import threading

from errors import SessionError
from log_utils import LogThrottle, clean_text

log = logging.getLogger("kite_app.orders")

MAX_PENDING = 256  # orders waiting to be looked up; beyond this the 20-second poll catches up


class PostbackFollowUp:
    """A queue of order ids to look up at Kite, worked by one daemon thread (or run_pending())."""

    def __init__(self, api, events):
        self._api = api
        self._events = events
        self._queue: queue.Queue = queue.Queue()
        self._pending: set = set()
        self._lock = threading.Lock()
        self._thread = None
        self._throttle = LogThrottle(log)

    def submit(self, order_id: str) -> bool:
        """Queue one lookup; False when it is already queued or the queue is full."""
        with self._lock:
            if order_id in self._pending:
                return False
            if len(self._pending) >= MAX_PENDING:
                self._throttle.warning(
                    "postback lookups dropped", "Postback lookups are behind; the order check will catch up"
                )
                return False
            self._pending.add(order_id)
        self._queue.put(order_id)
        return True

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="postback-followup", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def run_pending(self) -> int:
        """Look up everything queued, in the calling thread (when no worker runs: tests, tools)."""
        done = 0
        while True:
            try:
                order_id = self._queue.get_nowait()
            except queue.Empty:
                return done
            if order_id is None:
                self._queue.task_done()
                continue
            self._look_up(order_id)
            done += 1

    def wait_idle(self) -> None:
        self._queue.join()

    def _run(self) -> None:
        while True:
            order_id = self._queue.get()
            if order_id is None:
                self._queue.task_done()
                return
            self._look_up(order_id)

    def _look_up(self, order_id: str) -> None:
        try:
            history = self._api.get_order_history(order_id)
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
            with self._lock:
                self._pending.discard(order_id)
            self._queue.task_done()
