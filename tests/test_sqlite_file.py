"""The service's SQLite files (orders, candles, instruments) are owner-only from birth, whatever the umask."""

import os
import sqlite3
import stat
from datetime import UTC, datetime

import pytest

from kite_service.data.candle_cache import CandleCache
from kite_service.data.instrument_store import InstrumentStore
from kite_service.orders.database import OrderDatabase
from kite_service.storage.sqlite_file import open_private_database


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o002)  # group-writable, world-readable files by default
    yield
    os.umask(old)


def open_each(folder):
    """Make each of the three databases write its first row in `folder`; returns their paths."""
    orders = OrderDatabase(folder / "orders.sqlite3")
    with orders.transaction() as tx:
        orders.save_order(tx, "250101000000001", {"status": "OPEN", "filled_quantity": 0, "trading_day": "2026-04-01"})
    candles = CandleCache(folder / "candles.sqlite3")
    assert candles.series(256265, "minute", False, False) is not None
    noon = datetime(2026, 4, 1, 6, 30, tzinfo=UTC)
    instruments = InstrumentStore(folder / "instruments.sqlite3", download=lambda: [], clock=lambda: noon)
    instruments.current_day()
    for store in (orders, candles):
        store.close()
    return [folder / "orders.sqlite3", folder / "candles.sqlite3", folder / "instruments.sqlite3"]


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX; on Windows the folder's ACL decides")
def test_each_database_and_its_folder_are_owner_only_from_their_first_byte(tmp_path, open_umask):
    folder = tmp_path / "data"
    paths = open_each(folder)
    assert mode(folder) == 0o700
    assert {path.name: mode(path) for path in paths} == {path.name: 0o600 for path in paths}
    journals = [p for p in folder.iterdir() if p.name.endswith(("-wal", "-shm"))]
    assert all(mode(p) == 0o600 for p in journals)  # SQLite gives its journal files the database's mode


def test_each_database_keeps_a_write_ahead_log_so_readers_never_block_a_writer(tmp_path):
    for path in open_each(tmp_path):
        with sqlite3.connect(path) as reader:
            assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",), path.name


def test_an_order_commit_is_on_disk_before_it_counts_and_a_cache_write_need_not_be(tmp_path):
    full = open_private_database(tmp_path / "a.sqlite3", "", synchronous="FULL", busy_timeout_seconds=1)
    normal = open_private_database(tmp_path / "b.sqlite3", "", synchronous="NORMAL", busy_timeout_seconds=1)
    assert full.execute("PRAGMA synchronous").fetchone() == (2,)
    assert normal.execute("PRAGMA synchronous").fetchone() == (1,)
    orders = OrderDatabase(tmp_path / "orders.sqlite3")
    assert orders.read("PRAGMA synchronous") == [(2,)]
    assert orders.read("PRAGMA foreign_keys") == [(1,)]


def test_an_unknown_sync_level_is_refused_before_anything_is_made(tmp_path):
    with pytest.raises(ValueError, match="NORMAL, FULL"):
        open_private_database(tmp_path / "c" / "c.sqlite3", "", synchronous="normal; DROP", busy_timeout_seconds=1)
    assert not (tmp_path / "c").exists()
