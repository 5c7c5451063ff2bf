"""The service's order stream against the sandbox's ticker: updates as they happen, drops, refusals, logins."""

import threading
import time
from datetime import timedelta

import pytest
import requests

from conftest import RecordingNotifier, make_session
from kite_sandbox.server import create_sandbox_app
from kite_sandbox.ticker import TickerServer
from kite_service.config.settings import load_settings
from kite_service.login.session_store import SessionStore
from kite_service.notifications.outbox import Notifications
from kite_service.orders import stream as order_stream
from kite_service.orders.events import OrderEvents
from kite_service.ticker import upstream
from sandbox_support import place_market_buy


@pytest.fixture
def sandbox_app(demo, running_clock):
    return create_sandbox_app(demo, clock=running_clock, enforce_rate_limits=False)  # the stream waits on sockets


@pytest.fixture
def ticker(sandbox_app, sandbox_root):
    server = TickerServer(sandbox_app.extensions["kite_sandbox"], "127.0.0.1", 0).start()
    yield server
    server.close()


@pytest.fixture
def stream_parts(tmp_path, demo, ticker, official_kite, running_clock):
    """An OrderStream on temporary files, with the official client's session saved as the service would;
    the sandbox, the stream and the order events share one clock."""
    store = SessionStore(tmp_path / "session.json")
    store.save(make_session(official_kite.access_token, login_time=running_clock(), api_key=demo.api_key))
    notifier = RecordingNotifier()
    outbox = Notifications([notifier], tmp_path / "orders.sqlite3")
    events = OrderEvents(tmp_path / "orders.sqlite3", outbox=outbox, clock=running_clock)
    events.notifier = notifier
    settings = load_settings({"KITE_TICKER_URL": ticker.url})
    stream = order_stream.OrderStream(settings, demo.api_key, store, events, clock=running_clock)
    yield stream, store, events
    stream.stop()


def delivered(events) -> list:
    """The ids the notifier has received through the real outbox."""
    events._outbox.deliver_due()
    return [n["id"] for n in events.notifier.sent]


def wait_while_progressing(count, target: int, stall: float = 10.0) -> bool:
    """Wait until count() reaches `target` for as long as it keeps growing: False once it stands still
    for `stall` seconds. A busy machine (a whole suite, a faked clock) makes it slower, not wrong."""
    last, since = count(), time.monotonic()
    while last < target:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall:
            return False
    return True


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_updates_arrive_as_they_happen_and_each_is_announced_once(stream_parts, official_kite, caplog):
    stream, _store, events = stream_parts
    caplog.set_level("INFO", logger="kite_app.orders")
    stream.start()
    assert wait_until(lambda: stream.state.state == "connected")
    order_id = place_market_buy(official_kite)
    assert wait_until(lambda: events.status_counts().get("COMPLETE") == 1)
    lines = [r.getMessage() for r in caplog.records if r.name == "kite_app.orders" and order_id in r.getMessage()]
    # Kite streams an order's final status and its updates, not the OPEN it passes through (postbacks.py)
    assert len(lines) == 1 and lines[0].startswith(f"Order {order_id} COMPLETE")
    events.observe(official_kite.orders(), source="poll")  # the poll brings the same news: nothing new
    assert [r.getMessage() for r in caplog.records if order_id in r.getMessage()] == lines


def test_a_dropped_connection_is_replaced_and_nothing_is_lost(stream_parts, official_kite, ticker):
    stream, _store, events = stream_parts
    stream.start()
    assert wait_until(lambda: stream.state.state == "connected")
    assert wait_until(
        lambda: ticker.open_connections == 1
    )  # the client hears "connected" before the server's handler runs
    assert ticker.drop_all() == 1
    assert wait_until(lambda: stream.state.state in ("reconnecting", "connecting"), timeout=5)
    assert wait_until(lambda: stream.state.state == "connected", timeout=10)
    place_market_buy(official_kite)
    assert wait_until(lambda: events.status_counts().get("COMPLETE") == 1)


def test_a_restarted_ticker_loses_nothing_and_the_stream_comes_back(
    stream_parts, sandbox_app, official_kite, ticker, caplog
):
    """Kite's ticker goes away (a restart): the fill while it is down comes from the poll, the next from the stream."""
    stream, _store, events = stream_parts
    caplog.set_level("INFO", logger="kite_app.orders")
    stream.start()
    assert wait_until(lambda: stream.state.state == "connected")
    ticker.close()  # every connection closed, nothing listening
    assert wait_until(lambda: stream.state.state != "connected", timeout=5)
    while_down = place_market_buy(official_kite)
    assert wait_until(lambda: official_kite.order_history(while_down)[-1]["status"] == "COMPLETE")
    assert events.status_counts().get("COMPLETE") is None  # nothing heard: the stream is down
    events.observe(official_kite.orders(), source="poll")
    assert events.status_counts().get("COMPLETE") == 1
    restarted = TickerServer(sandbox_app.extensions["kite_sandbox"], "127.0.0.1", ticker.port).start()
    try:
        assert wait_until(lambda: stream.state.state == "connected", timeout=40)  # within the capped backoff
        after = place_market_buy(official_kite)
        assert wait_until(lambda: events.status_counts().get("COMPLETE") == 2)
        events.observe(official_kite.orders(), source="poll")  # the safety net brings nothing new
    finally:
        restarted.close()
    completes = [r.getMessage() for r in caplog.records if " COMPLETE" in r.getMessage()]
    assert len(completes) == 2  # each announced once
    assert completes[0].startswith(f"Order {while_down} COMPLETE") and completes[1].startswith(
        f"Order {after} COMPLETE"
    )


def test_a_silent_connection_is_replaced(stream_parts, monkeypatch):
    stream, *_ = stream_parts
    monkeypatch.setattr(upstream, "SILENCE_SECONDS", 0.5)  # the sandbox's heartbeat comes every second
    stream.start()
    assert wait_until(lambda: stream.state.state == "connected")
    assert wait_until(lambda: stream.state.state == "reconnecting", timeout=5)


def test_a_refused_token_waits_for_the_next_login(stream_parts, official_kite, sandbox_root, demo, running_clock):
    stream, store, events = stream_parts
    stream.start()
    assert wait_until(lambda: stream.state.state == "connected")
    control = f"{sandbox_root}/sandbox/control/expire-sessions"
    requests.post(control, json={"api_secret": demo.api_secret}, timeout=5).raise_for_status()
    # Kite ends the connection of an expired token, and refuses the reconnect with 403.
    assert wait_until(lambda: stream.state.state == "waiting for login", timeout=10)
    from sandbox_support import official_client_login

    fresh = official_client_login(sandbox_root, demo)  # the owner logs in again
    store.save(make_session(fresh.access_token, login_time=running_clock(), api_key=demo.api_key))
    assert wait_until(lambda: stream.state.state == "connected", timeout=10)
    place_market_buy(fresh)
    assert wait_until(lambda: events.status_counts().get("COMPLETE") == 1)


def test_the_access_token_is_never_logged(stream_parts, official_kite, tmp_path):
    import logging

    import log_utils

    handler = log_utils.setup_logging(tmp_path / "logs", level=logging.DEBUG, console=False)
    try:
        stream, *_ = stream_parts
        stream.start()
        assert wait_until(lambda: stream.state.state == "connected")
        stream.stop()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    text = "".join(path.read_text() for path in (tmp_path / "logs").glob("*.log"))
    assert "Order stream connected" in text and "Order stream lost" not in text  # stop() loses nothing
    assert official_kite.access_token not in text


@pytest.mark.e2e  # the service as its own process, on the machine's clock
def test_the_service_announces_an_order_from_the_stream_long_before_the_next_poll(tmp_path):
    from service_support import start_service

    service = start_service(tmp_path, extra_env={"ORDER_POLL_SECONDS": "60"})
    try:
        service.login()
        requests.post(
            f"{service.sandbox_url}/sandbox/control/postbacks",
            json={"api_secret": service.demo["api_secret"], "enabled": False},  # no public address: no postbacks
            timeout=5,
        ).raise_for_status()
        assert wait_until(lambda: service.health()["order_stream"]["state"] == "connected", timeout=10)
        started = time.monotonic()
        order_id = place_market_buy(service.kite_api())
        service.wait_for_log(rf"Order {order_id} COMPLETE", timeout=10)  # the fill comes 2 s after placing
        took = time.monotonic() - started
        health = service.health()
    finally:
        service.stop()
    assert took < 10  # the next poll was a minute away
    assert health["order_stream"]["last_heard"] is not None
    assert service.log().count(f"Order {order_id} COMPLETE") == 1


def test_a_burst_of_1000_order_updates_with_a_drop_loses_and_doubles_nothing(
    stream_parts, sandbox_app, official_kite, ticker, caplog
):
    """1,000 updates (cancellations) in a burst, the connection dropping halfway: the poll fills the gap."""
    stream, _store, events = stream_parts
    caplog.set_level("INFO", logger="kite_app.orders")
    stream.start()
    assert wait_until(lambda: stream.state.state == "connected")
    book, market = sandbox_app.extensions["kite_sandbox"].book, sandbox_app.extensions["kite_sandbox"].market
    lowest = market.circuit_limits(market.by_symbol("NSE", "RELIANCE"))[0]  # a buy there rests all day
    order = {"exchange": "NSE", "tradingsymbol": "RELIANCE", "transaction_type": "BUY", "quantity": "1"}
    order |= {"product": "MIS", "order_type": "LIMIT", "price": str(lowest)}
    resting = [book.place("regular", order) for _ in range(1000)]  # Kite streams nothing for an order opening
    for order_id in resting[:500]:
        book.cancel("regular", order_id)
    assert wait_while_progressing(lambda: events.watched_count, 500)  # all 500 over the stream
    assert events.watched_count == 500
    ticker.drop_all()
    assert wait_until(lambda: stream.state.state != "connected", timeout=5)
    for order_id in resting[500:]:  # sent while the stream reconnects (after 1 s): lost to it, as at Kite
        book.cancel("regular", order_id)
    assert wait_until(lambda: stream.state.state == "connected", timeout=10)
    time.sleep(0.5)  # anything the new connection brings
    heard_on_stream = events.watched_count
    assert 500 <= heard_on_stream < 1000  # the drop really lost updates: the poll has a gap to fill
    events.observe(official_kite.orders(), source="poll")  # the safety net
    announced = [
        r.getMessage().split(":")[0]
        for r in caplog.records
        if r.name == "kite_app.orders" and r.getMessage().split(":")[0].endswith(" CANCELLED")
    ]
    ids = delivered(events)
    print(
        f"\nburst: 1,000 cancellations; {heard_on_stream} heard on the stream, the rest by the poll; "
        f"{len(announced)} announced, {len(announced) - len(set(announced))} twice; {len(ids)} delivered"
    )
    assert len(announced) == len(set(announced)) == 1000
    assert sorted(ids) == sorted(f"order:{order_id}:CANCELLED:0" for order_id in resting)


def test_an_unexpected_error_restarts_the_stream_and_shows_in_its_state(stream_parts, official_kite, caplog):
    """Odd data that makes the handler raise (a bug) does not end the thread: it is logged, and the stream
    comes back; the update it was handling is left to the order check."""
    stream, _store, events = stream_parts
    original, calls = events.observe, []

    def explode_once(orders, source):
        calls.append(source)
        if len(calls) == 1:
            raise TypeError("unexpected data")
        return original(orders, source)

    events.observe = explode_once
    stream.start()
    assert wait_until(lambda: stream.state.state == "connected")
    place_market_buy(official_kite)
    assert wait_until(lambda: stream.state.restarts == 1, timeout=10)
    assert stream.state.last_error.startswith("TypeError at ")
    assert any("Order stream failed unexpectedly (TypeError)" in r.getMessage() for r in caplog.records)
    assert wait_until(lambda: stream.state.state == "connected", timeout=10)
    place_market_buy(official_kite)
    assert wait_until(lambda: events.status_counts().get("COMPLETE") == 1)
    assert stream._thread.is_alive() and stream.state.healthy


class SilentSocket:
    """A connection on which Kite sends nothing at all (not even heartbeats) until it is closed."""

    def __init__(self, *_args, **_kwargs):
        self.closed = threading.Event()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.closed.set()

    def recv(self, timeout=None):
        if self.closed.wait(timeout):
            raise ConnectionError("closed")
        raise TimeoutError

    def close(self):
        self.closed.set()


@pytest.mark.parametrize("end", ["logout", "06:00"])
def test_a_logout_or_the_06_00_expiry_ends_even_a_silent_connection_within_seconds(tmp_path, end, running_clock):
    store = SessionStore(tmp_path / "session.json")
    session = make_session(login_time=running_clock())
    store.save(session)
    moved = {"by": timedelta(0)}
    stream = order_stream.OrderStream(
        load_settings({}), "testapikey1", store, None, clock=lambda: running_clock() + moved["by"], opener=SilentSocket
    )
    stream.start()
    try:
        assert wait_until(lambda: stream.state.state == "connected")
        started = time.monotonic()
        if end == "logout":
            store.clear()  # what a logout does to session.json
        else:
            moved["by"] = session.expires - running_clock()  # the clock reaches 06:00 IST
        assert wait_until(lambda: stream.state.state == "waiting for login", timeout=order_stream.SILENCE_SECONDS - 1)
        print(f"\n{end}: the stream stopped {time.monotonic() - started:.2f} s later, with nothing received")
    finally:
        stream.stop()


def test_a_logout_while_the_connection_opens_is_seen_at_once(tmp_path, running_clock):
    # The logout lands after session.json was read but before the connection is up: the stream
    # must still notice it, not carry on with a dead token until the silence runs out.
    store = SessionStore(tmp_path / "session.json")
    store.save(make_session(login_time=running_clock()))

    class LoggedOutWhileOpening(SilentSocket):
        def __enter__(self):
            store.clear()
            return self

    stream = order_stream.OrderStream(
        load_settings({}), "testapikey1", store, None, clock=running_clock, opener=LoggedOutWhileOpening
    )
    seen = []
    stream.start()
    try:
        started = time.monotonic()
        assert wait_until(lambda: seen.append(stream.state.state) or stream.state.state == "waiting for login")
        assert time.monotonic() - started < order_stream.SILENCE_SECONDS - 1
        assert "reconnecting" not in seen  # ended on purpose, not replaced as silent
    finally:
        stream.stop()
