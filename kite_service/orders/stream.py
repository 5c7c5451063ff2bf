"""The order stream: one connection to Kite's WebSocket, for order updates the moment they happen.

Kite sends every order update of the user over its ticker (wss://ws.kite.trade) as text, with the
postback's payload. This keeps one connection, subscribed to no instruments, while a session is
valid, and feeds each update to the order events, which announce every change once whichever of
stream, postback and poll brings it first; the 20-second poll stays as the safety net. The
connection is an authenticated one to Kite itself (unlike a postback, which anyone can POST), so
its updates are believed as they come.

It reconnects with capped backoff; a connection silent for SILENCE_SECONDS (Kite sends a heartbeat
every second) is replaced; within CHECK_SECONDS of the 06:00 expiry, a logout or a new login it
closes and waits for the next login. Any unexpected error (odd data, a bug) is logged with its
traceback and the loop starts again after a backoff: the thread never dies silently, and /health
shows the restarts and the last error. An update whose order state cannot be saved is left to the
order check, which finds the same change. The URL carries the access token: it is never logged.
`websockets`' threaded client, so the service never runs twisted (the official KiteTicker's).
"""

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import connect

from kite_service.clock import now_ist
from kite_service.errors import SessionFileError, StorageError
from kite_service.logs.text import clean_text
from kite_service.logs.throttle import LogThrottle

log = logging.getLogger("kite_app.stream")

SILENCE_SECONDS = 5.0  # Kite's heartbeat comes every second; the JavaScript client waits 5
CHECK_SECONDS = 1.0  # how often a connection looks at the clock (06:00) and session.json (logout, login)
MAX_BACKOFF_SECONDS = 30.0
WAIT_FOR_LOGIN_SECONDS = 1.0  # how often a stopped stream looks for a new session
STOP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class StreamState:
    """What /health says of the stream."""

    state: str  # off, waiting for login, connecting, connected, reconnecting, restarting after an error, dead
    last_heard: datetime | None
    restarts: int = 0  # unexpected errors the loop recovered from
    last_error: str | None = None  # its type and time, e.g. "TypeError at 10:15:02"

    @property
    def healthy(self) -> bool:
        """False while the stream recovers from an unexpected error or its thread is gone."""
        return self.state not in ("restarting after an error", "dead")


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
        self._restarts = 0
        self._last_error = None
        self._throttle = LogThrottle(log)

    @property
    def state(self) -> StreamState:
        state = self._state
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            state = "dead"
        return StreamState(state, self._last_heard, self._restarts, self._last_error)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="order-stream", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
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
            try:
                failures = self._connect_once(failures)
            except Exception as exc:  # supervised: log, back off, start again
                log.exception("Order stream failed unexpectedly (%s); starting it again", type(exc).__name__)
                self._socket = None
                self._last_error = f"{type(exc).__name__} at {self._clock():%H:%M:%S}"
                self._state = "restarting after an error"
                self._restarts += 1
                self._stop.wait(min(MAX_BACKOFF_SECONDS, 2.0**failures))
                failures += 1
        self._state = "off"

    def _connect_once(self, failures: int) -> int:
        """One connection (or one wait for a login); returns the count of failures in a row."""
        session = self._usable_session()
        if session is None:
            self._state = "waiting for login"
            self._stop.wait(WAIT_FOR_LOGIN_SECONDS)
            return failures
        self._state = "connecting" if failures == 0 else "reconnecting"
        try:
            self._listen(session)
            return 0  # ended on purpose (expiry, logout, new login, stop)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 403:
                self._refused_token = session.access_token
                log.warning("Order stream: Kite refused the access token; waiting for the next login")
                return 0
            return self._after_failure(failures, f"Kite answered HTTP {status}")
        except TimeoutError:
            return self._after_failure(failures, f"silent for {SILENCE_SECONDS:g} s")
        except (OSError, ConnectionClosed, WebSocketException) as exc:
            return self._after_failure(failures, clean_text(f"{type(exc).__name__}: {exc}", 200))

    def _usable_session(self):
        try:
            session = self._store.load(max_age=WAIT_FOR_LOGIN_SECONDS)
        except SessionFileError:  # unreadable session.json: as good as none (maintenance reports it hourly)
            return None
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
                silent_for = (self._clock() - self._last_heard).total_seconds()
                try:
                    message = socket.recv(timeout=max(0.01, min(CHECK_SECONDS, SILENCE_SECONDS - silent_for)))
                except TimeoutError:
                    if (self._clock() - self._last_heard).total_seconds() >= SILENCE_SECONDS:
                        raise
                else:
                    self._last_heard = self._clock()
                    if isinstance(message, str):
                        self._handle(message)
                if self._clock() >= session.expires or self._store.version() != version:
                    self._state = "waiting for login"
                    return  # 06:00 IST, or a new session.json (a new login or a logout): start again

    def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "order" and isinstance(message.get("data"), dict):
            try:
                self._events.observe([message["data"]], source="stream")
            except StorageError as exc:  # nothing announced: the order check finds the same change
                self._throttle.warning("unsaved stream updates", "Order stream update not saved yet: %s", exc)
        elif message.get("type") == "error":
            log.warning("Order stream: Kite says %s", clean_text(message.get("data"), 200))
