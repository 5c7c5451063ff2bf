"""A ticker for scripts and notebooks, on `websockets` rather than twisted.

The official KiteTicker runs twisted's reactor, which cannot start twice in a process (a notebook
cell run again), breaks in threads because of its signal handlers, and disconnects slow `on_ticks`
handlers. This one runs on a thread of its own with `websockets`' threaded client: start, stop and
start again in one process, inside a running asyncio loop (Jupyter's) or not. Ticks are the dicts
KiteTicker gives (ticks.py); they come to `on_ticks` callbacks or out of a plain iterator:

    with api.ticker([408065], mode="full") as ticker:
        for ticks in ticker:
            ...

It resubscribes after every reconnect (capped backoff), and a connection silent for
SILENCE_SECONDS (Kite and the hub send a heartbeat every second) is replaced. Callbacks run on the
ticker's thread: one that raises is logged and the ticker goes on. The URL carries the access
token: it is never logged.
"""

import logging
import queue
import threading
import time
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import connect

from kite_service.logs.text import clean_text
from kite_service.ticker.frames import MODES, QUOTE, text_message
from kite_service.ticker.ticks import decode_frame
from kite_service.ticker.upstream import MAX_FRAME_BYTES, ask_for

log = logging.getLogger("kite_app.ticker")

SILENCE_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 30.0
ITERATOR_QUEUE = 100  # frames an iterator may fall behind before the oldest are dropped (counted in .dropped)
STOP_TIMEOUT_SECONDS = 5.0


class TickerRefusedError(ConnectionError):
    """The ticker's credentials were refused (HTTP 403): log in again, or check the program's client."""


class ScriptTicker:
    """Ticks of the instruments subscribed, on a thread of its own between start() and stop()."""

    def __init__(self, url: str, api_key: str, access_token: str, on_ticks=None, on_order_update=None, opener=connect):
        self._address = f"{url}?{urlencode({'api_key': api_key, 'access_token': access_token})}"
        self.on_ticks = on_ticks
        self.on_order_update = on_order_update
        self._open = opener
        self._lock = threading.Lock()
        self._wanted: dict = {}  # {token: mode}
        self._current: dict = {}  # what the open connection has been asked for
        self._socket = None
        self._thread = None
        self._stop = threading.Event()
        self._frames: queue.Queue = queue.Queue(ITERATOR_QUEUE)
        self._iterators = 0  # frames are queued only while someone iterates
        self.dropped = 0  # frames the iterator fell too far behind to get
        self.connected = threading.Event()
        self.refused: TickerRefusedError | None = None

    # -- what to carry --------------------------------------------------------------------

    def subscribe(self, tokens, mode: str = QUOTE) -> "ScriptTicker":
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        with self._lock:
            for token in tokens:
                self._wanted[int(token)] = mode
            self._send_changes()
        return self

    def set_mode(self, mode: str, tokens) -> "ScriptTicker":
        return self.subscribe([t for t in tokens if int(t) in self._wanted], mode)

    def unsubscribe(self, tokens) -> "ScriptTicker":
        with self._lock:
            for token in tokens:
                self._wanted.pop(int(token), None)
            self._send_changes()
        return self

    # -- running ---------------------------------------------------------------------------

    def start(self) -> "ScriptTicker":
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self.refused = None
            while not self._frames.empty():  # a stop's end-of-ticks mark, or frames of the last run
                self._frames.get_nowait()
            self._thread = threading.Thread(target=self._run, name="script-ticker", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        socket = self._socket
        if socket is not None:
            socket.close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_SECONDS)
            self._thread = None
        self._frames.put(None)  # ends an iterator

    def __enter__(self) -> "ScriptTicker":
        return self.start()

    def __exit__(self, *_exc) -> bool:
        self.stop()
        return False

    def __iter__(self):
        """Each frame's ticks (a list of dicts) as they come, until stop()."""
        self.start()
        self._iterators += 1
        try:
            while True:
                ticks = self._frames.get()
                if ticks is None:
                    if self.refused is not None:
                        raise self.refused
                    return
                yield ticks
        finally:
            self._iterators -= 1

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
                failures = 0
            except InvalidStatus as exc:
                if exc.response.status_code == 403:
                    self.refused = TickerRefusedError(
                        "The ticker's api_key or access_token was refused: log in again (or check the program's "
                        "gateway client)"
                    )
                    log.error("Ticker: %s", self.refused)
                    self._frames.put(None)
                    return
                failures = self._back_off(failures, f"HTTP {exc.response.status_code}")
            except TimeoutError:
                failures = self._back_off(failures, f"silent for {SILENCE_SECONDS:g} s")
            except (OSError, ConnectionClosed, WebSocketException) as exc:
                failures = self._back_off(failures, clean_text(f"{type(exc).__name__}: {exc}", 200))
            except Exception as exc:  # supervised: a bug or odd data must not end the ticker silently
                log.exception("Ticker failed unexpectedly (%s); starting it again", type(exc).__name__)
                failures = self._back_off(failures + 1, type(exc).__name__)
            finally:
                with self._lock:
                    self._socket, self._current = None, {}
                self.connected.clear()

    def _back_off(self, failures: int, cause: str) -> int:
        if not self._stop.is_set():
            if failures == 0:
                log.warning("Ticker connection lost (%s); reconnecting", cause)
            self._stop.wait(min(MAX_BACKOFF_SECONDS, 0.5 * 2.0**failures))
        return failures + 1

    def _listen(self) -> None:
        with self._open(self._address, open_timeout=10, close_timeout=2, max_size=MAX_FRAME_BYTES) as socket:
            with self._lock:
                self._socket = socket
                self._send_changes()
            self.connected.set()
            heard = time.monotonic()
            while not self._stop.is_set():
                try:
                    message = socket.recv(timeout=max(0.01, SILENCE_SECONDS - (time.monotonic() - heard)))
                except TimeoutError:
                    if time.monotonic() - heard >= SILENCE_SECONDS:
                        raise
                    continue
                heard = time.monotonic()
                if isinstance(message, bytes):
                    if len(message) > 1:
                        self._deliver(decode_frame(message))
                else:
                    self._text(message)

    def _deliver(self, ticks: list) -> None:
        if self.on_ticks is not None:
            self._call(self.on_ticks, ticks)
        if not self._iterators:
            return
        try:
            self._frames.put_nowait(ticks)
        except queue.Full:  # an iterator far behind: keep the newest
            try:
                self._frames.get_nowait()
                self.dropped += 1
            except queue.Empty:
                pass
            self._frames.put_nowait(ticks)

    def _text(self, text: str) -> None:
        message = text_message(text)
        if message is None:
            return
        if message.get("type") == "order" and self.on_order_update is not None:
            self._call(self.on_order_update, message.get("data"))
        elif message.get("type") == "error":
            log.warning("Ticker: %s", clean_text(str(message.get("data")), 300))

    def _call(self, callback, argument) -> None:
        try:
            callback(argument)
        except Exception:
            log.exception("Ticker: the callback %s raised; the ticker goes on", getattr(callback, "__name__", "?"))

    def _send_changes(self) -> None:
        """Ask for the difference between what the connection carries and what is wanted (lock held)."""
        if self._socket is None:
            return
        try:
            self._current = ask_for(self._socket, self._current, self._wanted)
        except (ConnectionClosed, OSError):
            pass  # the thread reconnects and asks again
