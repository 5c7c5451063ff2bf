"""Log throttling: a flood of one kind of event becomes a few lines a minute and a count."""

import logging
import threading
import time


class LogThrottle:
    """At most `per_minute` lines a minute for one kind of event; the rest are counted and said in
    one line when the next minute's first line is logged (a flood of refusals is a few lines)."""

    def __init__(self, logger: logging.Logger, per_minute: int = 10, clock=time.monotonic):
        self._logger = logger
        self._per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._window = {}  # kind -> [window start, lines logged, lines suppressed]

    def warning(self, kind: str, message: str, *args) -> None:
        with self._lock:
            now = self._clock()
            window = self._window.get(kind)
            if window is None or now - window[0] >= 60:
                suppressed = window[2] if window else 0
                window = self._window[kind] = [now, 0, 0]
                if suppressed:
                    self._logger.warning("%d more %s in the last minute were not logged", suppressed, kind)
            if window[1] >= self._per_minute:
                window[2] += 1
                return
            window[1] += 1
        self._logger.warning(message, *args)


class FloodFilter(logging.Filter):
    """For a library's logger: at most `per_minute` records a minute of each message (its format
    string, so "accept() out of system resource" with any arguments is one message); the first
    record after a suppressed stretch says how many like it were not logged. asyncio and waitress
    log every failed accept() when a flood of sockets meets the open-file limit: 12,000 lines in
    10 s, unbounded, before this."""

    def __init__(self, per_minute: int = 5, clock=time.monotonic):
        super().__init__()
        self._per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._window: dict = {}  # message -> [window start, records let through, records suppressed]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg)[:200])
        with self._lock:
            now = self._clock()
            window = self._window.get(key)
            if window is None or now - window[0] >= 60:
                suppressed = window[2] if window else 0
                if window is None and len(self._window) >= 1000:
                    self._window.clear()  # a bounded table: a flood of distinct messages starts it again
                window = self._window[key] = [now, 0, 0]
                if suppressed:
                    record.msg = f"{record.msg} ({suppressed} more like it in the minute before were not logged)"
            if window[1] >= self._per_minute:
                window[2] += 1
                return False
            window[1] += 1
        return True
