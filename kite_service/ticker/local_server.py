"""The hub's local WebSocket: Kite's ticker protocol for this machine's programs, one client at a time
(the server that accepts them: hub_server.py).

The official clients connect unchanged, `KiteTicker(api_key, access_token, root="ws://127.0.0.1:5004")`,
with a program's gateway credentials (`kite_app.py clients add`). Bad ones are refused at the
handshake with HTTP 403, as Kite refuses its own, and so are addresses the gateway would refuse
(GATEWAY_ALLOWED_ADDRESSES; behind TRUSTED_PROXY, the address its X-Forwarded-For names; a loopback
handshake forwarded by a proxy while TRUSTED_PROXY is unset). Connections are capped (HubCaps: all
programs together, per client, and sockets still in their handshake, which get 3 s) and refused
past a cap with Kite's 429 at the upgrade; a revoked client's open connections are closed within
a second; each client's subscriptions count against its share of the hub's instruments.
Subscribe, unsubscribe and mode messages as Kite's; ticks as Kite's binary frames; order updates
as Kite's text messages; a one-byte heartbeat after a second with nothing to send.

`websockets`' asyncio server, on one thread with its own event loop: the hub's fan-out runs there
too (TickerHub.deliver_through), and each client's frame goes to its socket without waiting (the
transport buffers what the client has not read yet). One thread for every client: with a sending
thread per client, 50 clients cost 50 hand-offs of the interpreter's lock per frame, and the last
client got its frame 45 to 65 ms after it came (docs/performance.md, section 12).
"""

import asyncio
import threading
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from statistics import quantiles
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import broadcast
from websockets.exceptions import ConnectionClosed

from kite_service.ticker.frames import HEARTBEAT

QUEUE_LIMIT = 100  # messages waiting for one client: about 30 s of frames at Kite's one a second per connection
QUEUE_BYTES = 8 * 1024 * 1024  # or this many bytes (a full-mode frame of 3,000 instruments is 558 kB)
MAX_LAG_SECONDS = 5.0  # or its oldest message this old: ticks that late are of no use to a trading program
HEARTBEAT_SECONDS = 1.0  # Kite's: a heartbeat after a silent second
LATENCY_SAMPLES = 2000  # the recent messages whose time in the hub /api/status reports
CLOSE_TIMEOUT_SECONDS = 2
WRITE_BUFFER_LOW = 32 * 1024  # unsent bytes below which a message goes to the socket at once (websockets' mark)
DROPPED_CLOSE_SECONDS = 30  # a dropped client's time to read what was on its way, then the close reason
START_TIMEOUT_SECONDS = 10
HANDSHAKE_SECONDS = 3  # a socket that has not finished its handshake by then is closed (websockets': 10)
REVOCATION_CHECK_SECONDS = 0.5  # how often open connections' credentials are checked again
REVOKED_CLOSE_SECONDS = 1  # a revoked client's time to answer the close frame before the socket goes


@dataclass(frozen=True)
class HubCaps:
    """What the hub's callers may hold (settings HUB_MAX_CONNECTIONS, HUB_CONNECTIONS_PER_CLIENT,
    HUB_INSTRUMENTS_PER_CLIENT); sockets in their handshake are capped at twice `connections`."""

    connections: int = 200
    per_client: int = 10
    instruments: int = 3000  # a client's share of the hub's instruments, unless the client has its own


class LocalClient:
    """One local KiteTicker: a bounded queue of messages, sent by a task of the server's loop."""

    def __init__(self, name: str, websocket, loop=None, queue_limit: int = QUEUE_LIMIT, byte_limit: int = QUEUE_BYTES):
        """`loop`: the event loop `websocket` lives on (None for a client that is never sent to)."""
        self.name = name
        self.queue_limit = queue_limit
        self._byte_limit = byte_limit
        self._websocket = websocket
        self._loop = loop
        self._loop_thread = threading.get_ident() if loop is not None else None  # made on its loop
        self._closing = None  # the close handshake's task
        self._queue: deque = deque()  # (time it came from upstream, message)
        self._bytes = 0
        # Recent messages' seconds from upstream to handed to the socket (the hub's own time) and
        # to written (send() returned: also the time the client's program took to read the ones before)
        self._latencies: deque = deque(maxlen=LATENCY_SAMPLES)
        self._written: deque = deque(maxlen=LATENCY_SAMPLES)
        self._ready = asyncio.Event()
        self._closed = False
        self.share = None  # instruments its program may hold across its connections (None: no share)
        self.paper = False  # a paper client's: no order updates of the account, only its own (hub.send_to)
        self._sending = False  # the sending task is in the middle of a message
        self._last_sent = time.monotonic()  # when the socket took the last message (or heartbeat)

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def lag(self) -> float:
        """Seconds the oldest waiting message has waited."""
        queue = self._queue
        try:
            return time.monotonic() - queue[0][0]
        except IndexError:
            return 0.0

    def latency_ms(self) -> dict:
        """Median and 99th percentile of the recent messages' time in the hub: from upstream (or from
        when the client's socket took the message before, if later) to handed to the socket; and the
        99th percentile from upstream to written, which a client slow to read lengthens."""
        handed, written = list(self._latencies), list(self._written)
        if len(handed) < 2 or len(written) < 2:
            return {"p50": None, "p99": None, "written_p99": None}
        cuts = quantiles(handed, n=100, method="inclusive")
        written_p99 = quantiles(written, n=100, method="inclusive")[98]
        return {
            "p50": round(cuts[49] * 1000, 2),
            "p99": round(cuts[98] * 1000, 2),
            "written_p99": round(written_p99 * 1000, 2),
        }

    def offer(self, message, received_at: float | None = None) -> bool:
        """Queue a message without waiting (on the server's loop: the hub delivers through it); False
        when the queue is full (the client reads too slowly). `received_at`: when it came from
        upstream (time.monotonic()), for the latency."""
        if not self._on_loop(self.offer, message, received_at):
            return True
        if self._closed:
            return True  # going away: nothing to keep
        if len(self._queue) >= self.queue_limit or self._bytes + len(message) > self._byte_limit:
            return False
        if self._queue and time.monotonic() - self._queue[0][0] > MAX_LAG_SECONDS:
            return False
        received_at = received_at or time.monotonic()
        if not self._queue and not self._sending and self._has_room():  # straight to the socket
            self._latencies.append(time.monotonic() - max(received_at, self._last_sent))
            broadcast([self._websocket], message)
            self._last_sent = time.monotonic()
            self._written.append(self._last_sent - received_at)
            return True
        self._queue.append((received_at, message))
        self._bytes += len(message)
        self._ready.set()
        return True

    def _has_room(self) -> bool:
        """Whether the socket takes a message now without waiting: its buffer of unsent bytes is low."""
        transport = getattr(self._websocket, "transport", None)
        return transport is not None and transport.get_write_buffer_size() < WRITE_BUFFER_LOW

    async def send_queued(self) -> None:
        """Send what is queued as it comes, a heartbeat after a silent second; returns once closed."""
        websocket, queue = self._websocket, self._queue
        try:
            while not self._closed:
                if not queue:
                    self._ready.clear()
                    silent = time.monotonic() - self._last_sent
                    if silent < HEARTBEAT_SECONDS:
                        with suppress(TimeoutError):
                            await asyncio.wait_for(self._ready.wait(), HEARTBEAT_SECONDS - silent)
                        continue
                    received_at, message = None, HEARTBEAT
                else:
                    received_at, message = queue.popleft()
                    self._bytes -= len(message)
                    # The hub's own time: a message that waited for the client to take the one
                    # before waited for the client's program, not for the hub
                    self._latencies.append(time.monotonic() - max(received_at, self._last_sent))
                self._sending = True
                try:
                    await websocket.send(message)
                finally:
                    self._sending = False
                self._last_sent = time.monotonic()
                if received_at is not None:
                    self._written.append(self._last_sent - received_at)
        except ConnectionClosed:
            return

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, code: int = 1000, reason: str = "", linger: float = DROPPED_CLOSE_SECONDS) -> None:
        """Forget what is queued and close the connection with `code` and `reason`; never waits.
        `linger`: for a code other than 1000, the client's time to read what was on its way and
        answer the close frame before its socket is closed."""
        if not self._on_loop(self.close, code, reason, linger) or self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._bytes = 0
        self._ready.set()
        if self._loop is None:
            return
        if code != 1000:  # dropped: time to read what was on its way before the close frame
            self._websocket.close_timeout = linger
        self._closing = self._loop.create_task(self._websocket.close(code, reason))

    def _on_loop(self, method, *args) -> bool:
        """True on the client's loop (or when it has none); elsewhere `method(*args)` is scheduled there
        (the queue and the socket belong to the loop's thread) and False is returned."""
        if self._loop_thread is None or threading.get_ident() == self._loop_thread:
            return True
        try:
            self._loop.call_soon_threadsafe(method, *args)
        except RuntimeError:  # the loop is closed: the connection went with it
            pass
        return False


def credentials(path: str) -> tuple:
    """(api_key, access_token) from the handshake's query, as the official clients send them."""
    query = parse_qs(urlsplit(path).query)
    return (query.get("api_key") or [""])[0], (query.get("access_token") or [""])[0]
