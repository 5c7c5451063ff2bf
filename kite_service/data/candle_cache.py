"""The machine's cache of closed historical candles, in one SQLite file every script shares.

Why SQLite (the standard library's sqlite3, WAL journal): several scripts read and write it at
once, each write (the days a request completes) commits whole or not at all, so a script killed
mid-write leaves no half-cached day, and readers never wait for a writer. A day's candles are one
packed row: two years of minute candles read in a fraction of the time a row per candle takes. A day is
cached only once every candle of it is closed (a day before today, IST): today's candles, the
forming one among them, are always asked of Kite. A failed write (full disk, read-only folder) is
logged and the candles are still returned; they are asked of Kite again next time.
"""

import logging
import sqlite3
import struct
import threading
from datetime import date
from pathlib import Path

from kite_service.clock import IST_OFFSET_SECONDS
from kite_service.data.packed_candles import PackedCandles, pack
from kite_service.storage.sqlite_file import open_private_database

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
CREATE TABLE IF NOT EXISTS days (
    series INTEGER NOT NULL,
    day TEXT NOT NULL,  -- yyyy-mm-dd, IST: fetched whole (a holiday: no candles)
    candles BLOB NOT NULL,  -- the day's candles as packed_candles.CANDLE records (a row each: 10 times slower to read)
    PRIMARY KEY (series, day)
) WITHOUT ROWID;
"""
# What makes the cache unusable (a locked or damaged file, a read-only folder, odd values): logged, Kite asked
UNUSABLE = (sqlite3.Error, OSError, struct.error, TypeError, ValueError)
EPOCH_DAY = date(1970, 1, 1)
SECONDS_PER_DAY = 86400


class CandleCache:
    """Closed candles by series (token, interval, continuous, oi), a whole day at a time."""

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
        except UNUSABLE as exc:
            self._warn(exc)
            return None

    def cached(self, series: int | None, first: date, last: date, start: int, end: int) -> tuple:
        """(the days from `first` to `last` fetched whole, their candles with start <= at <= end in
        time order as PackedCandles); nothing on a failure."""
        if series is None:
            return set(), PackedCandles()
        try:
            with self._lock:
                found = (
                    self._connect()
                    .execute(
                        "SELECT day, candles FROM days WHERE series = ? AND day BETWEEN ? AND ? ORDER BY day",
                        (series, first.isoformat(), last.isoformat()),
                    )
                    .fetchall()
                )
            candles = PackedCandles(packed for _day, packed in found).within(start, end)
        except UNUSABLE as exc:
            self._warn(exc)
            return set(), PackedCandles()
        return {date.fromisoformat(day) for day, _ in found}, candles

    def store(self, series: int | None, rows: list, days: list) -> None:
        """Keep `days` as fetched whole with their candles among `rows`, in one transaction; a failure
        is logged only."""
        if series is None or not days:
            return
        try:
            by_day = {(day - EPOCH_DAY).days: (day.isoformat(), bytearray()) for day in days}
            for row in rows:
                kept = by_day.get((row[0] + IST_OFFSET_SECONDS) // SECONDS_PER_DAY)  # the candle's IST day
                if kept is not None:
                    kept[1].extend(pack(row))
            with self._lock:
                connection = self._connect()
                with connection:  # one transaction: a day whole, or not at all
                    connection.executemany(
                        "INSERT OR REPLACE INTO days VALUES (?, ?, ?)",
                        ((series, day, bytes(packed)) for day, packed in by_day.values()),
                    )
        except UNUSABLE as exc:
            self._warn(exc)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = open_private_database(
                self.path,
                _SCHEMA,
                synchronous="NORMAL",  # a cache: a lost last write is fetched again
                busy_timeout_seconds=BUSY_TIMEOUT_SECONDS,
            )
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
