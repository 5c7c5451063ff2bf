"""Kite failing in every way we know of, on a simulated clock: the order check never crashes,
keeps its schedule, backs off, recovers at its first attempt after the fault clears, logs each
fault once with its cause, and announces every order change exactly once."""

import itertools
import json
import logging

import pytest
import requests
import responses

from conftest import FAST_RETRY, KITE_ROOT, RecordingNotifier, ist, make_session
from kite_api import KiteAPI
from kite_service.kite.rate_limit import kite_limiters
from kite_service.notifications.outbox import Notifications
from kite_service.orders.events import OrderEvents
from kite_service.orders.watch import MAX_BACKOFF_SECONDS, OrderWatcher
from sandbox_support import Clock

ORDERS_URL = KITE_ROOT + "/orders"
INTERVAL = 20
FAULT_START, FAULT_END, RUN_UNTIL = 100, 400, 700


def _json_error(status, error_type, message):
    return {"status": status, "json": {"status": "error", "error_type": error_type, "message": message}}


FAULTS = {
    "timeout": {"body": requests.ReadTimeout("read timed out")},
    "connection-refused": {"body": requests.ConnectionError("[Errno 111] Connection refused")},
    "server-error": _json_error(500, "GeneralException", "Internal server error"),
    "rate-limit-storm": _json_error(429, "NetworkException", "Too many requests"),
    "html-error-page": {"status": 503, "body": "<html><title>503</title>nginx</html>", "content_type": "text/html"},
    "no-content-type": {"status": 200, "body": '{"status": "success", "data": []}', "content_type": ""},
    "malformed-json": {
        "status": 200,
        "body": '{"status": "success", "data": [{"order',
        "content_type": "application/json",
    },
}


def order(status, filled=0):
    return {
        "order_id": "5001",
        "status": status,
        "filled_quantity": filled,
        "quantity": 10,
        "transaction_type": "BUY",
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "order_type": "LIMIT",
        "average_price": 1500.0 if filled else 0,
    }


class FaultyKite:
    """GET /orders: the order book at the simulated time, unless a fault is active."""

    def __init__(self, clock, fault):
        self.clock, self.fault, self.start = clock, fault, clock.now
        self.requests = []

    def elapsed(self):
        return (self.clock.now - self.start).total_seconds()

    def install(self, mock):
        mock.add_callback(responses.GET, ORDERS_URL, callback=self.answer)

    def answer(self, request):
        self.requests.append(self.elapsed())
        if FAULT_START <= self.elapsed() < FAULT_END:
            spec = FAULTS[self.fault]
            if "body" in spec and isinstance(spec["body"], Exception):
                raise spec["body"]
            if "json" in spec:
                return spec["status"], {"Content-Type": "application/json"}, json.dumps(spec["json"])
            headers = {"Content-Type": spec["content_type"]} if spec["content_type"] else {}
            return spec["status"], headers, spec["body"]

        book = [order("OPEN")] if self.elapsed() < 200 else [order("COMPLETE", 10)]  # fills during the fault
        return 200, {"Content-Type": "application/json"}, json.dumps({"status": "success", "data": book})


@pytest.fixture
def clock():
    return Clock(ist(2026, 11, 20, 10, 0))


@pytest.mark.parametrize("fault", FAULTS)
def test_order_check_survives_and_recovers_from(fault, settings, store, clock, caplog):
    caplog.set_level(logging.INFO)
    store.save(make_session(login_time=ist(2026, 11, 20, 9, 0)))
    api = KiteAPI(settings, clock=clock, retry=FAST_RETRY, limiters=kite_limiters())
    notifier = RecordingNotifier()
    outbox = Notifications([notifier], settings.order_database_file, clock=clock)
    watcher = OrderWatcher(api, OrderEvents(settings.order_database_file, outbox=outbox, clock=clock), clock)
    kite = FaultyKite(clock, fault)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        kite.install(mock)
        attempts = []
        while kite.elapsed() <= RUN_UNTIL:  # the scheduler fires every INTERVAL, whatever happens
            before = len(kite.requests)
            watcher.poll_and_announce()
            if len(kite.requests) > before:
                attempts.append(kite.elapsed())
            clock.advance(INTERVAL)

    messages = [r.getMessage() for r in caplog.records]
    failures = [m for m in messages if m.startswith("Order check failed")]
    assert len(failures) == 1, failures  # one line per fault, not one per poll
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == failures  # and no other warning about it
    assert "next attempt in" in failures[0]
    assert sum(m.startswith("Order check recovered") for m in messages) == 1

    during = [t for t in attempts if FAULT_START <= t < FAULT_END]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert gaps == sorted(gaps) and max(gaps) <= MAX_BACKOFF_SECONDS  # backs off, capped
    first_after = min(t for t in attempts if t >= FAULT_END)
    assert first_after - FAULT_END <= MAX_BACKOFF_SECONDS
    assert watcher.last_outcome.ok  # recovered at that first attempt
    assert all(b - a == INTERVAL for a, b in itertools.pairwise(attempts[-3:]))  # normal pace again

    outbox.deliver_due()
    texts = [n["text"] for n in notifier.sent]
    assert [t.split(":")[0] for t in texts] == ["Order 5001 placed", "Order 5001 COMPLETE"]  # none lost, none twice
    print(
        f"{fault}: {len(during)} attempts during a {FAULT_END - FAULT_START} s fault, gaps {gaps}, "
        f"recovered {first_after - FAULT_END:.0f} s after it cleared"
    )


def test_token_exception_mid_day_pauses_until_the_next_login(settings, store, clock, caplog):
    caplog.set_level(logging.INFO)
    store.save(make_session("morning-token", login_time=ist(2026, 11, 20, 9, 0)))
    api = KiteAPI(settings, clock=clock, retry=FAST_RETRY, limiters=kite_limiters())
    watcher = OrderWatcher(api, OrderEvents(settings.order_database_file, clock=clock), clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(
            responses.GET, ORDERS_URL, **_json_error(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        )
        for _ in range(10):
            watcher.poll_and_announce()
            clock.advance(INTERVAL)
        token_calls = len(mock.calls)
        mock.replace(responses.GET, ORDERS_URL, json={"status": "success", "data": [order("OPEN")]})
        store.save(make_session("afternoon-token", login_time=ist(2026, 11, 20, 13, 0)))
        watcher.poll_and_announce()
    messages = [r.getMessage() for r in caplog.records]
    assert token_calls == 1  # after Kite rejected the token, no more calls with it
    assert sum(m.startswith("Order check paused") for m in messages) == 1
    assert sum(m.startswith("Order check resumed") for m in messages) == 1
    assert watcher.last_outcome.ok
