"""A write that fails (full disk, read-only folder, an I/O error) delays announcements; it never loses
or doubles one. Each change is announced once, in the log and to the webhook, after recovery."""

import contextlib
import json
import os
import sqlite3
import subprocess
from datetime import timedelta

import pytest
import responses

from conftest import FAST_RETRY, KITE_ROOT, ist, make_session
from kite_api import KiteAPI
from kite_service.errors import StorageError
from kite_service.kite.rate_limit import OrderCaps, kite_limiters
from kite_service.notifications.channels import WebhookNotifier
from kite_service.notifications.outbox import Notifications
from kite_service.orders.database import OrderDatabase
from kite_service.orders.events import OrderEvents
from kite_service.orders.stream import OrderStream
from kite_service.orders.watch import OrderWatcher
from sandbox_support import Clock

WEBHOOK = "http://hooks.test/kite"
BATCH = 10


def order(n: int, status="COMPLETE") -> dict:
    return {
        "order_id": f"{300000 + n}",
        "status": status,
        "filled_quantity": 5 if status == "COMPLETE" else 0,
        "quantity": 5,
        "transaction_type": "BUY",
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "order_type": "LIMIT",
        "average_price": 1500.0,
    }


class World:
    """The service's order path on one database: poll, stream, outbox, webhook."""

    def __init__(self, settings, kite_api, database_path, clock):
        self.clock = clock
        self.database = OrderDatabase(database_path)
        self.notifications = Notifications([WebhookNotifier(WEBHOOK)], self.database, clock=clock)
        self.events = OrderEvents(self.database, outbox=self.notifications, clock=clock)
        self.watcher = OrderWatcher(kite_api, self.events, clock=clock)
        self.stream = OrderStream(settings, "testapikey1", None, self.events, clock=clock)

    def poll(self) -> list:
        self.clock.advance(120)  # past any backoff of a failed poll
        return self.watcher.poll_and_announce()

    def deliver(self) -> None:
        self.clock.advance(600)  # past any notifier backoff
        with contextlib.suppress(StorageError):  # an unreadable database: the delivery thread waits, as here
            self.notifications.deliver_due()


@pytest.fixture
def fixed_clock():
    return Clock(ist(2026, 11, 20, 10, 0))


@pytest.fixture
def kite_api_at(settings, fixed_clock):
    return KiteAPI(settings, clock=fixed_clock, retry=FAST_RETRY, limiters=kite_limiters(), order_caps=OrderCaps())


@pytest.fixture
def session_at(store, fixed_clock):
    session = make_session(login_time=fixed_clock() - timedelta(minutes=5))
    store.save(session)
    return session


@pytest.fixture
def kite_book():
    """Kite's order book (serve_book sets it) and a webhook that accepts everything."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.book = []
        mock.add_callback(
            responses.GET,
            f"{KITE_ROOT}/orders",
            callback=lambda _request: (200, {}, json.dumps({"status": "success", "data": mock.book})),
            content_type="application/json",
        )
        mock.add(responses.POST, WEBHOOK, json={"ok": True})
        yield mock


def serve_book(mock, orders) -> None:
    mock.book = orders


def webhook_ids(mock) -> list:
    return [json.loads(call.request.body)["id"] for call in mock.calls if call.request.url == WEBHOOK]


def announced_lines(caplog) -> list:
    return [r.getMessage() for r in caplog.records if r.name == "kite_app.orders" and "COMPLETE:" in r.getMessage()]


def fail_once_at(monkeypatch, method: str, position: int, error=None) -> list:
    """Make OrderDatabase.<method> raise a disk-full error on its call number `position`, once."""
    original = getattr(OrderDatabase, method)
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == position + 1:
            raise error or sqlite3.OperationalError("database or disk is full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(OrderDatabase, method, failing)
    return calls


@pytest.mark.parametrize("position", range(BATCH))
@pytest.mark.parametrize("write", ["save_order", "queue"])
def test_a_failed_write_anywhere_in_a_batch_is_announced_once_later(
    write, position, settings, kite_api_at, session_at, fixed_clock, kite_book, monkeypatch, caplog, tmp_path
):
    caplog.set_level("INFO")
    world = World(settings, kite_api_at, tmp_path / "orders.sqlite3", fixed_clock)
    book = [order(n) for n in range(BATCH)]
    serve_book(kite_book, book)
    fail_once_at(monkeypatch, write, position)

    assert world.poll() == []  # the write failed: nothing announced, nothing half-saved
    assert world.watcher.last_outcome.ok is False and "StorageError" in world.watcher.last_outcome.detail
    world.deliver()
    assert webhook_ids(kite_book) == [] and announced_lines(caplog) == []

    assert len(world.poll()) == BATCH  # the next poll finds all ten again
    assert world.poll() == []
    world.deliver()
    expected = [f"order:{300000 + n}:COMPLETE:5" for n in range(BATCH)]
    assert webhook_ids(kite_book) == expected
    assert len(announced_lines(caplog)) == BATCH and len(set(announced_lines(caplog))) == BATCH
    assert world.watcher.last_outcome.ok is True


def test_a_stream_update_that_cannot_be_saved_is_announced_once_by_the_next_poll(
    settings, kite_api_at, session_at, fixed_clock, kite_book, monkeypatch, caplog, tmp_path
):
    caplog.set_level("INFO")
    world = World(settings, kite_api_at, tmp_path / "orders.sqlite3", fixed_clock)
    serve_book(kite_book, [order(1, "OPEN")])
    assert len(world.poll()) == 1
    fail_once_at(monkeypatch, "save_order", 0)
    world.stream._handle(json.dumps({"type": "order", "data": order(1)}))  # the fill, not saved
    assert any("Order stream update not saved yet" in r.getMessage() for r in caplog.records)
    serve_book(kite_book, [order(1)])
    [line] = world.poll()
    assert "COMPLETE" in line
    world.stream._handle(json.dumps({"type": "order", "data": order(1)}))  # a late repeat: nothing new
    world.deliver()
    assert webhook_ids(kite_book) == ["order:300001:OPEN:0", "order:300001:COMPLETE:5"]


def test_a_sent_notification_not_marked_delivered_is_not_sent_again(
    settings, fixed_clock, kite_book, monkeypatch, tmp_path
):
    world_db = OrderDatabase(tmp_path / "orders.sqlite3")
    outbox = Notifications([WebhookNotifier(WEBHOOK)], world_db, clock=fixed_clock)
    outbox.publish({"id": "order:1:COMPLETE:1", "text": "Order 1 COMPLETE"})
    fail_once_at(monkeypatch, "delivered", 0, StorageError("database or disk is full"))
    outbox.deliver_due()  # sent; marking it delivered failed once, then succeeded: sent only once
    outbox.deliver_due()
    assert webhook_ids(kite_book) == ["order:1:COMPLETE:1"] and outbox.pending_count == 0


# -- a real small disk ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (needs root and mount; CI sets KITE_APP_REQUIRE_MOUNT=1 so it cannot skip there)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if os.environ.get("KITE_APP_REQUIRE_MOUNT"):
            pytest.fail(f"cannot mount a tmpfs: {result.stderr.strip()}")
        pytest.skip(f"mounting a tmpfs needs root: {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk) -> None:
    with open(disk / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_or_read_only_disk_delays_announcements_and_loses_none(
    fault, settings, kite_api_at, session_at, fixed_clock, kite_book, small_disk, caplog
):
    caplog.set_level("INFO")
    world = World(settings, kite_api_at, small_disk / "orders.sqlite3", fixed_clock)
    serve_book(kite_book, [order(n, "OPEN") for n in range(BATCH)])
    assert len(world.poll()) == BATCH
    world.deliver()
    if fault == "full":
        fill(small_disk)
    else:  # the service restarts on a folder that has turned read-only
        world.database.close()
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        world = World(settings, kite_api_at, small_disk / "orders.sqlite3", fixed_clock)
    serve_book(kite_book, [order(n) for n in range(BATCH)])  # all ten fill while the disk is unusable
    for _ in range(3):
        assert world.poll() == []
    assert world.watcher.last_outcome.ok is False
    world.deliver()
    assert len(webhook_ids(kite_book)) == BATCH  # only the OPEN events so far
    assert announced_lines(caplog) == []
    if fault == "full":
        (small_disk / "filler").unlink()
    else:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert len(world.poll()) == BATCH
    assert world.poll() == []
    world.deliver()
    fills = [i for i in webhook_ids(kite_book) if i.endswith(":COMPLETE:5")]
    assert sorted(fills) == sorted(f"order:{300000 + n}:COMPLETE:5" for n in range(BATCH))
    assert len(announced_lines(caplog)) == BATCH
