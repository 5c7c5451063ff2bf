"""The notification outbox: order events and reminders, delivered to every notifier at least once.

The outbox lives in the order database (orders/database.py): order events are queued in the same
transaction that saves the order state, reminders by `publish()`. Queuing never waits on the
network; the delivery thread sends, so the scheduler and the postback endpoint are never held up
by a notifier that is down. Each notifier has its own backoff (5 s doubling to 5 min); a failure
streak is logged once, and so is the recovery. A notification sent but not yet marked delivered
(the database could not be written) is not sent again by this process; only a crash in between
sends it twice, and it carries the same "id" both times.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from kite_service.clock import as_ist, now_ist
from kite_service.errors import StorageError
from kite_service.notifications.channels import SEND_TIMEOUT_SECONDS, NotifierError
from kite_service.orders.database import OrderDatabase

log = logging.getLogger("kite_app.notify")

FIRST_BACKOFF_SECONDS = 5
MAX_BACKOFF_SECONDS = 300
MAX_AGE = timedelta(hours=24)  # undelivered for this long: dropped
REMEMBER_IDS_FOR = timedelta(days=3)  # a delivered id is refused as a repeat for this long
IDLE_WAIT_SECONDS = 60
STALE_CHECK_SECONDS = 60


@dataclass
class _NotifierHealth:
    failures: int = 0
    next_attempt: datetime | None = None
    cause: str | None = None


class Notifications:
    """Outbox plus delivery thread for a list of notifiers (each with `name` and `send(dict)`)."""

    def __init__(self, notifiers: list, database: OrderDatabase | Path, clock=now_ist):
        self.notifiers = list(notifiers)
        self._names = [n.name for n in self.notifiers]
        self._database = database if isinstance(database, OrderDatabase) else OrderDatabase(database)
        self._clock = clock
        self._health = {n.name: _NotifierHealth() for n in self.notifiers}
        self._sent_unrecorded: dict = {}  # notifier name -> {seq}: sent, but not yet marked in the database
        self._stale_checked_at = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = None

    @property
    def pending_count(self) -> int:
        if not self.notifiers:
            return 0
        return self._database.pending_count(self._names)

    def queue(self, tx, notification: dict) -> bool:
        """Queue a notification (needs "id" and "text") inside the caller's transaction; False if
        that id was queued before. Call wake() once the transaction is committed."""
        if not self.notifiers:
            return False
        return self._database.queue(tx, notification, self._names, _stamp(self._clock()))

    def publish(self, notification: dict) -> bool:
        """Queue a notification in a transaction of its own and wake the delivery thread."""
        with self._database.transaction() as tx:
            queued = self.queue(tx, notification)
        self.wake()
        return queued

    def wake(self) -> None:
        self._wake.set()

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
        """Stop after the delivery in progress; undelivered notifications stay in the outbox."""
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
            except StorageError as exc:
                log.warning("Notification delivery waits for the order database: %s", exc)
                wait = FIRST_BACKOFF_SECONDS
            except Exception:
                log.exception("Notification delivery failed unexpectedly; trying again in a minute")
                wait = IDLE_WAIT_SECONDS
            self._wake.wait(timeout=wait)

    # -- one delivery -------------------------------------------------------------------------------

    def _deliver_next(self, notifier) -> bool:
        """Send the oldest notification waiting for `notifier`; False when there is nothing (due) to send."""
        health = self._health[notifier.name]
        now = self._clock()
        if health.next_attempt is not None and now < health.next_attempt:
            return False
        unrecorded = self._sent_unrecorded.setdefault(notifier.name, set())
        self._record_deliveries(notifier.name, unrecorded)
        self._drop_stale(now)
        found = self._database.next_for(notifier.name, skip=frozenset(unrecorded))
        if found is None:
            return False
        seq, notification, _queued_at = found
        try:
            notifier.send(notification)
        except NotifierError as exc:
            self._record_failure(notifier.name, health, exc)
            return False
        unrecorded.add(seq)
        self._record_deliveries(notifier.name, unrecorded)
        if health.failures:
            log.info("Notifications via %s delivered again after %d failed attempt(s)", notifier.name, health.failures)
        health.failures, health.next_attempt, health.cause = 0, None, None
        return True

    def _record_deliveries(self, name: str, unrecorded: set) -> None:
        """Mark sent notifications delivered; on a failed write they stay in memory and are not resent."""
        for seq in sorted(unrecorded):
            try:
                self._database.delivered(seq, name)
            except StorageError as exc:
                log.warning("Notification sent via %s but not marked delivered yet: %s", name, exc)
                return
            unrecorded.discard(seq)

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
        now = self._clock()
        due = [
            max(0.0, (health.next_attempt - now).total_seconds())
            for health in self._health.values()
            if health.next_attempt is not None
        ]
        return min(due) if due else IDLE_WAIT_SECONDS

    def _drop_stale(self, now: datetime) -> None:
        """At most once a minute: give up on notifications a day old, forget old delivered ids."""
        if self._stale_checked_at is not None and (now - self._stale_checked_at).total_seconds() < STALE_CHECK_SECONDS:
            return
        dropped = self._database.drop_undelivered_before(_stamp(now - MAX_AGE))
        if dropped:
            log.warning("Dropped %d notification delivery(ies) undelivered for 24 hours", dropped)
        self._database.forget_notifications_before(_stamp(now - REMEMBER_IDS_FOR))
        self._stale_checked_at = now


def _stamp(moment: datetime) -> str:
    """IST with microseconds always written: stamps of one form compare as strings in time order."""
    return as_ist(moment).isoformat(timespec="microseconds")
