"""GET /health (public, no secrets) and GET /api/status (behind the code)."""

from datetime import datetime

from conftest import ACCESS_CODE, API_SECRET, ist, make_session
from kite_service.orders.watch import PollOutcome


def test_health_needs_no_code_and_reports_a_missing_session(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "up",
        "ready": False,
        "problems": [
            "Kite session missing: log in at /login",
            "order check not running (started without the scheduler, or another process runs it)",
        ],
        "session": {"state": "missing", "expires_at": None},
        "scheduler": {"running": False},
        "last_order_check": None,
        "order_stream": {"state": "off", "last_heard": None, "restarts": 0, "last_error": None},
        "ticker_hub": {"upstream": [], "clients": []},
    }


def test_health_reports_session_expiry_and_the_last_order_check_without_the_user(app, client, logged_in):
    context = app.extensions["kite_app"]
    context.watcher.last_outcome = PollOutcome(ist(2026, 11, 20, 10, 0, 20), True, "3 orders")
    body = client.get("/health").get_json()
    assert body["session"] == {"state": "valid", "expires_at": logged_in.expires_at}
    assert body["last_order_check"] == {"at": "2026-11-20T10:00:20+05:30", "ok": True, "outcome": "ok"}
    text = client.get("/health").get_data(as_text=True)
    assert logged_in.user_id not in text and logged_in.access_token not in text


def test_health_is_ready_only_with_a_valid_session_and_a_running_scheduler(app, client, logged_in):
    runner = app.extensions["kite_app"].runner
    assert client.get("/health").get_json()["ready"] is False
    runner.start()
    try:
        assert client.get("/health").get_json()["ready"] is True
        assert client.get("/health").get_json()["scheduler"] == {"running": True}
    finally:
        runner.stop()


def test_health_is_not_ready_while_the_order_check_is_paused_or_failing(app, client, logged_in):
    context = app.extensions["kite_app"]
    context.runner.start()
    try:
        assert client.get("/health").get_json()["ready"] is True
        # The session file still looks valid, but Kite refused the token (a sandbox restart, say).
        context.watcher.last_outcome = PollOutcome(context.clock(), False, "no usable session")
        body = client.get("/health").get_json()
        assert body["ready"] is False and body["session"]["state"] == "valid"
        assert body["last_order_check"]["outcome"] == "paused: no usable session"
        assert body["problems"] == ["order check paused: Kite refused the saved session; log in at /login"]
        context.watcher.last_outcome = PollOutcome(context.clock(), True, "3 orders")
        assert client.get("/health").get_json()["ready"] is True
    finally:
        context.runner.stop()


def test_health_says_expired(client, store):
    store.save(make_session(login_time=datetime(2026, 1, 5, 9, 0)))
    assert client.get("/health").get_json()["session"]["state"] == "expired"


def test_status_needs_the_code(client):
    assert client.get("/api/status").status_code == 401


def test_status_adds_user_order_counts_and_notifications(app, client, logged_in):
    context = app.extensions["kite_app"]
    context.events.observe(
        [{"order_id": "1", "status": "OPEN"}, {"order_id": "2", "status": "REJECTED", "status_message": "No margin"}],
        source="poll",
    )
    context.watcher.last_outcome = PollOutcome(ist(2026, 11, 20, 10, 0), False, f"TokenException: {API_SECRET}")
    body = client.get("/api/status", headers={"X-Access-Code": ACCESS_CODE}).get_json()
    assert body["session"]["user_id"] == logged_in.user_id and body["session"]["state"] == "valid"
    assert body["orders"] == {"watched_today": 2, "by_status": {"OPEN": 1, "REJECTED": 1}, "events_today": 2}
    assert body["notifications"] == {"notifiers": [], "pending": 0}
    assert body["last_order_check"]["outcome"] == "failed"
    assert body["last_order_check"]["detail"].startswith("TokenException: ")
    text = client.get("/api/status", headers={"X-Access-Code": ACCESS_CODE}).get_data(as_text=True)
    assert API_SECRET not in text and logged_in.access_token not in text and ACCESS_CODE not in text


def test_health_is_not_ready_while_every_order_check_fails_to_save(app, client, logged_in, kite, monkeypatch):
    """A read-only data folder: Kite answers, but the order state cannot be written."""
    import responses

    from conftest import KITE_ROOT, recorded
    from kite_service.errors import StorageError
    from kite_service.orders.database import OrderDatabase

    context = app.extensions["kite_app"]
    kite.add(responses.GET, KITE_ROOT + "/orders", json=recorded("orders.json"))

    def read_only(self):
        raise StorageError(
            "Could not write the order database (OperationalError: attempt to write a readonly database)"
        )

    monkeypatch.setattr(OrderDatabase, "transaction", read_only)
    context.runner.start()
    try:
        assert context.watcher.poll_and_announce() == []
        body = client.get("/health").get_json()
    finally:
        context.runner.stop()
    assert body["ready"] is False and body["last_order_check"]["ok"] is False
    assert body["problems"] == ["order check failing: see /api/status or the log"]
    detail = client.get("/api/status", headers={"X-Access-Code": ACCESS_CODE}).get_json()["last_order_check"]
    assert "readonly database" in detail["detail"]


def test_health_is_not_ready_when_the_order_stream_thread_is_gone(app, client, logged_in):
    import threading

    context = app.extensions["kite_app"]
    context.runner.start()
    gone = threading.Thread(target=lambda: None)
    gone.start()
    gone.join()
    context.stream._thread = gone  # started, never stopped, no longer running
    try:
        body = client.get("/health").get_json()
    finally:
        context.stream._thread = None
        context.runner.stop()
    assert body["ready"] is False and body["order_stream"]["state"] == "dead"
    assert body["problems"] == ["order stream dead (thread ended)"]


def test_health_is_not_ready_when_the_order_check_has_stopped_running(app, client, logged_in):
    from datetime import timedelta

    context = app.extensions["kite_app"]
    context.runner.start()
    context.watcher.last_outcome = PollOutcome(context.clock() - timedelta(minutes=10), True, "3 orders")
    try:
        body = client.get("/health").get_json()
    finally:
        context.runner.stop()
    assert body["ready"] is False and body["problems"][0].startswith("order check has not run since ")
