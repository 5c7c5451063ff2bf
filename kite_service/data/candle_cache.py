"""The machine's cache of closed historical candles, in one SQLite file every script shares.

Why SQLite (the standard library's sqlite3, WAL journal): several scripts read and write it at
once, each write (a request's candles and the days they complete) commits whole or not at all, so
a script killed mid-write leaves no half-cached day, and readers never wait for a writer. A day is
cached only once every candle of it is closed (a day before today, IST): today's candles, the
forming one among them, are always asked of Kite. A failed write (full disk, read-only folder) is
logged and the candles are still returned; they are asked of Kite again next time.
"""

import logging
import sqlite3
import threading
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)

CANDLE_CACHE_FILE = "candles.sqlite3"  # in the data folder, beside session.json
BUSY_TIMEOUT_SECONDS = 30  # another script's write: a window of minute candles commits in well under a second

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    token INTEGER NOT NULL,
    interval TEXT NOT NULL,
    continuous INTEGER NOT NULL,
    oi INTEGER NOT NULL,
    UNIQUE (token, interval, continuous, oi)
);
CREATE TABLE IF NOT EXISTS candles (
    series INTEGER NOT NULL,
    at INTEGER NOT NULL,  -- the candle's start, seconds since 1970 (UTC)
    open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
    volume INTEGER NOT NULL,
    oi INTEGER,
    PRIMARY KEY (series, at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fetched_days (
    series INTEGER NOT NULL,
    day TEXT NOT NULL,  -- yyyy-mm-dd, IST: every candle of it is in `candles` (none, on a holiday)
    PRIMARY KEY (series, day)
) WITHOUT ROWID;
"""


class CandleCache:
    """Closed candles by series (token, interval, continuous, oi) and the days fetched whole."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection = None
        self._warned = False

    def series(self, token: int, interval: str, continuous: bool, oi: bool) -> int | None:
        """The series' id (made on first use); None when the cache cannot be opened."""
        key = (int(token), interval, int(bool(continuous)), int(bool(oi)))
        try:
            with self._lock:
                connection = self._connect()
                with connection:
                    connection.execute(
                        "INSERT OR IGNORE INTO series (token, interval, continuous, oi) VALUES (?, ?, ?, ?)", key
                    )
                (found,) = connection.execute(
                    "SELECT id FROM series WHERE token = ? AND interval = ? AND continuous = ? AND oi = ?", key
                ).fetchone()
                return found
        except sqlite3.Error as exc:
            self._warn(exc)
            return None

    def cached(self, series: int | None, first: date, last: date, start: int, end: int) -> tuple:
        """(the days from `first` to `last` fetched whole, their candles with start <= at <= end as
        (at, open, high, low, close, volume, oi) in time order), read together; nothing on a failure."""
        if series is None:
            return set(), []
        try:
            with self._lock:
                connection = self._connect()
                connection.execute("BEGIN")  # one snapshot: the days and their candles as a writer left them
                try:
                    days = connection.execute(
                        "SELECT day FROM fetched_days WHERE series = ? AND day BETWEEN ? AND ?",
                        (series, first.isoformat(), last.isoformat()),
                    ).fetchall()
                    rows = connection.execute(
                        "SELECT at, open, high, low, close, volume, oi FROM candles "
                        "WHERE series = ? AND at BETWEEN ? AND ? ORDER BY at",
                        (series, start, end),
                    ).fetchall()
                finally:
                    connection.rollback()  # nothing to keep: it only read
        except sqlite3.Error as exc:
            self._warn(exc)
            return set(), []
        return {date.fromisoformat(day) for (day,) in days}, rows

    def store(self, series: int | None, rows: list, days: list) -> None:
        """Keep `rows` and mark `days` fetched whole, in one transaction; a failure is logged only."""
        if series is None or not days:
            return
        try:
            with self._lock:
                connection = self._connect()
                with connection:  # one transaction: the days are marked only with their candles
                    connection.executemany(
                        "INSERT OR REPLACE INTO candles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        ((series, *row) for row in rows),
                    )
                    connection.executemany(
                        "INSERT OR IGNORE INTO fetched_days VALUES (?, ?)", ((series, d.isoformat()) for d in days)
                    )
        except sqlite3.Error as exc:
            self._warn(exc)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                self.path.touch(mode=0o600)
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")  # a cache: a lost last write is fetched again
                connection.executescript(_SCHEMA)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _warn(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "The candle cache %s cannot be used (%s: %s); candles come from Kite each time. Free disk "
                "space or make the folder writable.",
                self.path,
                type(exc).__name__,
                exc,
            )
