"""The sandbox's ticker: Kite's WebSocket (wss://ws.kite.trade), market data and order updates.

Served with the `websockets` library's threaded server, one thread per connection. A client
connects with `?api_key=...&access_token=...` (a bad or logged-out token is refused at the
handshake with HTTP 403, as Kite does), then sends JSON text: {"a": "subscribe", "v": [tokens]},
{"a": "unsubscribe", "v": [...]}, {"a": "mode", "v": ["ltp"|"quote"|"full", [...]]}. A new
subscription is in quote mode. Every second each connection gets one binary frame with a packet
per subscribed instrument (ticker_packets.py), read off the same price walk as the REST quotes;
with nothing subscribed, a one-byte heartbeat. Order updates of the user arrive as text,
{"type": "order", "data": {...the postback payload, checksum blank...}}.
"""

import json
import logging
import queue
import threading
import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from .ticker_packets import HEARTBEAT, MODE_QUOTE, MODES, Tick, frame, packet

log = logging.getLogger("kite_sandbox.ticker")

MAX_INSTRUMENTS_PER_CONNECTION = 3000
MAX_CONNECTIONS_PER_API_KEY = 3
TICK_SECONDS = 1.0


def tick_for(market, instrument) -> Tick:
    """The instrument's tick now, from the market's full quote."""
    quote = market.quote(instrument)
    now = int(time.time())
    depth = quote["depth"]
    return Tick(
        token=instrument.token,
        last_price=quote["last_price"],
        last_quantity=quote["last_quantity"],
        average_price=quote["average_price"],
        volume=quote["volume"],
        buy_quantity=quote["buy_quantity"],
        sell_quantity=quote["sell_quantity"],
        open=quote["ohlc"]["open"],
        high=quote["ohlc"]["high"],
        low=quote["ohlc"]["low"],
        close=quote["ohlc"]["close"],
        last_trade_time=now - 1,  # as the quote has it: a trade a second ago
        oi=quote["oi"],
        oi_day_high=quote["oi_day_high"],
        oi_day_low=quote["oi_day_low"],
        exchange_timestamp=now,
        bids=tuple((d["quantity"], d["price"], d["orders"]) for d in depth["buy"]),
        offers=tuple((d["quantity"], d["price"], d["orders"]) for d in depth["sell"]),
    )


class Connection:
    """One client: its subscriptions and a queue of text messages (order updates) to send."""

    def __init__(self, websocket):
        self.websocket = websocket
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
        self._server = serve(self._serve, host, port, process_request=self._check_handshake, compression=None)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://{host}:{port if port else self.port}"
        self._thread = None
        sandbox.order_listeners.append(self.order_update)

    def start(self) -> "TickerServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-ticker", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()

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
        query = parse_qs(urlsplit(request.path).query)
        api_key = (query.get("api_key") or [""])[0]
        access_token = (query.get("access_token") or [""])[0]
        creds, accounts = self._sandbox.credentials, self._sandbox.accounts
        if api_key != creds.api_key or accounts.session_for(access_token) is None:
            return connection.respond(HTTPStatus.FORBIDDEN, "Invalid api_key or access_token\n")
        with self._lock:
            if len(self._connections) >= MAX_CONNECTIONS_PER_API_KEY:  # ours: Kite's refusal is not documented
                return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "Maximum of 3 connections per api_key\n")
        return None

    def _serve(self, websocket) -> None:
        connection = Connection(websocket)
        with self._lock:
            self._connections.add(connection)
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
        market = self._sandbox.market
        next_tick = time.monotonic()
        try:
            while True:
                try:
                    text = connection.outbox.get(timeout=max(0.0, next_tick - time.monotonic()))
                except queue.Empty:
                    text = ""
                if text is None:
                    return
                if text:
                    connection.websocket.send(text)
                    continue
                next_tick += TICK_SECONDS
                with connection.lock:
                    modes = dict(connection.modes)
                packets = []
                for token, mode in modes.items():
                    instrument = market.by_token(token)
                    if instrument is not None:
                        packets.append(packet(tick_for(market, instrument), mode))
                connection.websocket.send(frame(packets) if packets else HEARTBEAT)
        except ConnectionClosed:
            return
