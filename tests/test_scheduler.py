"""The scheduler: its jobs, the single-instance lock, and no start-up as an import side effect."""

import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from conftest import clock_env
from kite_service.clock import IST
from kite_service.config.settings import PROJECT_DIR
from scheduler import MAINTENANCE_JOB_ID, ORDER_CHECK_JOB_ID, SchedulerRunner, build_scheduler


def noop():
    pass


def test_jobs_are_wired_as_specified():
    scheduler = build_scheduler(noop, noop, 20)
    scheduler.start(paused=True)
    try:
        poll = scheduler.get_job(ORDER_CHECK_JOB_ID)
        hourly = scheduler.get_job(MAINTENANCE_JOB_ID)
        assert isinstance(poll.trigger, IntervalTrigger) and poll.trigger.interval == timedelta(seconds=20)
        assert hourly.trigger.interval == timedelta(hours=1)
        for job in (poll, hourly):
            assert job.max_instances == 1 and job.coalesce is True
        assert poll.misfire_grace_time == 15 and hourly.misfire_grace_time == 300
        assert str(scheduler.timezone) == str(IST)
    finally:
        scheduler.shutdown(wait=False)


def test_order_check_runs_and_survives_exceptions(tmp_path):
    calls = []
    done = threading.Event()

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        done.set()

    runner = SchedulerRunner(build_scheduler(flaky, noop, 0.2), tmp_path / "s.lock")
    assert runner.start()
    try:
        assert done.wait(5)
    finally:
        runner.stop()
    assert len(calls) >= 2
    assert not runner.running


def test_second_scheduler_in_same_process_is_refused(tmp_path):
    first = SchedulerRunner(build_scheduler(noop, noop), tmp_path / "s.lock")
    second = SchedulerRunner(build_scheduler(noop, noop), tmp_path / "s.lock")
    assert first.start()
    try:
        assert second.start() is False
        assert not second.running
    finally:
        first.stop()
    assert second.start()  # the lock is free again once the first stopped
    second.stop()


def test_second_process_on_same_data_folder_is_refused(tmp_path):
    runner = SchedulerRunner(build_scheduler(noop, noop), tmp_path / "s.lock")
    assert runner.start()
    try:
        code = textwrap.dedent(f"""
            from scheduler import SchedulerRunner, build_scheduler
            runner = SchedulerRunner(build_scheduler(print, print), {str(tmp_path / "s.lock")!r})
            print("started" if runner.start() else "refused")
            runner.stop()
        """)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == "refused", result.stderr
    finally:
        runner.stop()


EVERY_PACKAGE_MODULE = (
    "import importlib, pkgutil, kite_service, kite_sandbox; "
    "[importlib.import_module(m.name) for p in (kite_service, kite_sandbox) "
    "for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]"
)


@pytest.mark.parametrize(
    "module", ["kite_app", "scheduler", "kite_api", "log_utils", "kite_service", "kite_sandbox.__main__"]
)
def test_importing_starts_nothing_and_writes_nothing(tmp_path, module):
    imports = EVERY_PACKAGE_MODULE if module == "kite_service" else f"import {module}"
    code = textwrap.dedent(f"""
        import os, threading
        before = set(os.listdir("."))
        {imports}
        assert set(os.listdir(".")) == before, "files created at import"
        names = [t.name for t in threading.enumerate()]
        assert names == ["MainThread"], names
        print("clean")
    """)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**clock_env(pythonpath=str(PROJECT_DIR)), "PATH": ""},
    )
    assert result.stdout.strip() == "clean", result.stderr


def test_runs_skipped_behind_a_slow_check_are_not_logged(tmp_path, caplog):
    import threading
    import time

    release = threading.Event()
    runner = SchedulerRunner(build_scheduler(lambda: release.wait(5), lambda: None, 0.1), tmp_path / "s.lock")
    caplog.set_level("WARNING", logger="apscheduler")
    runner.start()
    try:
        time.sleep(0.6)  # five runs come due while the first one hangs
    finally:
        release.set()
        runner.stop()
    assert not [r for r in caplog.records if "maximum number of running instances" in r.getMessage()]


def test_stop_waits_for_a_running_job_only_so_long(tmp_path, caplog):
    """A poll held up by a Kite answer that trickles in must not hold up the service's stop."""
    started, release = threading.Event(), threading.Event()

    def stuck_order_check():
        started.set()
        release.wait(30)

    runner = SchedulerRunner(build_scheduler(stuck_order_check, lambda: None, 0.05), tmp_path / "job.lock")
    assert runner.start()
    try:
        assert started.wait(5)
        began = time.monotonic()
        runner.stop(timeout=0.5)
        took = time.monotonic() - began
    finally:
        release.set()
    assert took < 3
    assert any("without waiting longer than 0.5 s" in r.getMessage() for r in caplog.records)
    assert not runner.running
