"""The /day page's live feed: server-sent events that keep every open page up to date.

One thread (started by the first open page, ended a while after the last one closes) renders the
page's small sections once a second, or at once when an order event or the kill switch wakes it,
and publishes only what changed: a section's new HTML, or the rows of the orders that changed. Every
page shares that one rendering; each reads its own bounded queue. Messages are numbered: a page
asks for what came after the number it was rendered at (and EventSource does the same with
Last-Event-ID when it reconnects), so nothing between the page's rendering and its stream is lost.
A page that fell further behind than the kept messages, or whose queue filled, is told to reload.

Bounded: at most MAX_PAGES streams at once (each holds one of waitress's threads, which
web/http_server.py adds for them), QUEUE_BYTES waiting per page, KEPT_BYTES for replays (a P&L
section with its chart is about 5 kB; a minute of the busiest day's messages fits). A page whose
browser went away is dropped at the next write (a comment line every HEARTBEAT_SECONDS), and
every stream ends after STREAM_SECONDS (the browser reconnects at once, and the page's cookie is
checked again).
"""

import json
import logging
import secrets
import threading
import time
from collections import deque

log = logging.getLogger("kite_app.day")

MAX_PAGES = 20
QUEUE_BYTES = 1_000_000
KEPT_BYTES = 1_000_000
HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 300.0
RENDER_EVERY_SECONDS = 1.0
IDLE_SECONDS = 30.0  # the thread ends this long after the last page closed
RECONNECT_MS = 1000  # EventSource's retry after a stream ends
STOP_WAIT_SECONDS = 2.0


class PagesFullError(Exception):
    """MAX_PAGES pages are open already: close one (or reload later) for live updates."""


class _Page:
    """One open page's messages waiting to be sent (at most QUEUE_BYTES), or the word that it is over."""

    def __init__(self):
        self._ready = threading.Condition()
        self._waiting: deque = deque()
        self._size = 0
        self.behind = False  # it missed messages: told to reload
        self.ended = False  # the service stops

    def put(self, message: bytes) -> None:
        with self._ready:
            if self._size + len(message) > QUEUE_BYTES:
                self.behind = True
            else:
                self._waiting.append(message)
                self._size += len(message)
            self._ready.notify()

    def end(self) -> None:
        with self._ready:
            self.ended = True
            self._ready.notify()

    def take(self, timeout: float) -> bytes | None:
        """The next message, or None after `timeout` seconds without one (or once behind or ended)."""
        with self._ready:
            if not self._waiting and not self.behind and not self.ended:
                self._ready.wait(timeout)
            if not self._waiting or self.behind or self.ended:
                return None
            message = self._waiting.popleft()
            self._size -= len(message)
            return message


def _message(mark: str, event: str, data: dict) -> bytes:
    return f"id: {mark}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class DayFeed:
    """`sections()` -> {section id: HTML} of the small sections; `order_rows(ids)` -> {order id: HTML};
    `keep_alive()` is called on each pass while pages are open (the loss watch's want)."""

    def __init__(self, sections, order_rows, keep_alive=lambda: None):
        self._sections, self._order_rows, self._keep_alive = sections, order_rows, keep_alive
        self._lock = threading.Lock()
        self._pages: set = set()
        self._kept: deque = deque()  # (seq, bytes) of the last KEPT_BYTES of messages
        self._kept_size = 0
        self._seq = 0
        self._epoch = secrets.token_hex(4)  # a page's mark from before a restart names no message here
        self._shown: dict = {}  # section id -> the HTML last published
        self._changed_orders: set = set()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.published = 0

    @property
    def mark(self) -> str:
        """The last message's mark ("<epoch>-<number>"): a page rendered now asks for what comes after it."""
        with self._lock:
            return f"{self._epoch}-{self._seq}"

    @property
    def open_pages(self) -> int:
        with self._lock:
            return len(self._pages)

    # -- what wakes it -------------------------------------------------------------------------------

    def orders_changed(self, events: list) -> None:
        """OrderEvents' listener: the rows of these orders (and the sections) go out now."""
        self.rows_changed([event.order_id for event in events])

    def rows_changed(self, order_ids: list) -> None:
        """These orders' rows go out now (an order event, or the audit naming an order's program)."""
        with self._lock:
            if not self._pages:
                return
            self._changed_orders.update(order_ids)
        self._wake.set()

    def poke(self) -> None:
        """Something the sections show changed (the kill switch pulled or reset): render now."""
        self._wake.set()

    def stop(self) -> None:
        """End every page's stream now and refuse new ones (the service stops), and the thread."""
        self._stopped = True
        self._stopping.set()
        self._wake.set()
        with self._lock:
            for page in self._pages:
                page.end()
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while self.open_pages and time.monotonic() < deadline:
            time.sleep(0.01)  # each stream's thread returns to waitress before it shuts down

    # -- pages -----------------------------------------------------------------------------------------

    def stream(self, since: str):
        """The SSE bytes of one page: what came after the mark `since`, then each new message, with
        heartbeats, for STREAM_SECONDS; a page whose mark names no kept message is told to reload.
        PagesFullError when MAX_PAGES are open (raised here, before any byte)."""
        page = self._open(since)
        return self._flow(page)

    def _since(self, since: str) -> int | None:
        """The message number of a mark of this process (lock held); None for any other."""
        epoch, _, number = str(since).partition("-")
        if epoch != self._epoch or not number.isascii() or not number.isdigit() or int(number) > self._seq:
            return None
        return int(number)

    def _open(self, since: str) -> _Page:
        page = _Page()
        with self._lock:
            if self._stopped:
                raise PagesFullError("Kite App is stopping: reload the page once it runs again.")
            if len(self._pages) >= MAX_PAGES:
                raise PagesFullError(f"{MAX_PAGES} /day pages are open already: close one for live updates here.")
            after = self._since(since)
            kept = [(seq, data) for seq, data in self._kept if after is not None and seq > after]
            complete = after is not None and (after == self._seq or (kept and kept[0][0] == after + 1))
            if not complete:
                page.behind = True
            for _, data in kept:
                page.put(data)
            self._pages.add(page)
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="day-feed", daemon=True)
                self._thread.start()
        self._wake.set()
        return page

    def _flow(self, page: _Page):
        try:
            yield f"retry: {RECONNECT_MS}\n\n".encode()
            ends = time.monotonic() + STREAM_SECONDS
            while not page.ended and time.monotonic() < ends:
                message = page.take(min(HEARTBEAT_SECONDS, max(0.0, ends - time.monotonic())))
                if page.ended:
                    return
                if page.behind:
                    yield b"event: reload\ndata: {}\n\n"
                    return
                yield message or b": still here\n\n"
        finally:  # the stream ended, or the browser went away (waitress closes the generator)
            with self._lock:
                self._pages.discard(page)

    # -- the thread --------------------------------------------------------------------------------------

    def _publish(self, event: str, data: dict) -> None:
        with self._lock:
            self._seq += 1
            message = _message(f"{self._epoch}-{self._seq}", event, data)
            self._kept.append((self._seq, message))
            self._kept_size += len(message)
            while self._kept_size > KEPT_BYTES:
                self._kept_size -= len(self._kept.popleft()[1])
            for page in self._pages:
                page.put(message)
            self.published += 1

    def _run(self) -> None:
        idle_since = None
        while not self._stopping.is_set():
            with self._lock:
                pages, orders = len(self._pages), self._changed_orders
                self._changed_orders = set()
            if not pages:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > IDLE_SECONDS:
                    return
            else:
                idle_since = None
                try:
                    self._keep_alive()
                    self._render(orders)
                except Exception:  # a bad pass is logged; the next one tries again
                    log.exception("The /day page's feed could not render an update")
            self._wake.wait(RENDER_EVERY_SECONDS)
            self._wake.clear()

    def _render(self, orders: set) -> None:
        if orders:
            for order_id, html in self._order_rows(sorted(orders)).items():
                self._publish("order", {"id": order_id, "html": html})
        for section, html in self._sections().items():
            if self._shown.get(section) != html:
                self._shown[section] = html
                self._publish("section", {"id": section, "html": html})
