"""paper.sqlite3: every paper account's orders (with their history) and trades, kept across restarts.

The standard library's SQLite, opened like the order database (storage/sqlite_file.py: owner-only,
write-ahead log, synchronous=FULL): an order update is sent to the client's ticker only after the
transaction that stores it has committed. An account is rebuilt on start by replaying its trades
into a fresh book (book.py), so positions and cash always equal what the trades say.
"""

import json
import threading
from pathlib import Path

from kite_service.storage.sqlite_file import open_private_database

FILE_NAME = "paper.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS paper_orders (
    client TEXT NOT NULL,
    order_id TEXT NOT NULL,
    body TEXT NOT NULL,      -- the order as Kite's order book shows it (JSON)
    history TEXT NOT NULL,   -- its history entries (JSON list)
    bound REAL,              -- a market order's protection price, once set
    PRIMARY KEY (client, order_id)
);
CREATE TABLE IF NOT EXISTS paper_days (
    client TEXT PRIMARY KEY,
    state TEXT NOT NULL      -- the day the account is on, and what it started with (day_roll.py; JSON)
);
CREATE TABLE IF NOT EXISTS paper_extras (
    client TEXT PRIMARY KEY,
    body TEXT NOT NULL       -- the account's GTTs, alerts and followed orders (JSON), kept across days
);
CREATE TABLE IF NOT EXISTS paper_trades (
    client TEXT NOT NULL,
    seq INTEGER NOT NULL,    -- the trade's place in the account's trades
    body TEXT NOT NULL,
    PRIMARY KEY (client, seq)
);
"""


class PaperStore:
    """One SQLite file for all paper accounts ('client' is an account's key: NAME@SINCE); each call is
    one transaction."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection = None

    def _connect(self):
        if self._connection is None:
            self._connection = open_private_database(
                self.path, SCHEMA, synchronous="FULL", busy_timeout_seconds=10, autocommit=True
            )
        return self._connection

    def save(self, client: str, orders: list, trades: list, first_seq: int, extras: str | None = None) -> None:
        """Store `orders` ([(order, history, bound)], replacing their rows), the new `trades`
        (numbered from `first_seq`) and, when given, the account's `extras` (its GTTs, alerts and
        the orders its desk follows: JSON), together or not at all."""
        if not orders and not trades and extras is None:
            return
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(
                    "INSERT OR REPLACE INTO paper_orders (client, order_id, body, history, bound) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(client, o["order_id"], json.dumps(o), json.dumps(h), b) for o, h, b in orders],
                )
                connection.executemany(
                    "INSERT OR REPLACE INTO paper_trades (client, seq, body) VALUES (?, ?, ?)",
                    [(client, first_seq + n, json.dumps(t)) for n, t in enumerate(trades)],
                )
                if extras is not None:
                    connection.execute(
                        "INSERT OR REPLACE INTO paper_extras (client, body) VALUES (?, ?)", (client, extras)
                    )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def load(self, client: str) -> tuple:
        """(orders [(order, history, bound)] in the order they were placed, trades in order)."""
        with self._lock:
            connection = self._connect()
            orders = connection.execute(
                "SELECT body, history, bound FROM paper_orders WHERE client = ? ORDER BY order_id", (client,)
            ).fetchall()
            trades = connection.execute(
                "SELECT body FROM paper_trades WHERE client = ? ORDER BY seq", (client,)
            ).fetchall()
        return [(json.loads(b), json.loads(h), bound) for b, h, bound in orders], [json.loads(t) for (t,) in trades]

    def load_extras(self, client: str) -> dict | None:
        with self._lock:
            found = self._connect().execute("SELECT body FROM paper_extras WHERE client = ?", (client,)).fetchone()
        return json.loads(found[0]) if found else None

    def load_day(self, client: str) -> dict | None:
        """The state the account's current day started from (None: its first day)."""
        with self._lock:
            found = self._connect().execute("SELECT state FROM paper_days WHERE client = ?", (client,)).fetchone()
        return json.loads(found[0]) if found else None

    def new_day(self, client: str, state: dict, keep: set) -> None:
        """A new day's state, and the earlier days' orders and trades forgotten (but `keep`'s: orders
        still waiting for the exchange), together or not at all."""
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(
                    "INSERT OR REPLACE INTO paper_days (client, state) VALUES (?, ?)", (client, json.dumps(state))
                )
                kept = sorted(keep)
                marks = ",".join("?" * len(kept))
                connection.execute(
                    f"DELETE FROM paper_orders WHERE client = ? AND order_id NOT IN ({marks})",  # noqa: S608
                    (client, *kept),
                )
                connection.execute("DELETE FROM paper_trades WHERE client = ?", (client,))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def prune(self, name: str, keep: str) -> None:
        """Forget the rows of client `name`'s earlier paper books (before a paper-reset), all but `keep`'s."""
        where = "substr(client, 1, ?) = ? AND client != ?"
        values = (len(name) + 1, f"{name}@", keep)
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(f"DELETE FROM paper_orders WHERE {where}", values)  # noqa: S608 (no input in it)
            connection.execute(f"DELETE FROM paper_trades WHERE {where}", values)  # noqa: S608
            connection.execute(f"DELETE FROM paper_days WHERE {where}", values)  # noqa: S608
            connection.execute(f"DELETE FROM paper_extras WHERE {where}", values)  # noqa: S608
            connection.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
