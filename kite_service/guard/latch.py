"""The kill switch's latch: written to disk before the first cancel, so a restart keeps it.

`kill_switch.json` in the data folder (0600, written whole) holds one latch for the account and one
per client pulled alone: who pulled it, when, why, and until when (the next 06:00 IST, when Kite's
trading day ends). Every order path reads it before a placement or a modification (a stat per
check; the file is re-read only when it changed), the service's gateway and KiteAPI in a script
alike. Pulling a pulled latch changes nothing; `kill --reset` removes it.
"""

import os
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from filelock import FileLock

from kite_service.clock import as_ist, session_expiry
from kite_service.storage.atomic_file import read_json, write_json_atomic

LATCH_FILE = "kill_switch.json"
ACCOUNT = "account"  # the scope of the latch that stops every program


@dataclass(frozen=True)
class Latch:
    scope: str  # ACCOUNT, or the name of the one gateway client it stops
    pulled_by: str  # "kill command", "POST /api/kill", "MAX_DAILY_LOSS", a client's --max-loss
    reason: str
    pulled_at: str  # ISO time, IST
    until: str  # ISO time, IST: the next 06:00

    def message(self) -> str:
        """What a refused order is told: the switch, who pulled it, when, and how to reset it."""
        whom = (
            "Kite App's kill switch" if self.scope == ACCOUNT else f"Kite App's kill switch for client {self.scope!r}"
        )
        why = f" ({self.reason})" if self.reason else ""
        reset = "kill --reset" if self.scope == ACCOUNT else f"kill --reset --client {self.scope}"
        return (
            f"{whom} is on: pulled by {self.pulled_by}{why} at {self.pulled_at[11:19]} IST; no orders until "
            f"{self.until[11:16]} IST on {self.until[:10]} or `python kite_app.py {reset}`. Nothing was sent to Kite."
        )


class KillLatches:
    """The latches on disk, read by every order path of the machine."""

    def __init__(self, data_dir: Path, clock):
        self.path = Path(data_dir) / LATCH_FILE
        self._clock = clock
        self._file_lock = FileLock(str(self.path) + ".lock", timeout=10)
        self._lock = threading.Lock()
        self._cache: tuple = (None, {})  # (file fingerprint, {scope: Latch})

    def active(self) -> dict:
        """{scope: Latch} of the latches in force now."""
        now = as_ist(self._clock()).isoformat()
        return {scope: latch for scope, latch in self._current().items() if latch.until > now}

    def blocking(self, client: str | None = None) -> Latch | None:
        """The latch that stops `client` (None: a path of no client, a script's KiteAPI): the account's,
        else the client's own."""
        active = self.active()
        return active.get(ACCOUNT) or (active.get(client) if client else None)

    def pull(self, scope: str, pulled_by: str, reason: str = "") -> tuple[Latch, bool]:
        """Set the latch of `scope` (written before this returns); (the latch, True if newly pulled)."""
        now = as_ist(self._clock())
        with self._file_lock:
            latches = self._read()
            existing = latches.get(scope)
            if existing is not None and existing.until > now.isoformat():
                return existing, False
            latch = Latch(
                scope=scope,
                pulled_by=pulled_by,
                reason=reason[:200],
                pulled_at=now.isoformat(timespec="seconds"),
                until=session_expiry(now).isoformat(timespec="seconds"),
            )
            latches[scope] = latch
            self._write(latches)
        return latch, True

    def reset(self, scope: str = ACCOUNT) -> bool:
        """Remove the latch of `scope`; True if one was in force."""
        with self._file_lock:
            latches = self._read()
            latch = latches.pop(scope, None)
            if latch is None:
                return False
            self._write(latches)
        return latch.until > as_ist(self._clock()).isoformat()

    def _current(self) -> dict:
        try:
            stat = os.stat(self.path)
            fingerprint = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            return {}
        with self._lock:
            if fingerprint != self._cache[0]:
                self._cache = (fingerprint, self._read())
            return self._cache[1]

    def _read(self) -> dict:
        try:
            rows = read_json(self.path)
            return {row["scope"]: Latch(**row) for row in rows["latches"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError):
            # Unreadable: the account stays stopped rather than trading unguarded
            now = as_ist(self._clock())
            latch = Latch(
                ACCOUNT,
                "an unreadable kill_switch.json",
                f"fix or remove {self.path}",
                now.isoformat(),
                "9999-12-31T06:00:00+05:30",
            )
            return {ACCOUNT: latch}

    def _write(self, latches: dict) -> None:
        write_json_atomic(self.path, {"latches": [asdict(latch) for latch in latches.values()]})
        with self._lock:
            self._cache = (None, {})


def moment_of(latch: Latch) -> datetime:
    return datetime.fromisoformat(latch.pulled_at)
