"""Kite's instrument list, downloaded once a day for the whole machine and kept by day.

Kite makes the list (about 100,000 rows, several MB) once a day, around 08:00 IST, and asks that it
be fetched once a day at about 08:30 (https://kite.trade/docs/connect/v3/market-quotes/). Before
08:30 the list of the day before is the current one. Every script on the machine shares one
SQLite file: the first to need a day's list downloads it while the others wait on a file lock
(filelock: one download, never two), and the list is written in one transaction, so a reader sees
a day's list whole or not at all. Older days stay: an expired contract (Kite's list has only live
ones) is still found by its symbol or token in the list of a day it traded.
"""

import logging
import sqlite3
import threading
from datetime import date, datetime, time, timedelta
from pathlib import Path

from filelock import FileLock

from kite_service.clock import as_ist
from kite_service.storage.sqlite_file import open_private_database

log = logging.getLogger(__name__)

INSTRUMENTS_FILE = "instruments.sqlite3"  # in the data folder, beside session.json
LIST_READY_AT = time(8, 30)  # IST: Kite's advice for fetching the day's list
BUSY_TIMEOUT_SECONDS = 30
DOWNLOAD_WAIT_SECONDS = 300  # another script downloading the list: wait this long for it
COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)
COLUMN_TYPES = {
    "instrument_token": "INTEGER",
    "lot_size": "INTEGER",
    "last_price": "REAL",
    "strike": "REAL",
    "tick_size": "REAL",
}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS lists (day TEXT PRIMARY KEY, rows INTEGER NOT NULL, fetched_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instruments (
    day TEXT NOT NULL,
    {", ".join(f"{column} {COLUMN_TYPES.get(column, 'TEXT')}" for column in COLUMNS)},
    PRIMARY KEY (day, instrument_token)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS by_symbol ON instruments (exchange, tradingsymbol, day);
CREATE INDEX IF NOT EXISTS by_token ON instruments (instrument_token, day);
CREATE INDEX IF NOT EXISTS by_name ON instruments (day, name, segment);
"""
INSERT_ROW = "INSERT OR REPLACE INTO instruments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # day + COLUMNS


def list_day(now: datetime) -> date:
    """The day whose list is current at `now`: today's from 08:30 IST, the day before's until then."""
    moment = as_ist(now)
    return moment.date() if moment.time() >= LIST_READY_AT else moment.date() - timedelta(days=1)


class InstrumentStore:
    """The daily lists; `download()` gives kiteconnect's instrument dicts (KiteAPI.instruments)."""

    def __init__(self, path: Path, download, clock):
        self.path = Path(path)
        self._download = download
        self._clock = clock
        self._lock = threading.Lock()
        self._connection = None
        self._ready_day = None  # the day whose list this process knows is stored

    def current_day(self) -> date:
        """The current list's day, downloaded first if no script on the machine has done it yet."""
        day = list_day(self._clock())
        if self._ready_day != day:
            if not self._has(day):
                with FileLock(str(self.path) + ".lock", timeout=DOWNLOAD_WAIT_SECONDS):
                    if not self._has(day):  # another script may have stored it while this one waited
                        self._store(day, self._download())
            self._ready_day = day
        return day

    def rows(self, where: str, parameters: tuple) -> list:
        """kiteconnect-style dicts of the rows matching `where` (SQL over the columns and `day`), newest day first."""
        with self._lock:
            found = (
                self._connect()
                .execute(
                    f"SELECT day, {', '.join(COLUMNS)} FROM instruments WHERE {where} ORDER BY day DESC",  # noqa: S608 - the callers' fixed SQL
                    parameters,
                )
                .fetchall()
            )
        return [_as_instrument(row) for row in found]

    def stored_day(self) -> date | None:
        """The current list's day if it is on the machine already (never downloads), else None."""
        day = list_day(self._clock())
        return day if self._ready_day == day or self._has(day) else None

    def days(self) -> list:
        with self._lock:
            return [date.fromisoformat(d) for (d,) in self._connect().execute("SELECT day FROM lists ORDER BY day")]

    def _has(self, day: date) -> bool:
        with self._lock:
            return (
                self._connect().execute("SELECT 1 FROM lists WHERE day = ?", (day.isoformat(),)).fetchone() is not None
            )

    def _store(self, day: date, instruments: list) -> None:
        rows = [(day.isoformat(), *(_stored(item.get(column)) for column in COLUMNS)) for item in instruments]
        with self._lock:
            connection = self._connect()
            with connection:  # the day's list whole, or nothing
                connection.executemany(INSERT_ROW, rows)
                connection.execute(
                    "INSERT OR REPLACE INTO lists VALUES (?, ?, ?)",
                    (day.isoformat(), len(rows), as_ist(self._clock()).isoformat(timespec="seconds")),
                )
        log.info("Instrument list of %s stored: %d instruments", day, len(rows))

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = open_private_database(
                self.path,
                _SCHEMA,
                synchronous="NORMAL",  # a lost last write: downloaded again
                busy_timeout_seconds=BUSY_TIMEOUT_SECONDS,
            )
            self._connection = connection
        return self._connection


def _stored(value):
    return value.isoformat() if isinstance(value, date) else value


def _as_instrument(row: tuple) -> dict:
    item = dict(zip(COLUMNS, row[1:], strict=True))
    item["last_price"] = float(item["last_price"])
    item["strike"] = float(item["strike"])
    item["tick_size"] = float(item["tick_size"])
    item["expiry"] = date.fromisoformat(item["expiry"]) if item["expiry"] else ""
    item["list_day"] = date.fromisoformat(row[0])  # the day of the list it was found in
    return item
