"""The notification outbox: order events and reminders, delivered to every notifier at least once.

`publish()` only appends to the outbox (a JSON file, so a restart resends what was not delivered)
and wakes the delivery thread; it never waits on the network, so the scheduler and the postback
endpoint are never held up by a notifier that is down. Each notifier has its own backoff
(5 s doubling to 5 min); a failure streak is logged once, and so is the recovery.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from atomic_file import read_json, write_json_atomic
from clock import now_ist
from notifiers import SEND_TIMEOUT_SECONDS, NotifierError

log = logging.getLogger("kite_app.notify")

FIRST_BACKOFF_SECONDS = 5
MAX_BACKOFF_SECONDS = 300
MAX_AGE = timedelta(hours=24)
MAX_REMEMBERED_IDS = 20000
IDLE_WAIT_SECONDS = 60


@dataclass
class _NotifierHealth:
    failures: int = 0
    next_attempt: datetime | None = None
    cause: str | None = None


class Notifications:
    """Outbox plus delivery thread for a list of notifiers (each with `name` and `send(dict)`)."""

    def __init__(self, notifiers: list, outbox_file: Path, clock=now_ist):
        self.notifiers = list(notifiers)
        self._outbox_file = Path(outbox_file)
        self._clock = clock
        self._lock = threading.Lock()
        self._health = {n.name: _NotifierHealth() for n in self.notifiers}
        self._pending = None  # [{"notification": {...}, "waiting_for": [names]}]
        self._delivered = None  # ids already delivered everywhere (bounded)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = None

    @property
    def pending_count(self) -> int:
        with self._lock:
            self._load()
            return len(self._pending)

    def publish(self, notification: dict) -> bool:
        """Queue a notification (needs "id" and "text"); False if that id was queued before."""
        with self._lock:
            self._load()
            known = {item["notification"]["id"] for item in self._pending}
            if notification["id"] in known or notification["id"] in self._delivered:
                return False
            entry = {"notification": notification, "waiting_for": [n.name for n in self.notifiers]}
            entry["queued_at"] = self._clock().isoformat()
            self._pending.append(entry)
            self._save()
        self._wake.set()
        return True

    def deliver_due(self) -> float:
        """Try every notifier whose backoff has passed; returns seconds until the next attempt is due."""
        for notifier in self.notifiers:
            while self._deliver_next(notifier):
                pass
        return self._seconds_until_due()

    # -- the delivery thread ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery thread (idempotent); only the service entry point calls this."""
        if self._thread is not None or not self.notifiers:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="kite-app-notifications", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2 * SEND_TIMEOUT_SECONDS) -> None:
        """Stop after the delivery in progress; undelivered notifications stay in the outbox file."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                wait = self.deliver_due()
            except Exception:
                log.exception("Notification delivery failed unexpectedly; trying again in a minute")
                wait = IDLE_WAIT_SECONDS
            self._wake.wait(timeout=wait)

    # -- one delivery -------------------------------------------------------------------------------

    def _deliver_next(self, notifier) -> bool:
        """Send the oldest notification waiting for `notifier`; False when there is nothing (due) to send."""
        health = self._health[notifier.name]
        with self._lock:
            self._load()
            now = self._clock()
            if health.next_attempt is not None and now < health.next_attempt:
                return False
            self._drop_stale(now)
            entry = next((e for e in self._pending if notifier.name in e["waiting_for"]), None)
            if entry is None:
                return False
            notification = entry["notification"]
        try:
            notifier.send(notification)  # outside the lock: publish() must never wait on the network
        except NotifierError as exc:
            self._record_failure(notifier.name, health, exc)
            return False
        with self._lock:
            entry["waiting_for"].remove(notifier.name)
            if not entry["waiting_for"]:
                self._pending.remove(entry)
                self._remember_delivered(notification["id"])
            self._save()
        if health.failures:
            log.info("Notifications via %s delivered again after %d failed attempt(s)", notifier.name, health.failures)
        health.failures, health.next_attempt, health.cause = 0, None, None
        return True

    def _record_failure(self, name: str, health: _NotifierHealth, exc: NotifierError) -> None:
        health.failures += 1
        backoff = min(FIRST_BACKOFF_SECONDS * 2 ** (health.failures - 1), MAX_BACKOFF_SECONDS)
        if exc.retry_after is not None:
            backoff = min(max(backoff, exc.retry_after), MAX_BACKOFF_SECONDS)
        health.next_attempt = self._clock() + timedelta(seconds=backoff)
        cause = str(exc)
        if cause != health.cause:
            log.warning("Notification via %s failed: %s; retrying with backoff (up to 5 min)", name, cause)
            health.cause = cause

    def _seconds_until_due(self) -> float:
        with self._lock:
            waiting = {name for e in self._pending for name in e["waiting_for"]}
        now = self._clock()
        due = [
            max(0.0, (self._health[name].next_attempt - now).total_seconds())
            for name in waiting
            if self._health[name].next_attempt is not None
        ]
        return min(due) if due else IDLE_WAIT_SECONDS

    # -- the outbox file ------------------------------------------------------------------------------

    def _load(self) -> None:
        if self._pending is not None:
            return
        try:
            data = read_json(self._outbox_file)
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError):
            log.warning("%s is unreadable; undelivered notifications from before are lost", self._outbox_file)
            data = {}
        names = {n.name for n in self.notifiers}
        self._pending = []
        for entry in data.get("pending", []) if isinstance(data, dict) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("notification"), dict):
                continue
            waiting = [name for name in entry.get("waiting_for", []) if name in names]
            if waiting:
                self._pending.append({**entry, "waiting_for": waiting, "queued_at": _timestamp(entry, self._clock)})
        self._delivered = list(data.get("delivered", [])) if isinstance(data, dict) else []
        if self._pending:
            log.info("%d undelivered notification(s) from before the restart will be sent", len(self._pending))

    def _save(self) -> None:
        write_json_atomic(self._outbox_file, {"pending": self._pending, "delivered": self._delivered})

    def _remember_delivered(self, notification_id: str) -> None:
        self._delivered.append(notification_id)
        del self._delivered[:-MAX_REMEMBERED_IDS]

    def _drop_stale(self, now: datetime) -> None:
        fresh = [e for e in self._pending if now - datetime.fromisoformat(e["queued_at"]) <= MAX_AGE]
        if len(fresh) != len(self._pending):
            log.warning("Dropped %d notification(s) undelivered for 24 hours", len(self._pending) - len(fresh))
            self._pending = fresh
            self._save()


def _timestamp(entry: dict, clock) -> str:
    try:
        return datetime.fromisoformat(entry["queued_at"]).isoformat()
    except (KeyError, TypeError, ValueError):
        return clock().isoformat()
