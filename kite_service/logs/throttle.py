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
