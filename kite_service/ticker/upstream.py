"""One connection to Kite's WebSocket (wss://ws.kite.trade), kept open while a session is valid.

It carries the instruments it is given (`want`), sent as Kite's subscribe, unsubscribe and mode
messages, and sent again in full after each reconnect; binary frames and text messages go to the
callbacks as they come. It reconnects with capped backoff; a connection silent for SILENCE_SECONDS
(Kite sends a heartbeat every second) is replaced; within CHECK_SECONDS of the 06:00 expiry, a
logout or a new login it closes and waits for the next login; a token Kite refuses (403) is not
tried again. Any unexpected error (odd data, a bug) is logged with its traceback and the loop
starts again after a backoff: the thread never dies silently, and `state` tells /health of the
restarts and the last error. The URL carries the access token: it is never logged.
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
from kite_service.errors import SessionFileError
from kite_service.logs.text import clean_text
from kite_service.ticker.subscriptions import DEFAULT_MODE

log = logging.getLogger("kite_app.stream")

SILENCE_SECONDS = 5.0  # Kite's heartbeat comes every second; the JavaScript client waits 5
CHECK_SECONDS = 1.0  # how often a connection looks at the clock (06:00) and session.json (logout, login)
MAX_BACKOFF_SECONDS = 30.0
WAIT_FOR_LOGIN_SECONDS = 1.0  # how often a stopped connection looks for a new session
STOP_TIMEOUT_SECONDS = 10.0
MAX_FRAME_BYTES = 2**22  # 3,000 full packets are 558 kB


@dataclass(frozen=True)
class StreamState:
    """What /health says of a connection."""

    state: str  # off, waiting for login, connecting, connected, reconnecting, restarting after an error, dead
    last_heard: datetime | None
    restarts: int = 0  # unexpected errors the loop recovered from
    last_error: str | None = None  # its type and time, e.g. "TypeError at 10:15:02"

    @property
    def healthy(self) -> bool:
        """False while the connection recovers from an unexpected error or its thread is gone."""
        return self.state not in ("restarting after an error", "dead")


def subscription_messages(current: dict, wanted: dict) -> list:
    """Kite's messages that take a connection from `current` to `wanted` ({token: mode} each)."""
    messages = []
    gone = [token for token in current if token not in wanted]
    new = [token for token in wanted if token not in current]
    if gone:
        messages.append({"a": "unsubscribe", "v": gone})
    if new:
        messages.append({"a": "subscribe", "v": new})
    by_mode: dict = {}
    for token, mode in wanted.items():
        if mode != current.get(token, DEFAULT_MODE):  # a new subscription starts in the default mode
            by_mode.setdefault(mode, []).append(token)
    messages.extend({"a": "mode", "v": [mode, tokens]} for mode, tokens in by_mode.items())
    return messages


def ask_for(socket, current: dict, wanted: dict) -> dict:
    """Send the messages that take `socket` from `current` to `wanted`; what it carries then."""
    for message in subscription_messages(current, wanted):
        socket.send(json.dumps(message))
    return dict(wanted)


class UpstreamConnection:
    """Runs on its own daemon thread between start() and stop(). `name` names it in the log."""

    def __init__(
        self,
        url: str,
        api_key: str,
        store,
        clock=now_ist,
        opener=connect,
        name: str = "Ticker connection",
        on_binary=None,
        on_text=None,
    ):
        self._url = url
        self._api_key = api_key
        self._store = store
        self._clock = clock
        self._open = opener
        self.name = name
        self.on_binary = on_binary
        self.on_text = on_text
        self._stop = threading.Event()
        self._thread = None
        self._socket = None
        self._state = "off"  # until start()
        self._last_heard = None
        self._refused_token = None  # Kite refused this token: wait for a new login
        self._restarts = 0
        self._last_error = None
        self.tick_frames = 0  # binary frames with ticks received (not the 1-byte heartbeats): for /api/status
        self._subscriptions = threading.Lock()  # over _wanted, _current and sending them
        self._wanted: dict = {}  # {token: mode} this connection should carry
        self._current: dict = {}  # what Kite has been asked for on the open socket

    @property
    def state(self) -> StreamState:
        state = self._state
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            state = "dead"
        return StreamState(state, self._last_heard, self._restarts, self._last_error)

    @property
    def carrying(self) -> int:
        """Instruments asked of Kite on the open connection."""
        return len(self._current)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name.lower().replace(" ", "-"), daemon=True)
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

    def want(self, wanted: dict) -> None:
        """Carry `wanted` ({token: mode}) from now on: the difference is sent at once when connected."""
        with self._subscriptions:
            self._wanted = dict(wanted)
            try:
                self._send_changes()
            except (ConnectionClosed, OSError):  # the loop reconnects and asks again
                pass

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                failures = self._connect_once(failures)
            except Exception as exc:  # supervised: log, back off, start again
                log.exception("%s failed unexpectedly (%s); starting it again", self.name, type(exc).__name__)
                self._socket = None
                self._last_error = f"{type(exc).__name__} at {self._clock():%H:%M:%S}"
                self._state = "restarting after an error"
                self._restarts += 1
                self._stop.wait(min(MAX_BACKOFF_SECONDS, 2.0**failures))
                failures += 1
        self._state = "off"

    def _connect_once(self, failures: int) -> int:
        """One connection (or one wait for a login); returns the count of failures in a row."""
        version = self._store.version()  # before reading: a logout from here on is seen as a change
        session = self._usable_session()
        if session is None:
            self._state = "waiting for login"
            self._stop.wait(WAIT_FOR_LOGIN_SECONDS)
            return failures
        self._state = "connecting" if failures == 0 else "reconnecting"
        try:
            self._listen(session, version)
            return 0  # ended on purpose (expiry, logout, new login, stop)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 403:
                self._refused_token = session.access_token
                log.warning("%s: Kite refused the access token; waiting for the next login", self.name)
                return 0
            return self._after_failure(failures, f"Kite answered HTTP {status}")
        except TimeoutError:
            return self._after_failure(failures, f"silent for {SILENCE_SECONDS:g} s")
        except (OSError, ConnectionClosed, WebSocketException) as exc:
            return self._after_failure(failures, clean_text(f"{type(exc).__name__}: {exc}", 200))
        finally:
            with self._subscriptions:
                self._socket = None
                self._current = {}

    def _usable_session(self):
        try:
            session = self._store.load(max_age=WAIT_FOR_LOGIN_SECONDS)
        except SessionFileError:  # unreadable session.json: as good as none (maintenance reports it hourly)
            return None
        if session is None or session.is_expired(self._clock()) or session.access_token == self._refused_token:
            return None
        return session

    def _after_failure(self, failures: int, cause: str) -> int:
        if self._stop.is_set():  # closed by stop(): nothing was lost
            return failures
        backoff = min(MAX_BACKOFF_SECONDS, 2.0**failures)
        if failures == 0:
            log.warning("%s lost (%s); reconnecting%s", self.name, cause, self._meanwhile())
        self._state = "reconnecting"
        self._stop.wait(backoff)
        return failures + 1

    def _meanwhile(self) -> str:
        """What covers for the connection while it is down (said in the log)."""
        return ""

    def _listen(self, session, version) -> None:
        query = urlencode({"api_key": self._api_key, "access_token": session.access_token})
        with self._open(f"{self._url}?{query}", open_timeout=10, close_timeout=2, max_size=MAX_FRAME_BYTES) as socket:
            with self._subscriptions:
                self._socket = socket
                self._send_changes()  # everything wanted, after a reconnect too
            self._state = "connected"
            self._last_heard = self._clock()
            log.info("%s connected to Kite's WebSocket", self.name)
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
                    elif self.on_binary is not None:
                        self.tick_frames += len(message) > 1
                        self.on_binary(message)
                if self._clock() >= session.expires or self._store.version() != version:
                    self._state = "waiting for login"
                    return  # 06:00 IST, or a new session.json (a new login or a logout): start again

    def _handle(self, text: str) -> None:
        """A text message from Kite (an order update, an error)."""
        if self.on_text is not None:
            self.on_text(text)

    def _send_changes(self) -> None:
        """Ask Kite for the difference between what it carries and what is wanted (lock held)."""
        if self._socket is not None:
            self._current = ask_for(self._socket, self._current, self._wanted)
