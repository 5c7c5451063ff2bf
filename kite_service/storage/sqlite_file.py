"""Opening one of the service's SQLite files: private from its first byte, WAL, schema in place.

The order database, the candle cache and the instrument list are each one SQLite file (the
standard library's sqlite3: transactions, and several processes at once through its own locks).
All three open the same way, so the way lives here once: the folder owner-only, the file created
owner-only before SQLite writes a byte into it, a busy timeout so another process's write is
waited for rather than refused, the write-ahead log (readers never block the writer), the
caller's `synchronous` level, and the caller's schema created if missing.
"""

import sqlite3
from pathlib import Path

from kite_service.storage.private_files import OWNER_ONLY_FILE, OWNER_ONLY_FOLDER


def open_private_database(
    path: Path,
    schema: str,
    *,
    synchronous: str,
    busy_timeout_seconds: float,
    autocommit: bool = False,
    foreign_keys: bool = False,
) -> sqlite3.Connection:
    """Connect to `path` (made if missing) for use by every thread under the caller's lock.

    `synchronous` is SQLite's level: "FULL" where a commit must be on disk before it counts,
    "NORMAL" for a cache whose lost last write is fetched again. `autocommit` leaves transactions
    to the caller's BEGIN/COMMIT (isolation_level=None)."""
    level = _checked_level(synchronous)
    path = Path(path)
    path.parent.mkdir(mode=OWNER_ONLY_FOLDER, parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=OWNER_ONLY_FILE)
    options = {"isolation_level": None} if autocommit else {}
    connection = sqlite3.connect(path, timeout=busy_timeout_seconds, check_same_thread=False, **options)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={level}")
        if foreign_keys:
            connection.execute("PRAGMA foreign_keys=ON")
        connection.executescript(schema)
    except BaseException:
        connection.close()
        raise
    return connection


def _checked_level(synchronous: str) -> str:
    if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
    return synchronous
