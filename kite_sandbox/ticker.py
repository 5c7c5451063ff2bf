"""The sandbox's ticker: Kite's WebSocket (wss://ws.kite.trade), market data and order updates.

Served with the `websockets` library's threaded server, one thread per connection. A client
connects with `?api_key=...&access_token=...` (a bad or logged-out token is refused at the
handshake with HTTP 403, as Kite does), then sends JSON text: {"a": "subscribe", "v": [tokens]},
{"a": "unsubscribe", "v": [...]}, {"a": "mode", "v": ["ltp"|"quote"|"full", [...]]}. A new
subscription is in quote mode. Every second each connection gets one binary frame with a packet
per subscribed instrument (ticker_packets.py), read off the same price walk as the REST quotes;
with nothing subscribed, a one-byte heartbeat. Order updates of the user arrive as text,
{"type": "order", "data": {...the postback payload, checksum blank...}}.

A connection whose access token is logged out (DELETE /session/token) or expires (06:00 IST) is
closed within a second with code 1008 (policy violation) and the reason "Invalid access_token:
logged out" or "...: expired"; its reconnect is then refused with 403, as Kite refuses such tokens.
Kite does not document what it sends on a live connection, nor do its official clients look at
the close code: each of them reconnects on any close, which the 403 then stops.
"""

import gc
import json
import logging
import queue
import threading
import time
from datetime import datetime, timedelta
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from .ticker_packets import HEARTBEAT, MODE_QUOTE, MODES, Tick, frame, packet

log = logging.getLogger("kite_sandbox.ticker")

MAX_INSTRUMENTS_PER_CONNECTION = 3000
MAX_CONNECTIONS_PER_API_KEY = 3
PREFETCH_AFTER = 0.2  # seconds into a second: after the connections have sent theirs
SESSION_ENDED_CODE = 1008  # RFC 6455 policy violation: the token no longer gives access


def tick_for(market, instrument, now: datetime | None = None) -> Tick:
    """The instrument's tick at `now` (the market's clock by default), as its REST quote has it."""
    snap = market.snapshot(instrument, now)
    stamp = int(snap.moment.timestamp())
    return Tick(
        token=instrument.token,
        last_price=snap.last,
        last_quantity=snap.depth_size,
        average_price=snap.average,
        volume=snap.volume,
        buy_quantity=snap.volume // 7,
        sell_quantity=snap.volume // 8,
        open=snap.ohlc["open"],
        high=snap.ohlc["high"],
        low=snap.ohlc["low"],
        close=snap.ohlc["close"],
        last_trade_time=stamp - 1,  # as the quote has it: a trade a second ago
        oi=snap.oi,
        oi_day_high=snap.oi,
        oi_day_low=snap.oi,
        exchange_timestamp=stamp,
        bids=market.depth(instrument, snap, -1),
        offers=market.depth(instrument, snap, 1),
    )


class _Second:
    """One wall-clock second's ticks and packets, taken at one moment of the market's clock."""

    def __init__(self, moment: datetime):
        self.moment = moment
        self.lock = threading.Lock()
        self.ticks: dict = {}  # token -> Tick
        self.packets: dict = {}  # (token, mode) -> bytes


class TickCache:
    """Each second's packets, made once and shared by every connection.

    Kite's maximum is 3 connections x 3,000 instruments. Made per connection, each tick would be
    worked out three times a second; and made when the second begins, 3,000 ticks would leave
    a quarter of a second late. The sandbox's market is a function of time, so prefetch() works a
    second's ticks out during the second before it, and each tick carries the values and the
    exchange timestamp of the second it is sent on.
    """

    def __init__(self, market):
        self._market = market
        self._lock = threading.Lock()
        self._seconds: dict = {}  # wall-clock second -> _Second: the current one and the next

    def packets(self, second: int, wanted) -> list:
        """The packets of wall-clock `second` for `wanted` (token, mode) pairs; unknown tokens are left out."""
        entry = self._second(second)
        market = self._market
        found = []
        with entry.lock:
            for token, mode in wanted:
                made = entry.packets.get((token, mode))
                if made is None:
                    tick = entry.ticks.get(token)
                    if tick is None:
                        instrument = market.by_token(token)
                        if instrument is None:
                            continue
                        tick = entry.ticks[token] = tick_for(market, instrument, entry.moment)
                    made = entry.packets[(token, mode)] = packet(tick, mode)
                found.append(made)
        return found

    def _second(self, second: int) -> _Second:
        with self._lock:
            entry = self._seconds.get(second)
            if entry is None:
                moment = self._market.now() + timedelta(seconds=second - time.time(), microseconds=500_000)
                moment = moment.replace(microsecond=0)  # the whole second (the two clocks read microseconds apart)
                entry = self._seconds[second] = _Second(moment)
                for old in [s for s in self._seconds if s < second - 1]:
                    del self._seconds[old]
        return entry


class Connection:
    """One client: its subscriptions and a queue of text messages (order updates) to send."""

    def __init__(self, websocket, access_token: str = ""):
        self.websocket = websocket
        self.access_token = access_token
        self.modes: dict = {}  # token -> mode
        self.lock = threading.Lock()
        self.outbox: queue.Queue = queue.Queue()

    def handle(self, message: str) -> str | None:
        """Apply a client message; returns an error text for the client, or None."""
        try:
            request = json.loads(message)
            action, value = request["a"], request["v"]
        except (ValueError, KeyError, TypeError):
            return "Invalid message"
        with self.lock:
            if action == "subscribe":
                tokens = [t for t in value if isinstance(t, int)]
                room = MAX_INSTRUMENTS_PER_CONNECTION - len(self.modes)
                new = [t for t in tokens if t not in self.modes]
                for token in new[: max(room, 0)]:
                    self.modes[token] = MODE_QUOTE
                if len(new) > room:  # ours: Kite's wording for this is not documented
                    return f"Maximum of {MAX_INSTRUMENTS_PER_CONNECTION} instruments per connection exceeded"
            elif action == "unsubscribe":
                for token in value:
                    self.modes.pop(token, None)
            elif action == "mode" and isinstance(value, list) and len(value) == 2 and value[0] in MODES:
                for token in value[1]:
                    if token in self.modes:
                        self.modes[token] = value[0]
            else:
                return "Invalid message"
        return None


class TickerServer:
    """Kite's ticker for one sandbox: start() serves it on a daemon thread, close() stops it."""

    def __init__(self, sandbox, host: str, port: int):
        self._sandbox = sandbox
        self._connections: set = set()
        self._lock = threading.Lock()
        self.most_at_once = 0  # the most connections open at one moment (tests count Kite's 3 here)
        self.refused_too_many = 0  # upgrades refused with 429 for a connection past the 3rd
        self._server = serve(self._serve, host, port, process_request=self._check_handshake, compression=None)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://{host}:{port if port else self.port}"
        self._thread = None
        self._ticks = TickCache(sandbox.market)
        self._stopping = threading.Event()
        sandbox.order_listeners.append(self.order_update)

    def start(self) -> "TickerServer":
        # The instrument table and the market's caches live as long as the process: frozen, the
        # collector's full passes skip them (61 ms -> 21 ms each, every few seconds under full load).
        gc.freeze()
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-ticker", daemon=True)
        self._thread.start()
        threading.Thread(target=self._prefetch_loop, name="sandbox-ticks", daemon=True).start()
        return self

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()

    def _prefetch_loop(self) -> None:
        """Shortly after each second begins, work out the next second's ticks for every subscription."""
        while not self._stopping.wait(max(0.0, int(time.time()) + 1 + PREFETCH_AFTER - time.time())):
            wanted = set()
            with self._lock:
                connections = list(self._connections)
            for connection in connections:
                with connection.lock:
                    wanted.update(connection.modes.items())
            if wanted:
                self._ticks.packets(int(time.time()) + 1, wanted)

    @property
    def open_connections(self) -> int:
        """Connections whose handler has begun: a client may see its handshake done a moment earlier."""
        with self._lock:
            return len(self._connections)

    def drop_all(self) -> int:
        """Close every connection at once, as a network drop would (for tests)."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.websocket.close()
        return len(connections)

    def order_update(self, payload: dict) -> None:
        """Send an order update to every connection of the user (there is one demo user)."""
        message = json.dumps({"type": "order", "data": {**payload, "checksum": ""}})
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.outbox.put(message)

    # -- one connection ---------------------------------------------------------------------

    def _check_handshake(self, connection, request):
        api_key, access_token = _credentials(request.path)
        creds, accounts = self._sandbox.credentials, self._sandbox.accounts
        if api_key != creds.api_key or accounts.session_for(access_token) is None:
            return connection.respond(HTTPStatus.FORBIDDEN, "Invalid api_key or access_token\n")
        with self._lock:
            if len(self._connections) >= MAX_CONNECTIONS_PER_API_KEY:  # ours: Kite's refusal is not documented
                self.refused_too_many += 1
                return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "Maximum of 3 connections per api_key\n")
        return None

    def _serve(self, websocket) -> None:
        connection = Connection(websocket, _credentials(websocket.request.path)[1])
        with self._lock:
            self._connections.add(connection)
            self.most_at_once = max(self.most_at_once, len(self._connections))
        sender = threading.Thread(target=self._send_loop, args=(connection,), daemon=True)
        sender.start()
        try:
            for message in websocket:
                if isinstance(message, str):
                    problem = connection.handle(message)
                    if problem:
                        connection.outbox.put(json.dumps({"type": "error", "data": problem}))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.outbox.put(None)
            sender.join(5)

    def _send_loop(self, connection: Connection) -> None:
        """Text messages as they come; on each wall-clock second, the ticks (or a heartbeat)."""
        next_second = int(time.time()) + 1
        try:
            while True:
                try:
                    text = connection.outbox.get(timeout=max(0.0, next_second - time.time()))
                except queue.Empty:
                    text = ""
                if text is None:
                    return
                if text:
                    connection.websocket.send(text)
                    continue
                ended = self._sandbox.accounts.ended(connection.access_token)
                if ended is not None:
                    connection.websocket.close(SESSION_ENDED_CODE, f"Invalid access_token: {ended}")
                    return
                second = int(time.time())  # a late loop skips to the current second, never sends a stale one
                next_second = second + 1
                with connection.lock:
                    modes = dict(connection.modes)
                packets = self._ticks.packets(second, modes.items())
                connection.websocket.send(frame(packets) if packets else HEARTBEAT)
        except ConnectionClosed:
            return


def _credentials(path: str) -> tuple:
    """(api_key, access_token) from the handshake's query."""
    query = parse_qs(urlsplit(path).query)
    return (query.get("api_key") or [""])[0], (query.get("access_token") or [""])[0]
