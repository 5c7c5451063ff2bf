"""The notification outbox: at-least-once delivery, per-notifier backoff, nothing blocks publishers."""

import json
import threading
import time

import pytest
import requests
import responses

from conftest import ist
from kite_service.notifications.channels import NotifierError, TelegramNotifier, WebhookNotifier
from kite_service.notifications.outbox import Notifications
from sandbox_support import Clock

WEBHOOK = "http://hooks.test/kite"
TELEGRAM = "http://telegram.test"
BOT_TOKEN = "123456:telegram-bot-token-secret"


@pytest.fixture
def clock():
    return Clock(ist(2026, 11, 20, 10, 0))


@pytest.fixture
def outbox(tmp_path):
    return tmp_path / "orders.sqlite3"


def note(n=1):
    return {"id": f"order:{n}:COMPLETE:1", "event": "order_update", "text": f"Order {n} COMPLETE"}


def webhook_bodies(kite):
    return [json.loads(c.request.body) for c in kite.calls if c.request.url == WEBHOOK]


def test_a_notification_reaches_the_webhook_as_json(kite, outbox, clock):
    kite.add(responses.POST, WEBHOOK, json={"ok": True})
    center = Notifications([WebhookNotifier(WEBHOOK)], outbox, clock=clock)
    assert center.publish(note()) is True
    center.deliver_due()
    assert webhook_bodies(kite) == [note()]
    assert center.pending_count == 0


def test_the_same_event_is_delivered_once(kite, outbox, clock):
    kite.add(responses.POST, WEBHOOK, json={"ok": True})
    center = Notifications([WebhookNotifier(WEBHOOK)], outbox, clock=clock)
    assert center.publish(note()) and not center.publish(note())
    center.deliver_due()
    assert not center.publish(note())  # delivered before: still a duplicate
    center.deliver_due()
    assert len(webhook_bodies(kite)) == 1


def test_a_failing_webhook_backs_off_logs_once_and_recovers_in_order(kite, outbox, clock, caplog):
    caplog.set_level("INFO")
    kite.add(responses.POST, WEBHOOK, status=503)
    center = Notifications([WebhookNotifier(WEBHOOK)], outbox, clock=clock)
    center.publish(note(1))
    center.publish(note(2))
    waits = []
    for _ in range(4):  # 5 s, 10 s, 20 s, 40 s
        waits.append(center.deliver_due())
        clock.advance(waits[-1])
    assert waits == [5, 10, 20, 40]
    failures = [r for r in caplog.records if "Notification via webhook failed" in r.getMessage()]
    assert len(failures) == 1 and "HTTP 503" in failures[0].getMessage()
    kite.replace(responses.POST, WEBHOOK, json={"ok": True})
    center.deliver_due()
    assert [b["id"] for b in webhook_bodies(kite)][-2:] == [note(1)["id"], note(2)["id"]]
    assert any("delivered again after 4 failed attempt(s)" in r.getMessage() for r in caplog.records)
    assert center.pending_count == 0


def test_calls_before_the_backoff_has_passed_send_nothing(kite, outbox, clock):
    kite.add(responses.POST, WEBHOOK, status=500)
    center = Notifications([WebhookNotifier(WEBHOOK)], outbox, clock=clock)
    center.publish(note())
    center.deliver_due()
    clock.advance(2)
    center.deliver_due()
    assert len(kite.calls) == 1


def test_undelivered_notifications_survive_a_restart(kite, outbox, clock):
    kite.add(responses.POST, WEBHOOK, body=requests.ConnectionError("refused"))
    Notifications([WebhookNotifier(WEBHOOK)], outbox, clock=clock).publish(note())
    kite.replace(responses.POST, WEBHOOK, json={"ok": True})
    restarted = Notifications([WebhookNotifier(WEBHOOK)], outbox, clock=clock)
    assert restarted.pending_count == 1
    restarted.deliver_due()
    assert webhook_bodies(kite) == [note()]
    assert Notifications([WebhookNotifier(WEBHOOK)], outbox, clock=clock).pending_count == 0


def test_one_notifier_down_does_not_hold_back_or_repeat_the_other(kite, outbox, clock):
    kite.add(responses.POST, WEBHOOK, json={"ok": True})
    kite.add(responses.POST, f"{TELEGRAM}/bot{BOT_TOKEN}/sendMessage", status=502)
    telegram = TelegramNotifier(BOT_TOKEN, "42", api_base=TELEGRAM)
    center = Notifications([WebhookNotifier(WEBHOOK), telegram], outbox, clock=clock)
    center.publish(note())
    center.deliver_due()
    clock.advance(5)
    kite.replace(responses.POST, f"{TELEGRAM}/bot{BOT_TOKEN}/sendMessage", json={"ok": True})
    center.deliver_due()
    assert len(webhook_bodies(kite)) == 1
    sent = [json.loads(c.request.body) for c in kite.calls if "sendMessage" in c.request.url]
    assert sent[-1] == {"chat_id": "42", "text": "Order 1 COMPLETE", "disable_web_page_preview": True}
    assert center.pending_count == 0


def test_telegram_429_waits_as_long_as_telegram_asks(kite, outbox, clock):
    kite.add(
        responses.POST,
        f"{TELEGRAM}/bot{BOT_TOKEN}/sendMessage",
        status=429,
        json={"ok": False, "parameters": {"retry_after": 30}},
    )
    center = Notifications([TelegramNotifier(BOT_TOKEN, "42", api_base=TELEGRAM)], outbox, clock=clock)
    center.publish(note())
    assert center.deliver_due() == 30


def test_the_bot_token_never_appears_in_errors_or_logs(kite, outbox, clock, caplog, log_file):
    kite.add(responses.POST, f"{TELEGRAM}/bot{BOT_TOKEN}/sendMessage", body=requests.ConnectionError(BOT_TOKEN))
    telegram = TelegramNotifier(BOT_TOKEN, "42", api_base=TELEGRAM)
    with pytest.raises(NotifierError) as raised:
        telegram.send(note())
    assert BOT_TOKEN not in str(raised.value)
    center = Notifications([telegram], outbox, clock=clock)
    center.publish(note())
    center.deliver_due()
    assert "Notification via telegram failed: Telegram unreachable (ConnectionError)" in log_file()
    stored = b"".join(p.read_bytes() for p in outbox.parent.glob("orders.sqlite3*"))
    assert BOT_TOKEN not in log_file() and BOT_TOKEN.encode() not in stored


class BlockingNotifier:
    name = "slow"

    def __init__(self):
        self.release = threading.Event()
        self.sending = threading.Event()
        self.sent = []

    def send(self, notification):
        self.sending.set()
        self.release.wait(10)
        self.sent.append(notification["id"])


def test_publishing_never_waits_for_a_hanging_notifier(outbox):
    slow = BlockingNotifier()
    center = Notifications([slow], outbox)
    center.start()
    try:
        center.publish(note(1))
        assert slow.sending.wait(5)  # the delivery thread is stuck in send()
        started = time.monotonic()
        for n in range(2, 6):
            center.publish(note(n))
        assert time.monotonic() - started < 1.0
        assert center.pending_count == 5
        slow.release.set()
        deadline = time.monotonic() + 5
        while center.pending_count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        slow.release.set()
        center.stop()
    assert slow.sent == [note(n)["id"] for n in range(1, 6)]
