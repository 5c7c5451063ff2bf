"""Daily log files: one file per IST day (kite_app_YYYY-MM-DD.log), private, and their retention."""

import logging
import os
import re
from datetime import date, timedelta
from pathlib import Path

from kite_service.clock import IST_OFFSET_SECONDS

LOG_PREFIX = "kite_app_"
_EPOCH = date(1970, 1, 1)
_LOG_NAME = re.compile(rf"^{LOG_PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})\.log$")


class DailyFileHandler(logging.FileHandler):
    """Writes to `<dir>/kite_app_YYYY-MM-DD.log`, switching files when the IST date changes.

    No renaming happens at midnight, so another process reading the log never blocks it.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self._day = None
        super().__init__(self.log_dir / "unused", encoding="utf-8", delay=True)

    def path_for(self, day: date) -> Path:
        return self.log_dir / f"{LOG_PREFIX}{day.isoformat()}.log"

    def emit(self, record: logging.LogRecord) -> None:
        # FileHandler.emit and StreamHandler.emit in one method, after choosing the day's file:
        # this runs for every record, and the two extra layers cost a tenth of a plain record.
        try:
            day_number = int((record.created + IST_OFFSET_SECONDS) // 86400)  # days since 1970-01-01, IST
            if day_number != self._day:
                if self.stream is not None:
                    self.stream.close()
                    self.stream = None
                self._day = day_number
                self.baseFilename = os.fspath(self.path_for(_EPOCH + timedelta(days=day_number)))
            if self.stream is None:
                self.stream = self._open()
            self.stream.write(self.format(record) + self.terminator)
            self.stream.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 (logging reports it through handleError, like the stdlib)
            self.handleError(record)

    def _open(self):
        make_private_dir(self.log_dir)
        # O_NOFOLLOW: a link planted where today's file will be is refused, never written through.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.baseFilename, flags, 0o600)
        return open(fd, "a", encoding="utf-8")


def make_private_dir(path: Path) -> None:
    """Create `path` (and missing parents) readable by this user only; an existing folder is kept as it is."""
    Path(path).mkdir(mode=0o700, parents=True, exist_ok=True)


def purge_old_logs(
    log_dir: Path, retention_days: int, today: date, max_bytes: int | None = None, names: re.Pattern = _LOG_NAME
) -> list:
    """Delete daily log files dated more than `retention_days` before `today` (by the name's date),
    then, while all of them together exceed `max_bytes`, the oldest ones (never today's). `names`:
    the files' names, the date its first group (the gateway's audit files have their own)."""
    oldest_kept = today - timedelta(days=retention_days)
    removed = []
    if not Path(log_dir).is_dir():
        return removed
    kept = []
    for path in Path(log_dir).iterdir():
        match = names.match(path.name)
        if not match:
            continue
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            continue
        if day < oldest_kept:
            path.unlink(missing_ok=True)
            removed.append(path.name)
        else:
            kept.append((day, path))
    if max_bytes is not None:
        sizes = {path: path.lstat().st_size for _, path in kept}
        total = sum(sizes.values())
        for day, path in sorted(kept):
            if total <= max_bytes or day >= today:
                break
            path.unlink(missing_ok=True)
            removed.append(path.name)
            total -= sizes[path]
    return sorted(removed)
