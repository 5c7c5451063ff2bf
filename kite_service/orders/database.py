"""The order database: each order's last known state, its timeline of events and the notification
outbox, in one SQLite file.

Why SQLite (the standard library's sqlite3, WAL journal, synchronous=FULL): a batch of order
changes and the notifications that announce them commit in one transaction or not at all. A full
disk or a read-only folder then delays an announcement and never loses or doubles it, and a commit
appends a few pages to the write-ahead log instead of rewriting a file of every order and every
delivered id (the JSON files this replaces did that once per event).

One connection per process, used under a lock by every thread (polls, the stream, postback
look-ups, notification delivery, status pages); other processes wait up to BUSY_TIMEOUT_SECONDS.
"""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from kite_service.errors import StorageError
from kite_service.storage.sqlite_file import open_private_database

BUSY_TIMEOUT_SECONDS = 10

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    filled_quantity INTEGER NOT NULL,
    trading_day TEXT NOT NULL  -- Kite's day of the last change: 06:00 IST to 06:00 IST (clock.trading_day)
);
CREATE TABLE IF NOT EXISTS order_events (  -- each order's timeline: every change announced, in order
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    trading_day TEXT NOT NULL,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    filled_quantity INTEGER NOT NULL,
    source TEXT NOT NULL,  -- poll, stream or postback
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS order_events_by_day ON order_events (trading_day, order_id);
CREATE TABLE IF NOT EXISTS order_details (  -- what each order is (symbol, side, quantity...), as last announced
    order_id TEXT PRIMARY KEY,
    trading_day TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,  -- a repeat of a known id is not queued again
    body BLOB NOT NULL,
    queued_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (  -- one row per notifier that has not yet received a notification
    seq INTEGER NOT NULL REFERENCES notifications (seq) ON DELETE CASCADE,
    notifier TEXT NOT NULL,
    PRIMARY KEY (seq, notifier)
);
"""


class OrderDatabase:
    """The SQLite file; every method is one short transaction unless given one by `transaction()`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None

    # -- transactions ------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together, or nothing does (StorageError)."""
        with self._lock:
            try:
                connection = self._connect()
                connection.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                raise self._error(exc) from None
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException as exc:
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # a failed COMMIT may have rolled back already
                if isinstance(exc, (sqlite3.Error, OSError)):
                    raise self._error(exc) from None
                raise

    def read(self, sql: str, parameters=()) -> list:
        """Rows of one query (no transaction needed: WAL readers never block the writer)."""
        with self._lock:
            try:
                return self._connect().execute(sql, parameters).fetchall()
            except (sqlite3.Error, OSError) as exc:
                raise self._error(exc) from None

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # -- order state --------------------------------------------------------------------------------

    def load_orders(self, since_day: str) -> dict:
        """{order_id: {"status", "filled_quantity", "trading_day"}} of orders changed since `since_day`."""
        rows = self.read(
            "SELECT order_id, status, filled_quantity, trading_day FROM orders WHERE trading_day >= ?", (since_day,)
        )
        return {row[0]: {"status": row[1], "filled_quantity": row[2], "trading_day": row[3]} for row in rows}

    def save_order(self, tx: sqlite3.Connection, order_id: str, state: dict) -> None:
        tx.execute(
            "INSERT OR REPLACE INTO orders (order_id, status, filled_quantity, trading_day) VALUES (?, ?, ?, ?)",
            (order_id, state["status"], state["filled_quantity"], state["trading_day"]),
        )

    def save_event(self, tx: sqlite3.Connection, event, trading_day: str) -> None:
        """One step of an order's timeline (an OrderEvent), in the transaction that announces it."""
        tx.execute(
            "INSERT INTO order_events (order_id, trading_day, at, status, filled_quantity, source, text) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (event.order_id, trading_day, event.at, event.status, event.filled_quantity, event.source, event.text),
        )
        if event.order.get("tradingsymbol"):  # an update that names the order (a postback's may not)
            tx.execute(
                "INSERT OR REPLACE INTO order_details (order_id, trading_day, body) VALUES (?, ?, ?)",
                (event.order_id, trading_day, orjson.dumps(event.order)),
            )

    def timelines(self, trading_day: str) -> dict:
        """{order_id: [{"at", "status", "filled_quantity", "source", "text"}, ...]} of one trading day,
        each order's steps in the order they were announced."""
        rows = self.read(
            "SELECT order_id, at, status, filled_quantity, source, text FROM order_events "
            "WHERE trading_day = ? ORDER BY seq",
            (trading_day,),
        )
        timelines: dict = {}
        for order_id, at, status, filled, source, text in rows:
            step = {"at": at, "status": status, "filled_quantity": filled, "source": source, "text": text}
            timelines.setdefault(order_id, []).append(step)
        return timelines

    def day_orders(self, trading_day: str) -> dict:
        """{order_id: {"status", "filled_quantity", "order": {symbol, side, quantity...}}} of one trading
        day's orders as last announced (an order's `order` is {} until an update named it)."""
        rows = self.read(
            "SELECT o.order_id, o.status, o.filled_quantity, d.body FROM orders o "
            "LEFT JOIN order_details d ON d.order_id = o.order_id WHERE o.trading_day = ?",
            (trading_day,),
        )
        return {
            order_id: {"status": status, "filled_quantity": filled, "order": orjson.loads(body) if body else {}}
            for order_id, status, filled, body in rows
        }

    def forget_orders_before(self, day: str) -> int:
        """Forget the state, details and timelines of orders of trading days before `day`; how many orders."""
        with self.transaction() as tx:
            tx.execute("DELETE FROM order_events WHERE trading_day < ?", (day,))
            tx.execute("DELETE FROM order_details WHERE trading_day < ?", (day,))
            return tx.execute("DELETE FROM orders WHERE trading_day < ?", (day,)).rowcount

    # -- the notification outbox ----------------------------------------------------------------------

    def queue(self, tx: sqlite3.Connection, notification: dict, notifiers: list, queued_at: str) -> bool:
        """Queue one notification for `notifiers`; False when its id was queued before."""
        cursor = tx.execute(
            "INSERT OR IGNORE INTO notifications (id, body, queued_at) VALUES (?, ?, ?)",
            (notification["id"], orjson.dumps(notification), queued_at),
        )
        if cursor.rowcount == 0:
            return False
        tx.executemany(
            "INSERT INTO deliveries (seq, notifier) VALUES (?, ?)", [(cursor.lastrowid, name) for name in notifiers]
        )
        return True

    def next_for(self, notifier: str, skip: frozenset = frozenset()) -> tuple | None:
        """(seq, notification, queued_at) of the oldest notification `notifier` has not received."""
        rows = self.read(
            "SELECT n.seq, n.body, n.queued_at FROM deliveries d JOIN notifications n ON n.seq = d.seq "
            "WHERE d.notifier = ? ORDER BY n.seq LIMIT ?",
            (notifier, len(skip) + 1),
        )
        for seq, body, queued_at in rows:
            if seq not in skip:
                return seq, orjson.loads(body), queued_at
        return None

    def delivered(self, seq: int, notifier: str) -> None:
        with self.transaction() as tx:
            tx.execute("DELETE FROM deliveries WHERE seq = ? AND notifier = ?", (seq, notifier))

    def pending_count(self, notifiers: list) -> int:
        marks = ",".join("?" * len(notifiers))
        rows = self.read(f"SELECT COUNT(DISTINCT seq) FROM deliveries WHERE notifier IN ({marks})", notifiers)  # noqa: S608
        return rows[0][0]

    def drop_undelivered_before(self, queued_before: str) -> int:
        """Give up on notifications queued before `queued_before`; returns how many were dropped."""
        with self.transaction() as tx:
            return tx.execute(
                "DELETE FROM deliveries WHERE seq IN (SELECT seq FROM notifications WHERE queued_at < ?)",
                (queued_before,),
            ).rowcount

    def forget_notifications_before(self, queued_before: str) -> int:
        """Forget delivered notifications' ids queued before `queued_before` (kept to refuse repeats)."""
        with self.transaction() as tx:
            return tx.execute(
                "DELETE FROM notifications WHERE queued_at < ? AND seq NOT IN (SELECT seq FROM deliveries)",
                (queued_before,),
            ).rowcount

    # -- the file --------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = open_private_database(
                self.path,
                _SCHEMA,
                synchronous="FULL",  # a commit is on disk before it counts
                busy_timeout_seconds=BUSY_TIMEOUT_SECONDS,
                autocommit=True,
                foreign_keys=True,
            )
            self._connection = connection
        return self._connection

    def _error(self, exc: BaseException) -> StorageError:
        return StorageError(
            f"Could not write the order database {self.path} ({type(exc).__name__}: {exc}). Free disk space or "
            "make its folder writable; changes not saved are announced once a write succeeds."
        )
