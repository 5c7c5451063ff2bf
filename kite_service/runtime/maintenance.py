"""The hourly maintenance job: log retention, the 06:00 IST expiry warning, state pruning, heartbeat."""

import logging
from datetime import timedelta

from kite_service.clock import now_ist
from kite_service.errors import KiteAppError
from kite_service.gateway.audit import AUDIT_NAME
from kite_service.logs.files import purge_old_logs
from kite_service.storage.atomic_file import remove_stale_temp_files

log = logging.getLogger("kite_app.maintenance")

EXPIRY_WARNING_WINDOW = timedelta(hours=2)


class Maintenance:
    """Runs once an hour; each step is independent so one failure does not skip the others."""

    def __init__(self, settings, session_store, watcher, clock=now_ist):
        self._settings = settings
        self._store = session_store
        self._watcher = watcher
        self._clock = clock
        self._warned_for = None

    def run(self) -> None:
        now = self._clock()
        steps = (self._purge_logs, self._remove_stale_temp_files, self._warn_before_expiry, self._prune_orders)
        for step in (*steps, self._heartbeat):
            try:
                step(now)
            except KiteAppError as exc:  # expected trouble (an unreadable session.json, a full disk): one line
                log.warning("Maintenance step %s skipped: %s", step.__name__.strip("_"), exc)
            except Exception:
                log.exception("Maintenance step %s failed", step.__name__.strip("_"))

    def _purge_logs(self, now) -> None:
        removed = purge_old_logs(
            self._settings.log_dir,
            self._settings.log_retention_days,
            now.date(),
            max_bytes=self._settings.log_max_mb * 1024 * 1024,
        )
        if removed:
            log.info(
                "Deleted %d log file(s): older than %d days, or beyond %d MB of logs",
                len(removed),
                self._settings.log_retention_days,
                self._settings.log_max_mb,
            )
        settings = self._settings
        removed = purge_old_logs(
            settings.log_dir, settings.audit_retention_days, now.date(), settings.audit_max_mb * 1024 * 1024, AUDIT_NAME
        )
        if removed:
            log.info(
                "Deleted %d gateway audit file(s): older than %d days, or beyond %d MB of audit",
                len(removed),
                settings.audit_retention_days,
                settings.audit_max_mb,
            )

    def _remove_stale_temp_files(self, _now) -> None:
        removed = remove_stale_temp_files(self._settings.data_dir)
        if removed:
            log.warning("Removed %d temp file(s) left by an interrupted write", len(removed))

    def _warn_before_expiry(self, now) -> None:
        session = self._store.load()
        if session is None or session.is_expired(now) or self._warned_for == session.expires_at:
            return
        left = session.expires - now
        if left <= EXPIRY_WARNING_WINDOW:
            minutes = int(left.total_seconds() // 60)
            log.warning(
                "Kite session of %s expires at %s IST (in %d min); log in again after that",
                session.user_id,
                f"{session.expires:%H:%M}",
                minutes,
            )
            self._warned_for = session.expires_at

    def _prune_orders(self, now) -> None:
        self._watcher.events.prune(now)

    def _heartbeat(self, now) -> None:
        state = self._store.state(now)
        last = self._watcher.last_outcome
        poll = (
            "no order check yet"
            if last is None
            else (f"last order check {'ok' if last.ok else 'failed'} at {last.at:%H:%M:%S}")
        )
        log.info("Heartbeat: session %s; %d orders watched; %s", state, self._watcher.events.watched_count, poll)
