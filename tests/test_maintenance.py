"""The hourly maintenance job: log retention, the expiry warning, pruning, heartbeat."""

import pytest

from conftest import ist, make_session
from kite_service.orders.events import OrderEvents
from kite_service.orders.watch import OrderWatcher
from kite_service.runtime.maintenance import Maintenance


class StubWatcher:
    """A watcher whose event stream knows 3 orders and records prune calls."""

    watched_count = 3
    last_outcome = None

    def __init__(self):
        self.pruned = []
        self.events = self

    def prune(self, now):
        self.pruned.append(now)


@pytest.fixture
def run(settings, store):
    def run_at(moment, maintenance=None):
        maintenance = maintenance or Maintenance(settings, store, StubWatcher(), clock=lambda: moment)
        maintenance._clock = lambda: moment
        maintenance.run()
        return maintenance

    return run_at


def test_warns_once_before_the_0600_expiry(store, run, caplog):
    caplog.set_level("INFO")
    store.save(make_session(login_time=ist(2026, 11, 20, 9, 0)))
    maintenance = run(ist(2026, 11, 21, 3, 0))  # 3 h left: no warning yet
    assert not [r for r in caplog.records if "expires at" in r.getMessage()]
    run(ist(2026, 11, 21, 4, 30), maintenance)
    run(ist(2026, 11, 21, 5, 30), maintenance)
    warnings = [r.getMessage() for r in caplog.records if "expires at" in r.getMessage()]
    assert warnings == ["Kite session of XX0000 expires at 06:00 IST (in 90 min); log in again after that"]


def test_heartbeat_deletes_old_logs_and_prunes_orders(settings, store, caplog):
    caplog.set_level("INFO")
    settings.log_dir.mkdir(parents=True)
    (settings.log_dir / "kite_app_2026-01-01.log").write_text("old")
    watcher = StubWatcher()
    Maintenance(settings, store, watcher, clock=lambda: ist(2026, 11, 21, 12, 0)).run()
    assert not (settings.log_dir / "kite_app_2026-01-01.log").exists()
    assert watcher.pruned == [ist(2026, 11, 21, 12, 0)]
    messages = [r.getMessage() for r in caplog.records]
    assert "Heartbeat: session missing; 3 orders watched; no order check yet" in messages
    assert any("Deleted 1 log file" in m for m in messages)


def test_one_failing_step_does_not_stop_the_others(settings, store, caplog, kite_api):
    caplog.set_level("INFO")
    watcher = OrderWatcher(kite_api, OrderEvents(settings.order_database_file))
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text("{broken")
    Maintenance(settings, store, watcher, clock=lambda: ist(2026, 11, 21, 12, 0)).run()
    messages = [r.getMessage() for r in caplog.records]
    assert any("Maintenance step warn_before_expiry skipped" in m for m in messages)
    assert any(m.startswith("Heartbeat: session unreadable") for m in messages)


def test_temp_files_of_interrupted_writes_are_removed_once_stale(settings, store):
    import os
    import time

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stale = settings.data_dir / ".session.json.abc123.tmp"
    fresh = settings.data_dir / ".session.json.def456.tmp"
    stale.write_text('{"access_token": "half-writ')
    fresh.write_text("{")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    os.utime(fresh, (time.time(), time.time()))  # not the kernel's stamp: a shifted test clock would age it
    Maintenance(settings, store, StubWatcher(), clock=lambda: ist(2026, 11, 21, 12, 0)).run()
    assert not stale.exists() and fresh.exists()  # a write in progress is left alone


def test_an_unreadable_session_file_is_one_clear_line_an_hour_not_a_traceback(settings, store, run, caplog):
    caplog.set_level("INFO")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.session_file.write_text('{"access_token": "half')
    run(ist(2026, 11, 21, 10, 0))
    problems = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert len(problems) == 1 and problems[0].exc_info is None
    assert "Maintenance step warn_before_expiry skipped: Cannot read" in problems[0].getMessage()
    assert "delete it and log in again" in problems[0].getMessage()
    heartbeat = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Heartbeat")]
    assert heartbeat == ["Heartbeat: session unreadable; 3 orders watched; no order check yet"]
