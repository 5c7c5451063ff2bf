"""The hub's local WebSocket: Kite's ticker protocol for this machine's programs.

The official clients connect unchanged, `KiteTicker(api_key, access_token, root="ws://127.0.0.1:5004")`,
with a program's gateway credentials (`kite_app.py clients add`). Bad ones are refused at the
handshake with HTTP 403, as Kite refuses its own, and so are addresses the gateway would refuse
(GATEWAY_ALLOWED_ADDRESSES; behind TRUSTED_PROXY, the address its X-Forwarded-For names).
Subscribe, unsubscribe and mode messages as Kite's; ticks as Kite's binary frames; order updates
as Kite's text messages; a one-byte heartbeat after a second with nothing to send. `websockets`'
threaded server: per client, one thread reads its messages and another sends its queue.
"""

import json
import threading
import time
from collections import deque
from http import HTTPStatus
from statistics import quantiles
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from kite_service.gateway.addresses import is_allowed_address
from kite_service.ticker.frames import HEARTBEAT

QUEUE_LIMIT = 100  # messages waiting for one client: about 30 s of frames at Kite's one a second per connection
QUEUE_BYTES = 8 * 1024 * 1024  # or this many bytes (a full-mode frame of 3,000 instruments is 558 kB)
MAX_LAG_SECONDS = 5.0  # or its oldest message this old: ticks that late are of no use to a trading program
HEARTBEAT_SECONDS = 1.0  # Kite's: a heartbeat after a silent second
LATENCY_SAMPLES = 2000  # the recent messages whose time in the hub /api/status reports
CLOSE_TIMEOUT_SECONDS = 2


class LocalClient:
    """One local KiteTicker: a bounded queue of messages and the thread that sends them."""

    def __init__(self, name: str, websocket, queue_limit: int = QUEUE_LIMIT, byte_limit: int = QUEUE_BYTES):
        self.name = name
        self.queue_limit = queue_limit
        self._byte_limit = byte_limit
        self._websocket = websocket
        self._queue: deque = deque()  # (time it came from upstream, message)
        self._bytes = 0
        # Recent messages' seconds from upstream to handed to the socket (the hub's own time) and
        # to written (send() returned: also the time the client's program took to read the ones before)
        self._latencies: deque = deque(maxlen=LATENCY_SAMPLES)
        self._written: deque = deque(maxlen=LATENCY_SAMPLES)
        self._ready = threading.Condition()
        self._closed = False

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
        """Median and 99th percentile of the recent messages' time in the hub (upstream to handed to
        the socket), and the 99th percentile to written (which a slow reader lengthens)."""
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
        """Queue a message without waiting; False when the queue is full (the client reads too slowly).
        `received_at`: when it came from upstream (time.monotonic()), for the latency."""
        with self._ready:
            if self._closed:
                return True  # going away: nothing to keep
            if len(self._queue) >= self.queue_limit or self._bytes + len(message) > self._byte_limit:
                return False
            if self._queue and time.monotonic() - self._queue[0][0] > MAX_LAG_SECONDS:
                return False
            self._queue.append((received_at or time.monotonic(), message))
            self._bytes += len(message)
            self._ready.notify()
        return True

    def send_queued(self) -> None:
        """Send what is queued as it comes, a heartbeat after a silent second; returns once closed."""
        try:
            while True:
                with self._ready:
                    if not self._queue and not self._closed:
                        self._ready.wait(HEARTBEAT_SECONDS)
                    if self._closed:
                        return
                    if self._queue:
                        received_at, message = self._queue.popleft()
                        self._bytes -= len(message)
                    else:
                        received_at, message = None, HEARTBEAT
                if received_at is not None:
                    self._latencies.append(time.monotonic() - received_at)
                self._websocket.send(message)
                if received_at is not None:
                    self._written.append(time.monotonic() - received_at)
        except ConnectionClosed:
            return

    def close(self, code: int = 1000, reason: str = "") -> None:
        with self._ready:
            self._closed = True
            self._queue.clear()
            self._bytes = 0
            self._ready.notify()
        self._websocket.close(code, reason)


def _credentials(path: str) -> tuple:
    """(api_key, access_token) from the handshake's query, as the official clients send them."""
    query = parse_qs(urlsplit(path).query)
    return (query.get("api_key") or [""])[0], (query.get("access_token") or [""])[0]


class HubServer:
    """The local WebSocket of `hub` on host:port; start() serves on a daemon thread, close() stops."""

    def __init__(
        self,
        hub,
        clients,
        host: str,
        port: int,
        allowed_networks: tuple = (),
        trusted_proxy: str = "",
        session_problem=lambda: None,
    ):
        """`session_problem()`: why there can be no ticks now (no session for today), or None."""
        self._session_problem = session_problem
        self._hub = hub
        self._clients = clients
        self._allowed = allowed_networks
        self._trusted_proxy = trusted_proxy
        self._server = serve(
            self._serve,
            host,
            port,
            process_request=self._check_handshake,
            compression=None,
            close_timeout=CLOSE_TIMEOUT_SECONDS,
            max_size=2**18,  # clients send subscriptions only: 9,000 ten-digit tokens in one message fit
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = None

    def start(self) -> "HubServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name="ticker-hub", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(5)

    def _check_handshake(self, connection, request):
        address = connection.remote_address[0]
        if self._trusted_proxy and address == self._trusted_proxy:  # behind it: the caller is X-Forwarded-For's
            address = request.headers.get("X-Forwarded-For", address).rsplit(",", 1)[-1].strip()
        if not is_allowed_address(address, self._allowed):
            return connection.respond(HTTPStatus.FORBIDDEN, "This address may not use Kite App's ticker hub\n")
        if self._clients.authenticate(*_credentials(request.path)) is None:
            return connection.respond(HTTPStatus.FORBIDDEN, "Invalid api_key or access_token\n")
        return None

    def _serve(self, websocket) -> None:
        program = self._clients.authenticate(*_credentials(websocket.request.path))
        if program is None:  # revoked between the handshake and now
            websocket.close(1008, "Invalid api_key or access_token")
            return
        client = LocalClient(program.name, websocket)
        self._hub.add(client)
        problem = self._session_problem()
        if problem:  # connected all the same: ticks start once the service logs in
            client.offer(json.dumps({"type": "error", "data": problem}))
        sender = threading.Thread(target=client.send_queued, name=f"ticker-hub-{program.name}", daemon=True)
        sender.start()
        try:
            for message in websocket:
                if isinstance(message, str):
                    problem = self._hub.handle(client, message)
                    if problem:
                        client.offer(json.dumps({"type": "error", "data": problem}))
        except ConnectionClosed:
            pass
        finally:
            self._hub.remove(client)
            client.close()
            sender.join(CLOSE_TIMEOUT_SECONDS + 1)
