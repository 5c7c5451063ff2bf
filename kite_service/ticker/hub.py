"""The ticker hub: local KiteTickers' subscriptions counted together, carried by at most three
connections to Kite, and each tick cut to what each client asked for.

Upstream, the first connection is the order stream's (order updates come on every connection, so
the hub passes on those of the first only); a second and a third open when the first is full and
close when they carry nothing. Each upstream frame is taken apart once (frames.py), on the local
server's loop (deliver_through); each client gets a frame of its own instruments in its own modes,
handed over without waiting. A client whose queue
is full (its program reads too slowly: a slow `on_ticks`) is dropped with a close reason that says
so, and the others never wait for it. When an upstream connection drops, local clients stay
connected: the connection comes back and asks again for what it carried, and clients see a gap.
"""

import json
import logging
import threading
import time
from collections import deque
from statistics import quantiles

from kite_service.ticker.frames import FrameError, join_pieces, pieces_in_mode, split_pieces, text_message
from kite_service.ticker.subscriptions import SubscriptionBook

log = logging.getLogger("kite_app.ticker_hub")

TOO_SLOW_CODE = 1008  # RFC 6455 policy violation: the client broke the hub's rule (read what you asked for)


def _call_now(function, *args) -> None:
    function(*args)


def too_slow(client) -> str:
    """The close reason of a client dropped for reading too slowly (at most 123 bytes, as RFC 6455 allows)."""
    behind = f"{client.waiting} messages waiting, {client.lag:.0f} s behind"
    return f"Too slow: {behind}. Read ticks faster (a lighter on_ticks)"


class TickerHub:
    """`first`: the upstream connection that is always there (the order stream's); `more(index)`
    makes another (started and stopped here, as the instruments need)."""

    def __init__(self, first, more, book: SubscriptionBook | None = None):
        self.book = book or SubscriptionBook()
        self._connections = [first] + [None] * (self.book.connections - 1)
        self._more = more
        self._lock = threading.Lock()  # over the book, the clients and the connections list
        # LocalClient -> {upstream connection: {mode: tuple of tokens}}, replaced (never changed) on a change
        self._clients: dict = {}
        # CPU time of each recent frame's pass_on (time.thread_time): the hub's own work, apart from
        # any wait for a core, which the clients' latencies include (docs/performance.md, section 12)
        self._frame_work: deque = deque(maxlen=600)
        self._deliver = _call_now
        first.on_binary = self._frame_from(0)
        first.on_text = self._text_from_upstream

    def deliver_through(self, call) -> None:
        """Hand what comes from upstream to the clients through `call(function, *args)`: the local
        server's loop, which owns the clients' sockets."""
        self._deliver = call

    # -- local clients ----------------------------------------------------------------------

    def add(self, client) -> None:
        with self._lock:
            self._clients[client] = {}

    def remove(self, client) -> None:
        with self._lock:
            self._clients.pop(client, None)
            self.book.remove(client)
            self._apply()

    def handle(self, client, text: str) -> str | None:
        """A client's message ({"a": "subscribe"|"unsubscribe"|"mode", "v": ...}); an error text or None."""
        try:
            message = json.loads(text)
            action, value = message["a"], message["v"]
        except (ValueError, KeyError, TypeError):
            return "Invalid message"
        with self._lock:
            if client not in self._clients:
                return None  # it left, was dropped or revoked: nothing it asks for counts
            if action == "subscribe" and isinstance(value, list):
                problem = self.book.subscribe(client, value, *self._share_left(client))
            elif action == "unsubscribe" and isinstance(value, list):
                problem = self.book.unsubscribe(client, value)
            elif action == "mode" and isinstance(value, list) and len(value) == 2 and isinstance(value[1], list):
                problem = self.book.set_mode(client, value[0], value[1])
            else:
                return "Invalid message"
            if client in self._clients:
                self._clients[client] = self.book.plan_of(client)  # pass_on reads it without the lock
            self._apply()
        return problem

    def _share_left(self, client) -> tuple:
        """(instruments the client's program may still add, what its share is) (lock held). A program's
        connections share its share: `client.share` (None: no share, as for the service's own)."""
        share = getattr(client, "share", None)
        if share is None:
            return None, ""
        held = sum(len(self.book.wants(other)) for other in self.book.clients() if other.name == client.name)
        note = (
            f"{client.name}'s share of the hub's instruments is {share:,} (HUB_INSTRUMENTS_PER_CLIENT, or "
            f"kite_app.py clients limits {client.name} --instruments N)"
        )
        return share - held, note

    # -- from upstream ----------------------------------------------------------------------

    def _frame_from(self, index: int):
        def on_binary(data: bytes) -> None:
            self._deliver(self.pass_on, data, index, time.monotonic())

        return on_binary

    def _text_from_upstream(self, text: str) -> None:
        self._deliver(self.pass_on_text, text)

    def pass_on(self, data: bytes, index: int = 0, received_at: float | None = None) -> None:
        """One frame from upstream connection `index`: each client gets its instruments from it, in
        its modes. `received_at`: when it came (time.monotonic(), the clock of the clients' latencies).

        The frame is taken apart once, and cut once to each mode some client wants; each client's
        frame is then a join of ready pieces (a frame of 3,000 instruments for 50 clients: bench)."""
        received_at = received_at or time.monotonic()
        started = time.thread_time()
        try:
            pieces = split_pieces(data)
        except FrameError as exc:
            log.warning("Ticker hub: dropped a malformed frame from Kite (%s)", exc)
            return
        if not pieces:
            return  # a heartbeat: each client gets its own when it has heard nothing for a second
        with self._lock:
            clients = list(self._clients.items())
        by_mode: dict = {}
        slow = []
        for client, plan in clients:
            chosen = []
            for mode, tokens in plan.get(index, {}).items():
                table = by_mode.get(mode)
                if table is None:
                    table = by_mode[mode] = pieces_in_mode(pieces, mode)
                chosen.extend(filter(None, map(table.get, tokens)))  # in C: a piece is never empty
            if chosen and not client.offer(join_pieces(chosen), received_at):
                slow.append(client)
        self._frame_work.append(time.thread_time() - started)
        for client in slow:
            self.drop(client, too_slow(client))

    def pass_on_text(self, text: str) -> None:
        """An upstream text message: order updates go to every client, as Kite sends them, but a paper
        client's (its orders are not the account's: it hears its own only, from send_to)."""
        if (text_message(text) or {}).get("type") != "order":
            return
        with self._lock:
            clients = [client for client in self._clients if not getattr(client, "paper", False)]
        for client in clients:
            if not client.offer(text):
                self.drop(client, too_slow(client))

    def send_to(self, name: str, texts: list) -> None:
        """Text messages (a paper account's order updates) for the connections of program `name` only."""
        self._deliver(self._send_now, name, texts)

    def _send_now(self, name: str, texts: list) -> None:
        with self._lock:
            clients = [client for client in self._clients if client.name == name]
        for client in clients:
            if not all(client.offer(text) for text in texts):
                self.drop(client, too_slow(client))

    def drop(self, client, reason: str) -> None:
        """Disconnect a client (its close never waits) and forget its subscriptions."""
        log.warning("Ticker hub: dropped %s: %s", client.name, reason)
        self.remove(client)
        client.close(TOO_SLOW_CODE, reason)

    # -- upstream connections ------------------------------------------------------------------

    def _apply(self) -> None:
        """Give each upstream connection what it must carry; open or close the extra ones (lock held)."""
        for index, wanted in enumerate(self.book.upstream()):
            connection = self._connections[index]
            if connection is None and wanted:
                connection = self._connections[index] = self._more(index)
                connection.on_binary = self._frame_from(index)
                connection.want(wanted)
                connection.start()
            elif connection is not None:
                connection.want(wanted)
                if wanted:
                    connection.start()  # at once if already running (the order stream usually is)
                elif index:
                    self._connections[index] = None
                    threading.Thread(target=connection.stop, daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            extra = [c for c in self._connections[1:] if c is not None]
            self._connections[1:] = [None] * (len(self._connections) - 1)
            clients = list(self._clients)
        for connection in extra:
            connection.stop()
        for client in clients:
            client.close(1001, "Kite App is stopping")

    def status(self, with_subscriptions: bool = False) -> dict:
        """For /health (no access code): the upstream connections and the local clients' counts and lag,
        no names; for /api/status also each client's name, latency and subscriptions ({mode: [tokens]})."""
        with self._lock:
            connections = list(self._connections)
            clients = list(self._clients.items())
            load = self.book.load()
        body = {
            "upstream": [
                {"name": c.name, "state": c.state.state, "instruments": load[i], "tick_frames": c.tick_frames}
                for i, c in enumerate(connections)
                if c is not None and (load[i] or c.state.state != "off")
            ],
            "clients": [],
        }
        if with_subscriptions:
            body["frame_work_ms"] = self._frame_work_ms()
        for client, plan in clients:
            subscriptions: dict = {}
            for groups in plan.values():
                for mode, tokens in groups.items():
                    subscriptions.setdefault(mode, []).extend(tokens)
            entry = {"instruments": sum(len(tokens) for tokens in subscriptions.values())}
            entry |= {"waiting": client.waiting, "lag_ms": round(client.lag * 1000, 1)}
            if with_subscriptions:  # /api/status, behind the access code: which programs, and what they hold
                entry = {"name": client.name, **entry}
                entry["latency_ms"] = client.latency_ms()
                entry["subscriptions"] = subscriptions
            body["clients"].append(entry)
        return body

    def _frame_work_ms(self) -> dict:
        """Median and 99th percentile of the CPU time the hub spent on each recent upstream frame."""
        work = list(self._frame_work)
        if len(work) < 2:
            return {"p50": None, "p99": None}
        cuts = quantiles(work, n=100, method="inclusive")
        return {"p50": round(cuts[49] * 1000, 2), "p99": round(cuts[98] * 1000, 2)}
