"""The sandbox's background matcher: fills orders and fires triggers as the price moves, not only on requests."""

import logging
import threading

log = logging.getLogger("kite_sandbox")


class Matcher:
    """Calls `advance` every `interval` seconds on a daemon thread (a sandbox on the real clock)."""

    def __init__(self, advance, interval: float = 0.05):
        self._advance, self._interval = advance, interval
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sandbox-matcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._advance()
            except Exception:  # logged; the next pass tries again rather than the matcher dying
                log.exception("Sandbox matcher pass failed")
