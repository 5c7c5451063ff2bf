"""Benchmark section: a burst of 1,000 order updates into the order database and its outbox.

Each update is one observe() call, as stream messages arrive, with a webhook notifier configured
(so each is queued too) and 20,000 delivered notifications already remembered, as on a busy day.
Bytes are what the process handed to write() (/proc/self/io wchar), so the figure is the same on
a disk and a tmpfs. The reference is the same 1,000 updates arriving as one poll's batch.
"""

import tempfile
import time
from pathlib import Path

from bench.support import median
from kite_service.clock import now_ist
from kite_service.notifications.outbox import Notifications
from kite_service.orders.database import OrderDatabase
from kite_service.orders.events import OrderEvents

UPDATES = 1000
REMEMBERED = 20000


class _Webhook:
    name = "webhook"

    def send(self, notification: dict) -> None:  # never called: nothing is delivered during the burst
        raise AssertionError("not part of the benchmark")


def _written_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def _events(folder: Path) -> OrderEvents:
    database = OrderDatabase(folder / "orders.sqlite3")
    stamp = now_ist().isoformat(timespec="microseconds")
    with database.transaction() as tx:  # a busy day's delivered ids, remembered to refuse repeats
        for n in range(REMEMBERED):
            database.queue(tx, {"id": f"order:{n}:COMPLETE:1", "text": "x"}, [], stamp)
    return OrderEvents(database, outbox=Notifications([_Webhook()], database))


def _update(n: int) -> dict:
    return {
        "order_id": f"{900000000 + n}",
        "status": "CANCELLED",
        "filled_quantity": 0,
        "quantity": 1,
        "transaction_type": "BUY",
        "exchange": "NSE",
        "tradingsymbol": "RELIANCE",
        "order_type": "LIMIT",
        "price": 1200.0,
        "status_message": None,
        "tag": None,
    }


def burst(one_by_one: bool) -> tuple:
    """(seconds in all, longest single observe() in seconds, bytes written) for 1,000 updates."""
    with tempfile.TemporaryDirectory() as folder:
        events = _events(Path(folder))
        updates = [_update(n) for n in range(UPDATES)]
        written, started, longest = _written_bytes(), time.perf_counter(), 0.0
        batches = [[u] for u in updates] if one_by_one else [updates]
        for batch in batches:
            began = time.perf_counter()
            assert len(events.observe(batch, source="stream")) == len(batch)
            longest = max(longest, time.perf_counter() - began)
        took = time.perf_counter() - started
        events.database.close()
        return took, longest, _written_bytes() - written


def order_burst(row, rounds: int = 3) -> list:
    singles = [burst(one_by_one=True) for _ in range(rounds)]
    batches = [burst(one_by_one=False) for _ in range(rounds)]
    took, longest, written = (median(values) for values in zip(*singles, strict=True))
    batch_took, _, batch_written = (median(values) for values in zip(*batches, strict=True))
    return [
        row(
            "1,000 updates one by one (stream): time per update (longest hold of the lock)",
            f"{took / UPDATES * 1000:.2f} ms ({longest * 1000:.1f} ms)",
            f"{batch_took / UPDATES * 1000:.3f} ms in one batch",
            took / batch_took,
            "≤ 5 ms per update",
            took / UPDATES <= 0.005,
        ),
        row(
            "1,000 updates one by one: bytes written per update",
            f"{written / UPDATES / 1024:.1f} kB",
            f"{batch_written / UPDATES / 1024:.2f} kB in one batch",
            written / batch_written,
            "≤ 64 kB per update",
            written / UPDATES <= 64 * 1024,
        ),
    ]
