"""Earlier versions' order_state.json and notifications.json, moved into the order database once.

Without this, the first start after an upgrade would announce today's orders again and forget
notifications not yet delivered. The import is one transaction; only after it commits are the
old files removed, and it never overwrites what the database already knows.
"""

import contextlib
import logging
from pathlib import Path

import orjson

from kite_service.orders.database import OrderDatabase
from kite_service.storage.atomic_file import read_json

log = logging.getLogger("kite_app.orders")


def import_legacy_files(database: OrderDatabase, order_state_file: Path, outbox_file: Path, queued_at: str) -> int:
    """Move both old files (where present) into `database`; returns how many records came over.

    Raises StorageError when the database cannot be written: the files stay for the next start."""
    orders = _read(order_state_file)
    outbox = _read(outbox_file)
    if orders is None and outbox is None:
        return 0
    count = 0
    with database.transaction() as tx:
        if orders is not None:
            day = str(orders.get("date") or "")
            for order_id, state in (orders.get("orders") or {}).items():
                if isinstance(state, dict) and day:
                    tx.execute(
                        "INSERT OR IGNORE INTO orders (order_id, status, filled_quantity, trading_day) "
                        "VALUES (?, ?, ?, ?)",
                        (str(order_id), str(state.get("status")), int(state.get("filled_quantity") or 0), day),
                    )
                    count += 1
        if outbox is not None:
            for entry in outbox.get("pending") or []:
                notification = entry.get("notification") if isinstance(entry, dict) else None
                if isinstance(notification, dict) and notification.get("id"):
                    stamp = str(entry.get("queued_at") or queued_at)
                    count += database.queue(tx, notification, list(entry.get("waiting_for") or []), stamp)
            for delivered_id in outbox.get("delivered") or []:
                tx.execute(
                    "INSERT OR IGNORE INTO notifications (id, body, queued_at) VALUES (?, ?, ?)",
                    (str(delivered_id), orjson.dumps({"id": str(delivered_id)}), queued_at),
                )
                count += 1
    for path in (order_state_file, outbox_file):
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()
    log.info("Moved %d record(s) of %s and %s into %s", count, order_state_file.name, outbox_file.name, database.path)
    return count


def _read(path: Path) -> dict | None:
    try:
        data = read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("%s is unreadable; it is left as it is and not imported", path)
        return None
    return data if isinstance(data, dict) else None
