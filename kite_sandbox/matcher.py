"""The sandbox's background matcher: fills orders as the price moves, not only when a request comes."""

import threading


class Matcher:
    """Advances the book every `interval` seconds on a daemon thread (a sandbox on the real clock)."""

    def __init__(self, book, interval: float = 0.05):
        self._book, self._interval = book, interval
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
            self._book.advance()
