"""time.sleep that works under Debian's libfaketime, for the test runs with a shifted clock.

libfaketime 0.9.10 fakes CLOCK_MONOTONIC by default, and then every timed lock wait in Python
(threading.Event.wait, Lock.acquire(timeout=...)) waits for hundreds of days, because glibc's
sem_clockwait is not intercepted. With FAKETIME_DONT_FAKE_MONOTONIC=1 those waits are right, but
its clock_nanosleep wrapper refuses Python's absolute monotonic deadlines with EINVAL, so
time.sleep fails. select() takes a relative timeout and works in both cases. Only the shifted
runs (.ci/run, docs/reliability.md) put this folder on PYTHONPATH.
"""

import os
import select
import time

if os.environ.get("FAKETIME"):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            select.select([], [], [], left)

    time.sleep = _sleep
