"""The background scheduler: the order check every 20 s and maintenance every hour.

Only kite_app.main() starts it. A file lock beside session.json makes sure that one data
folder never has two schedulers, whether from a second process or a reloader child.
"""

import logging
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from filelock import FileLock, Timeout

from kite_service.clock import IST

log = logging.getLogger("kite_app.scheduler")

ORDER_CHECK_JOB_ID = "order_status_check"
MAINTENANCE_JOB_ID = "hourly_maintenance"
LOGIN_REMINDER_JOB_ID = "login_reminder"
# A running order check is waited for this long at stop: four attempts of one GET at the default
# KITE_TIMEOUT of 7 s with their backoff take 31.5 s (deploy/kite-app.service adds up the parts).
STOP_TIMEOUT_SECONDS = 35


def build_scheduler(
    order_check, maintenance, poll_seconds: float = 20, login_reminder=None, reminder_time=None
) -> BackgroundScheduler:
    """A configured, not yet started scheduler: order check, maintenance and (optionally) the login reminder."""
    scheduler = BackgroundScheduler(
        timezone=IST,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 15},
    )
    scheduler.add_job(
        order_check,
        IntervalTrigger(seconds=poll_seconds, timezone=IST),
        id=ORDER_CHECK_JOB_ID,
        name="order status check",
        replace_existing=True,
        misfire_grace_time=max(1, int(poll_seconds * 0.75)),
    )
    scheduler.add_job(
        maintenance,
        IntervalTrigger(hours=1, timezone=IST),
        id=MAINTENANCE_JOB_ID,
        name="hourly maintenance",
        replace_existing=True,
        misfire_grace_time=300,
    )
    if login_reminder is not None and reminder_time is not None:
        scheduler.add_job(
            login_reminder,
            CronTrigger(hour=reminder_time.hour, minute=reminder_time.minute, timezone=IST),
            id=LOGIN_REMINDER_JOB_ID,
            name="login reminder",
            replace_existing=True,
            misfire_grace_time=1800,
        )
    return scheduler


class SkippedRunsFilter(logging.Filter):
    """Drops APScheduler's warning for each run skipped while the previous one still runs.

    A slow order check (Kite timing out) would otherwise add a warning every interval on top of
    the one line the order check itself logs for the fault.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


class SchedulerRunner:
    """Starts the scheduler at most once per data folder and stops it cleanly."""

    def __init__(self, scheduler: BackgroundScheduler, lock_file):
        self.scheduler = scheduler
        self._lock = FileLock(str(lock_file))

    @property
    def running(self) -> bool:
        return self.scheduler.running

    def start(self) -> bool:
        """Start unless another scheduler holds the lock; returns whether this one runs."""
        if self.scheduler.running:
            return True
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            log.warning("Another Kite App scheduler is already running on this data folder; not starting a second")
            return False
        apscheduler_log = logging.getLogger("apscheduler.scheduler")
        if not any(isinstance(f, SkippedRunsFilter) for f in apscheduler_log.filters):
            apscheduler_log.addFilter(SkippedRunsFilter())
        self.scheduler.start()
        log.info("Scheduler started: order check every %s, maintenance hourly", _interval(self.scheduler))
        return True

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Wait for running jobs (at most `timeout` seconds), then release the lock.

        An order check that outlasts the wait (a Kite answer trickling in, byte by byte) is left
        behind: its changes are saved whole or not at all, and the next start finds them again."""
        if self.scheduler.running:
            shutdown = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True)
            shutdown.start()
            shutdown.join(timeout)
            if shutdown.is_alive():
                log.warning("Scheduler stopped without waiting longer than %g s for a running job", timeout)
            else:
                log.info("Scheduler stopped")
        if self._lock.is_locked:
            self._lock.release()


def _interval(scheduler) -> str:
    job = scheduler.get_job(ORDER_CHECK_JOB_ID)
    return f"{job.trigger.interval.total_seconds():g} s" if job else "?"
