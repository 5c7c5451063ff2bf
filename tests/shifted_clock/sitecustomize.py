"""time.sleep that works under Debian's libfaketime, for the test runs with a shifted clock.

libfaketime 0.9.10 fakes CLOCK_MONOTONIC by default, and then every timed lock wait in Python
(threading.Event.wait, Lock.acquire(timeout=...)) waits for hundreds of days, because glibc's
sem_clockwait is not intercepted. With FAKETIME_DONT_FAKE_MONOTONIC=1 those waits are right, but
its clock_nanosleep wrapper refuses Python's absolute monotonic deadlines with EINVAL, so
time.sleep fails. select() takes a relative timeout and works in both cases. Only the shifted
runs (.ci/run, docs/reliability.md) put this folder on PYTHONPATH.

A thread's join with a timeout now and then saw its timed lock wait report success without the
lock (RuntimeError: release unlocked lock, inside threading): under libfaketime, joins poll instead.
"""

import os
import select
import threading
import time

if os.environ.get("FAKETIME"):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            select.select([], [], [], left)

    time.sleep = _sleep

    def _wait_for_tstate_lock(self, block=True, timeout=-1):
        """Thread.join's wait (Python 3.11), polling a non-blocking acquire instead of a timed one."""
        lock = self._tstate_lock
        if lock is None:
            return
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        while True:
            if lock.acquire(False):
                lock.release()
                try:
                    self._stop()
                except AssertionError:  # another joiner took the lock in between: the thread is over all the same
                    pass
                return
            if not block or (deadline is not None and time.monotonic() >= deadline):
                return
            _sleep(0.002)

    if hasattr(threading.Thread, "_wait_for_tstate_lock"):  # Python 3.11 and 3.12
        threading.Thread._wait_for_tstate_lock = _wait_for_tstate_lock
