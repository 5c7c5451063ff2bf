"""One event per order change, whichever source reported it, across restarts."""

import json

import pytest

from conftest import ist
from order_events import OrderEvents
from sandbox_support import Clock


@pytest.fixture
def clock():
    return Clock(ist(2026, 11, 20, 10, 0))


@pytest.fixture
def published():
    return []


@pytest.fixture
def events(settings, clock, published):
    return OrderEvents(settings.order_state_file, publish=published.append, clock=clock)


def order(status, filled=0, order_id="2001", quantity=10):
    return {
        "order_id": order_id,
        "status": status,
        "filled_quantity": filled,
        "quantity": quantity,
        "transaction_type": "SELL",
        "exchange": "NSE",
        "tradingsymbol": "SBIN",
        "order_type": "LIMIT",
        "average_price": 800.0,
    }


def test_poll_and_postback_reporting_the_same_change_make_one_event(events, published):
    assert len(events.observe([order("OPEN")], "poll")) == 1
    [event] = events.observe([order("COMPLETE", 10)], "postback")
    assert event.source == "postback" and "COMPLETE" in event.text
    assert events.observe([order("COMPLETE", 10)], "poll") == []
    assert [n["id"] for n in published] == ["order:2001:OPEN:0", "order:2001:COMPLETE:10"]


def test_a_stale_poll_after_a_postback_is_not_announced(events):
    events.observe([order("COMPLETE", 10)], "postback")
    assert events.observe([order("OPEN", 4)], "poll") == []
    assert events.observe([order("COMPLETE", 10)], "poll") == []


def test_postback_update_means_a_fill_not_a_new_status(events):
    events.observe([order("OPEN")], "poll")
    [event] = events.observe([order("UPDATE", 4)], "postback")
    assert event.status == "OPEN" and "partially filled" in event.text and "4/10" in event.text
    assert events.observe([order("OPEN", 4)], "poll") == []


def test_cancel_alias_from_postbacks_is_cancelled(events):
    [event] = events.observe([order("CANCEL")], "postback")
    assert event.status == "CANCELLED"
    assert events.observe([order("CANCELLED")], "poll") == []


def test_events_are_not_announced_again_after_a_restart(settings, clock, events):
    events.observe([order("OPEN"), order("REJECTED", order_id="2002")], "poll")
    restarted = OrderEvents(settings.order_state_file, clock=clock)
    assert restarted.observe([order("OPEN"), order("REJECTED", order_id="2002")], "poll") == []
    assert restarted.watched_count == 2 and restarted.status_counts() == {"OPEN": 1, "REJECTED": 1}


def test_rejections_are_warnings(events, caplog):
    events.observe([order("REJECTED")], "postback")
    assert [r.levelname for r in caplog.records if r.name == "kite_app.orders"] == ["WARNING"]


def test_event_is_published_before_the_state_is_saved(settings, clock):
    """A crash between the two can only repeat a notification (deduplicated), never lose one."""
    seen_on_disk = []

    def publish(notification):
        path = settings.order_state_file
        seen_on_disk.append(json.loads(path.read_text())["orders"] if path.exists() else {})

    OrderEvents(settings.order_state_file, publish=publish, clock=clock).observe([order("OPEN")], "poll")
    assert seen_on_disk == [{}]
    assert json.loads(settings.order_state_file.read_text())["orders"] == {
        "2001": {"status": "OPEN", "filled_quantity": 0}
    }


def test_orders_without_an_id_are_ignored(events):
    assert events.observe([{"status": "OPEN"}, {"order_id": None}], "postback") == []
