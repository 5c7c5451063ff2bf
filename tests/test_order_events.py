"""One event per order change, whichever source reported it, across restarts and Kite's day."""

import pytest

from conftest import RecordingNotifier, ist
from kite_service.notifications.outbox import Notifications
from kite_service.orders.database import OrderDatabase
from kite_service.orders.events import OrderEvents
from sandbox_support import Clock


@pytest.fixture
def clock():
    return Clock(ist(2026, 11, 20, 10, 0))


@pytest.fixture
def notifier():
    return RecordingNotifier()


@pytest.fixture
def outbox(settings, clock, notifier):
    return Notifications([notifier], OrderDatabase(settings.order_database_file), clock=clock)


@pytest.fixture
def published(outbox, notifier):
    """What the notifier has received, everything queued delivered first."""

    class Delivered:
        def __iter__(self):
            outbox.deliver_due()
            return iter(notifier.sent)

    return Delivered()


@pytest.fixture
def events(settings, clock, outbox):
    return OrderEvents(settings.order_database_file, outbox=outbox, clock=clock)


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
    restarted = OrderEvents(settings.order_database_file, clock=clock)
    assert restarted.observe([order("OPEN"), order("REJECTED", order_id="2002")], "poll") == []
    assert restarted.watched_count == 2 and restarted.status_counts() == {"OPEN": 1, "REJECTED": 1}


def test_rejections_are_warnings(events, caplog):
    events.observe([order("REJECTED")], "postback")
    assert [r.levelname for r in caplog.records if r.name == "kite_app.orders"] == ["WARNING"]


def test_nothing_is_announced_twice_across_midnight_or_a_restart_before_six(settings, clock, events, published):
    """Kite's day ends at 06:00 IST, not at midnight: the order book of 23:59 is the one of 01:00."""
    clock.now = ist(2026, 11, 20, 23, 59)
    book = [order("OPEN"), order("COMPLETE", 10, order_id="2002"), order("REJECTED", order_id="2003")]
    assert len(events.observe(book, "poll")) == 3
    clock.now = ist(2026, 11, 21, 0, 1)
    assert events.observe(book, "poll") == []
    clock.now = ist(2026, 11, 21, 1, 0)
    restarted = OrderEvents(settings.order_database_file, clock=clock)
    assert restarted.observe(book, "poll") == []
    assert restarted.watched_count == 3
    clock.now = ist(2026, 11, 21, 9, 15)  # the next trading day: yesterday's orders are still known
    assert restarted.observe([order("OPEN")], "poll") == []
    [fill] = restarted.observe([order("COMPLETE", 10)], "poll")
    assert fill.status == "COMPLETE" and restarted.watched_count == 1
    assert [n["id"] for n in published] == ["order:2001:OPEN:0", "order:2002:COMPLETE:10", "order:2003:REJECTED:0"]


def test_orders_of_earlier_trading_days_are_forgotten(settings, clock, events):
    clock.now = ist(2026, 11, 20, 10, 0)
    events.observe([order("OPEN")], "poll")
    clock.now = ist(2026, 11, 22, 7, 0)  # two trading days later
    events.prune(clock())
    assert OrderDatabase(settings.order_database_file).load_orders(since_day="2000-01-01") == {}


def test_orders_without_an_id_are_ignored(events):
    assert events.observe([{"status": "OPEN"}, {"order_id": None}], "postback") == []


def test_each_order_has_its_timeline_stored_with_its_announcement(settings, clock, events):
    events.observe([order("OPEN")], "stream")
    clock.advance(5)
    events.observe([order("OPEN", 4)], "poll")
    events.observe([order("OPEN", 4)], "postback")  # nothing new: no step
    clock.advance(5)
    events.observe([order("COMPLETE", 10), order("REJECTED", order_id="2002")], "postback")
    first_day = clock()
    timelines = OrderEvents(settings.order_database_file, clock=clock).timelines()  # as a restarted service reads it
    steps = [(step["status"], step["filled_quantity"], step["source"], step["at"][11:19]) for step in timelines["2001"]]
    assert steps == [
        ("OPEN", 0, "stream", "10:00:00"),
        ("OPEN", 4, "poll", "10:00:05"),
        ("COMPLETE", 10, "postback", "10:00:10"),
    ]
    assert [step["status"] for step in timelines["2002"]] == ["REJECTED"]
    stored = OrderEvents(settings.order_database_file, clock=clock).day_orders()
    assert stored["2001"]["status"] == "COMPLETE" and stored["2001"]["filled_quantity"] == 10
    assert stored["2001"]["order"]["tradingsymbol"] == "SBIN" and stored["2001"]["order"]["transaction_type"] == "SELL"
    clock.now = ist(2026, 11, 22, 7, 0)  # two trading days later: forgotten with the orders
    events.prune(clock())
    later = OrderEvents(settings.order_database_file, clock=clock)
    assert later.timelines(first_day) == {} and later.day_orders(first_day) == {}


def test_a_step_that_could_not_be_stored_is_not_in_the_timeline(settings, clock, events, monkeypatch):
    from kite_service.errors import StorageError

    def full_disk(*args):
        raise StorageError("disk full")

    monkeypatch.setattr(events.database, "save_order", full_disk)
    with pytest.raises(StorageError):
        events.observe([order("OPEN")], "poll")
    monkeypatch.undo()
    assert events.timelines() == {}  # nothing announced, nothing in the timeline: both come with the next write
    events.observe([order("OPEN")], "poll")
    assert [step["status"] for step in events.timelines()["2001"]] == ["OPEN"]
