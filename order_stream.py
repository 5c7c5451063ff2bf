"""The order stream: one connection to Kite's WebSocket, for order updates the moment they happen.

Kite sends every order update of the user over its ticker (wss://ws.kite.trade) as text, with the
postback's payload. This keeps one connection, subscribed to no instruments, while a session is
valid, and feeds each update to the order events, which announce every change once whichever of
stream, postback and poll brings it first; the 20-second poll stays as the safety net. The
connection is an authenticated one to Kite itself (unlike a postback, which anyone can POST), so
its updates are believed as they come.

It reconnects with capped backoff; a connection silent for SILENCE_SECONDS (Kite sends a heartbeat
every couple of seconds) is replaced; it stops at logout or the 06:00 expiry and resumes after the
next login. The URL carries the access token: it is never logged. `websockets`' threaded client,
so the service never runs twisted (the official KiteTicker's).
"""

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import connect

from clock import now_ist
from log_utils import clean_text

log = logging.getLogger("kite_app.stream")

SILENCE_SECONDS = 5.0  # Kite's heartbeat comes every couple of seconds; the JavaScript client waits 5
MAX_BACKOFF_SECONDS = 30.0
WAIT_FOR_LOGIN_SECONDS = 1.0  # how often a stopped stream looks for a new session


@dataclass(frozen=True)
class StreamState:
    """What /health says of the stream."""

    state: str  # off, waiting for login, connecting, connected, reconnecting
    last_heard: datetime | None


class OrderStream:
    """Runs on its own daemon thread between start() and stop()."""

    def __init__(self, settings, api_key: str, store, events, clock=now_ist, opener=connect):
        self._url = settings.kite_ticker_url
        self._api_key = api_key
        self._store = store
        self._events = events
        self._clock = clock
        self._open = opener
        self._stop = threading.Event()
        self._thread = None
        self._socket = None
        self._state = "off"  # until start()
        self._last_heard = None
        self._refused_token = None  # Kite refused this token: wait for a new login

    @property
    def state(self) -> StreamState:
        return StreamState(self._state, self._last_heard)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="order-stream", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        socket = self._socket
        if socket is not None:
            socket.close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._state = "off"

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            session = self._usable_session()
            if session is None:
                self._state = "waiting for login"
                self._stop.wait(WAIT_FOR_LOGIN_SECONDS)
                continue
            self._state = "connecting" if failures == 0 else "reconnecting"
            try:
                self._listen(session)
                failures = 0  # ended on purpose (expiry, new login, stop)
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status == 403:
                    self._refused_token = session.access_token
                    log.warning("Order stream: Kite refused the access token; waiting for the next login")
                    continue
                failures = self._after_failure(failures, f"Kite answered HTTP {status}")
            except TimeoutError:
                failures = self._after_failure(failures, f"silent for {SILENCE_SECONDS:g} s")
            except (OSError, ConnectionClosed, WebSocketException) as exc:
                failures = self._after_failure(failures, clean_text(f"{type(exc).__name__}: {exc}", 200))
        self._state = "off"

    def _usable_session(self):
        session = self._store.load(max_age=WAIT_FOR_LOGIN_SECONDS)
        if session is None or session.is_expired(self._clock()) or session.access_token == self._refused_token:
            return None
        return session

    def _after_failure(self, failures: int, cause: str) -> int:
        self._socket = None
        if self._stop.is_set():  # closed by stop(): nothing was lost
            return failures
        backoff = min(MAX_BACKOFF_SECONDS, 2.0**failures)
        if failures == 0:
            log.warning("Order stream lost (%s); reconnecting (the order check polls meanwhile)", cause)
        self._state = "reconnecting"
        self._stop.wait(backoff)
        return failures + 1

    def _listen(self, session) -> None:
        query = urlencode({"api_key": self._api_key, "access_token": session.access_token})
        with self._open(f"{self._url}?{query}", open_timeout=10, close_timeout=2, max_size=2**22) as socket:
            self._socket = socket
            self._state = "connected"
            self._last_heard = self._clock()
            log.info("Order stream connected to Kite's WebSocket")
            version = self._store.version()
            while not self._stop.is_set():
                message = socket.recv(timeout=SILENCE_SECONDS)  # TimeoutError: silent too long
                self._last_heard = self._clock()
                if isinstance(message, str):
                    self._handle(message)
                if self._clock() >= session.expires or self._store.version() != version:
                    return  # 06:00 IST, or a new session.json (a new login or a logout): start again

    def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "order" and isinstance(message.get("data"), dict):
            self._events.observe([message["data"]], source="stream")
        elif message.get("type") == "error":
            log.warning("Order stream: Kite says %s", clean_text(message.get("data"), 200))
