"""Whether another process holds a lock file now: how scripts find a running service or sandbox.

A running `kite_app.py` holds its lock (filelock, kernel-released if it dies); a lock nobody
holds is a process that has stopped, whatever files it left behind.
"""

from pathlib import Path

from filelock import FileLock, Timeout


def is_held(lock_path: Path) -> bool:
    """True while some process holds `lock_path`; a missing file is a lock nobody holds."""
    if not Path(lock_path).exists():
        return False
    probe = FileLock(lock_path, timeout=0)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False
