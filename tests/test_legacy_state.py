"""The first start after an upgrade: the earlier version's JSON order state and outbox move into orders.sqlite3."""

import json

from conftest import RecordingNotifier, ist
from kite_service.notifications.outbox import Notifications
from kite_service.orders.database import OrderDatabase
from kite_service.orders.events import OrderEvents
from kite_service.orders.legacy_state import import_legacy_files
from sandbox_support import Clock


def test_known_orders_stay_known_and_undelivered_notifications_are_still_sent(settings):
    clock = Clock(ist(2026, 11, 20, 11, 0))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.order_state_file.write_text(
        json.dumps({"date": "2026-11-20", "orders": {"5001": {"status": "COMPLETE", "filled_quantity": 2}}})
    )
    pending = {"id": "order:5001:COMPLETE:2", "text": "Order 5001 COMPLETE"}
    settings.notifications_outbox_file.write_text(
        json.dumps(
            {
                "pending": [{"notification": pending, "waiting_for": ["recorder"], "queued_at": clock().isoformat()}],
                "delivered": ["order:5001:OPEN:0"],
            }
        )
    )
    database = OrderDatabase(settings.order_database_file)
    assert import_legacy_files(database, settings.order_state_file, settings.notifications_outbox_file, "x") == 3
    assert not settings.order_state_file.exists() and not settings.notifications_outbox_file.exists()

    notifier = RecordingNotifier()
    outbox = Notifications([notifier], database, clock=clock)
    events = OrderEvents(database, outbox=outbox, clock=clock)
    fill = {"order_id": "5001", "status": "COMPLETE", "filled_quantity": 2, "quantity": 2}
    assert events.observe([fill], "poll") == []  # known before the upgrade: not announced again
    assert outbox.publish({"id": "order:5001:OPEN:0", "text": "again"}) is False  # delivered before: refused
    outbox.deliver_due()
    assert [n["id"] for n in notifier.sent] == ["order:5001:COMPLETE:2"]  # the one left undelivered


def test_an_unreadable_old_file_is_left_alone(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.order_state_file.write_text("{not json")
    database = OrderDatabase(settings.order_database_file)
    assert import_legacy_files(database, settings.order_state_file, settings.notifications_outbox_file, "x") == 0
    assert settings.order_state_file.read_text() == "{not json"
