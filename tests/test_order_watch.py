"""The order check: one orders() call per poll, pauses, backoff, announcements."""

import copy

import pytest
import requests
import responses

from conftest import KITE_ROOT, ist, recorded
from kite_service.orders.database import OrderDatabase
from kite_service.orders.events import OrderEvents, describe_transition
from kite_service.orders.watch import OrderWatcher
from sandbox_support import Clock

ORDERS_URL = KITE_ROOT + "/orders"


@pytest.fixture
def clock():
    return Clock(ist(2026, 11, 20, 10, 0))


@pytest.fixture
def api(settings, store, clock, kite_api):
    from conftest import make_session

    store.save(make_session(login_time=ist(2026, 11, 20, 9, 0)))
    kite_api._clock = clock
    return kite_api


@pytest.fixture
def watcher(api, settings, clock):
    return OrderWatcher(api, OrderEvents(settings.order_database_file, clock=clock), clock=clock)


def order(order_id="1001", status="OPEN", filled=0, quantity=10, **extra):
    return {
        "order_id": order_id,
        "status": status,
        "filled_quantity": filled,
        "quantity": quantity,
        "transaction_type": "BUY",
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "order_type": "LIMIT",
        "average_price": 1500.5 if filled else 0,
        "status_message": None,
        **extra,
    }


def serve(kite, *orders):
    kite.add(responses.GET, ORDERS_URL, json={"status": "success", "data": list(orders)})


def test_each_transition_is_logged_exactly_once(kite, watcher, caplog):
    caplog.set_level("INFO", logger="kite_app.orders")
    serve(kite, order(status="OPEN"))
    serve(kite, order(status="OPEN"))
    serve(kite, order(status="OPEN", filled=4))
    serve(kite, order(status="COMPLETE", filled=10))
    serve(kite, order(status="COMPLETE", filled=10))
    events = [watcher.poll_and_announce() for _ in range(5)]
    assert [len(e) for e in events] == [1, 0, 1, 1, 0]
    assert "placed" in events[0][0] and "status OPEN" in events[0][0]
    assert "partially filled" in events[2][0] and "4/10" in events[2][0]
    assert "COMPLETE" in events[3][0] and "10/10 @ 1500.5" in events[3][0]
    lines = [r.getMessage() for r in caplog.records if r.name == "kite_app.orders"]
    assert lines == [e[0] for e in events if e]
    assert len(kite.calls) == 5  # exactly one request per poll


def test_rejection_is_a_warning_with_kites_reason(kite, watcher, caplog):
    rejected = next(o for o in recorded("orders.json")["data"] if o["status"] == "REJECTED")
    serve(kite, rejected)
    [line] = watcher.poll_and_announce()
    assert "REJECTED" in line and "Insufficient funds" in line
    assert [r.levelname for r in caplog.records if r.name == "kite_app.orders"] == ["WARNING"]


def test_recorded_order_book_is_announced_once(kite, watcher):
    book = recorded("orders.json")["data"]
    serve(kite, *book)
    serve(kite, *book)
    assert len(watcher.poll_and_announce()) == 10
    assert watcher.poll_and_announce() == []


def test_restart_does_not_reannounce(kite, api, settings, clock):
    serve(kite, order(status="OPEN"))
    serve(kite, order(status="OPEN"), order("1002", status="CANCELLED"))
    assert (
        len(OrderWatcher(api, OrderEvents(settings.order_database_file, clock=clock), clock=clock).poll_and_announce())
        == 1
    )
    restarted = OrderWatcher(api, OrderEvents(settings.order_database_file, clock=clock), clock=clock)
    [line] = restarted.poll_and_announce()
    assert "1002" in line and "CANCELLED" in line


def test_state_of_earlier_trading_days_is_dropped(kite, api, settings, clock, watcher):
    serve(kite, order(status="OPEN"))
    watcher.poll_and_announce()
    clock.now = ist(2026, 11, 21, 5, 30)
    watcher.events.prune(clock.now)  # 05:30 still belongs to the 20th: yesterday's orders are kept
    assert list(OrderDatabase(settings.order_database_file).load_orders(since_day="2000-01-01")) == ["1001"]
    clock.now = ist(2026, 11, 22, 6, 0)  # two trading days later
    watcher.events.prune(clock.now)
    assert OrderDatabase(settings.order_database_file).load_orders(since_day="2000-01-01") == {}


def test_no_session_means_no_call_and_one_log_line(kite, settings, clock, caplog, kite_api):
    watcher = OrderWatcher(kite_api, OrderEvents(settings.order_database_file, clock=clock), clock=clock)
    for _ in range(5):
        watcher.poll_and_announce()
        clock.advance(20)
    assert len(kite.calls) == 0
    paused = [r for r in caplog.records if "Order check paused" in r.getMessage()]
    assert len(paused) == 1 and "/api/url" in paused[0].getMessage()


def test_expired_session_pauses_once_and_resumes_after_login(kite, api, watcher, clock, store, caplog):
    caplog.set_level("INFO")
    clock.now = ist(2026, 11, 21, 6, 0)
    for _ in range(3):
        watcher.poll_and_announce()
    assert len(kite.calls) == 0
    from conftest import make_session

    store.save(make_session(access_token="next-day-token", login_time=ist(2026, 11, 21, 8, 0)))
    clock.now = ist(2026, 11, 21, 9, 0)
    serve(kite, order())
    assert len(watcher.poll_and_announce()) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Order check paused" in m for m in messages) == 1
    assert sum("Order check resumed" in m for m in messages) == 1


def test_logout_detected_by_next_poll_and_logged_once(kite, watcher, clock, caplog):
    kite.add(
        responses.GET,
        ORDERS_URL,
        status=403,
        json={"status": "error", "message": "Token expired", "error_type": "TokenException"},
    )
    for _ in range(4):
        watcher.poll_and_announce()
        clock.advance(20)
    assert len(kite.calls) == 1
    assert sum("Order check paused" in r.getMessage() for r in caplog.records) == 1


def test_failures_back_off_and_recovery_is_logged(kite, watcher, clock, caplog):
    caplog.set_level("INFO")
    for _ in range(3 * 3):  # three attempts per failed poll: the first try and two retries
        kite.add(responses.GET, ORDERS_URL, body=requests.ConnectionError("refused"))
    serve(kite, order())
    attempted = []
    for tick in range(12):
        before = len(kite.calls)
        watcher.poll_and_announce()
        if len(kite.calls) > before:
            attempted.append(tick)
        clock.advance(20)
    # fails at 0 and 1, then waits 40 s (tick 3), then 60 s at most (tick 6): recovered, every poll again
    assert attempted == [0, 1, 3, 6, 7, 8, 9, 10, 11]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Order check failed" in m for m in messages) == 1  # same cause: logged once
    assert any("recovered after 3 failed" in m for m in messages)
    assert watcher.last_outcome.ok


def test_unexpected_errors_never_escape(kite, watcher, monkeypatch):
    monkeypatch.setattr(watcher._api, "get_raw_orders", lambda if_changed: 1 / 0)
    assert watcher.poll_and_announce() == []
    assert not watcher.last_outcome.ok and "ZeroDivisionError" in watcher.last_outcome.detail


def test_describe_covers_each_kind():
    base = order()
    assert "placed" in describe_transition(base, None)
    assert "OPEN PENDING -> OPEN" in describe_transition(base, {"status": "OPEN PENDING"})
    cancelled = copy.deepcopy(base) | {"status": "CANCELLED", "filled_quantity": 3}
    assert "CANCELLED" in describe_transition(cancelled, {"status": "OPEN"}) and "3/10" in describe_transition(
        cancelled, None
    )


def test_an_unchanged_order_book_is_not_parsed_or_compared_again(kite, watcher, monkeypatch):
    serve(kite, order(status="OPEN"))
    serve(kite, order(status="OPEN"))
    serve(kite, order(status="COMPLETE", filled=10))
    observed = []
    original = watcher.events.observe
    monkeypatch.setattr(
        watcher.events, "observe", lambda orders, source: observed.append(1) or original(orders, source)
    )
    assert len(watcher.poll_and_announce()) == 1
    assert watcher.poll_and_announce() == [] and watcher.last_outcome.ok  # same bytes: one request, no comparison
    assert len(watcher.poll_and_announce()) == 1  # changed bytes: compared, the fill is announced
    assert len(kite.calls) == 3 and len(observed) == 2


def test_a_failed_comparison_makes_the_next_poll_compare_again(kite, watcher, monkeypatch):
    serve(kite, order(status="OPEN"))
    serve(kite, order(status="OPEN"))
    original = watcher.events.observe

    def fail_once(orders, source):
        monkeypatch.setattr(watcher.events, "observe", original)
        raise OSError("disk full")

    monkeypatch.setattr(watcher.events, "observe", fail_once)
    assert watcher.poll_and_announce() == []  # the failure is the poll's outcome, not an exception for the scheduler
    assert watcher.last_outcome.ok is False and "OSError: disk full" in watcher.last_outcome.detail
    watcher._next_attempt = None
    assert len(watcher.poll_and_announce()) == 1  # the same bytes again, but compared this time
    assert watcher.last_outcome.ok is True
