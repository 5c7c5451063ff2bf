"""session.json: what scripts need to call Kite, written atomically under a cross-process lock."""

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from filelock import FileLock

from kite_service.clock import as_ist, now_ist, session_expiry
from kite_service.errors import SessionFileError
from kite_service.logs.redaction import register_secret
from kite_service.storage.atomic_file import read_json, write_json_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    """One Kite login. Times are ISO 8601 strings with the +05:30 offset."""

    user_id: str
    user_name: str
    api_key: str
    access_token: str = field(repr=False)
    public_token: str = field(repr=False)
    login_time: str
    created_at: str
    expires_at: str

    @classmethod
    def from_kite(cls, data: dict, api_key: str, now: datetime) -> "Session":
        """Build from generate_session()'s answer for `api_key`; drops refresh_token, enctoken and the rest."""
        login_time = data.get("login_time")
        login = as_ist(login_time) if isinstance(login_time, datetime) else as_ist(now)
        return cls(
            user_id=str(data["user_id"]),
            user_name=str(data.get("user_name") or ""),
            api_key=api_key,
            access_token=str(data["access_token"]),
            public_token=str(data.get("public_token") or ""),
            login_time=login.isoformat(),
            created_at=as_ist(now).isoformat(timespec="seconds"),
            expires_at=session_expiry(login).isoformat(),
        )

    @property
    def expires(self) -> datetime:
        return datetime.fromisoformat(self.expires_at)

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires


class SessionStore:
    """Reads and writes one session file; the lock sits beside it, never on it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock", timeout=10)
        self._cache: tuple = (None, None, -math.inf)  # (file version, Session, monotonic time of the check)

    def save(self, session: Session) -> None:
        """Replace the stored session in one step."""
        register_secret(session.access_token, session.public_token)
        try:
            with self._lock:
                write_json_atomic(self.path, asdict(session))
                self._forget_check()
        except OSError as exc:
            raise SessionFileError(f"Could not write {self.path}: {exc.strerror or exc}.") from None

    def load(self, max_age: float = 0.0) -> Session | None:
        """The stored session, or None when there is none; SessionFileError if it is unreadable.

        The file is parsed again only when it was replaced (a stat, not a read, per call). With
        `max_age`, an answer checked less than that many seconds ago is reused without the stat:
        for status pages that monitors poll. This store's own writes are seen at once.
        """
        cached_version, cached, checked_at = self._cache
        now = time.monotonic()
        if cached_version is not None and now - checked_at < max_age:
            return cached
        version = self.version()
        if version is not None and version == cached_version:
            self._cache = (version, cached, now)
            return cached
        session = self._read()
        self._cache = (version, session, now)
        return session

    def _forget_check(self) -> None:
        self._cache = (None, None, -math.inf)

    def _read(self) -> Session | None:
        try:
            data = read_json(self.path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SessionFileError(
                f"Cannot read {self.path} ({type(exc).__name__}); delete it and log in again."
            ) from None
        try:
            session = Session(**{name: data[name] for name in Session.__dataclass_fields__})
            datetime.fromisoformat(session.expires_at)
        except (KeyError, TypeError, ValueError):
            raise SessionFileError(f"{self.path} is incomplete; delete it and log in again.") from None
        register_secret(session.access_token, session.public_token)
        return session

    def clear(self, access_token: str | None = None) -> bool:
        """Forget the stored session (logout); with `access_token`, only if the file still holds that
        token, so a logout never removes a newer login. True if a file was removed."""
        with self._lock:
            try:
                if access_token is not None:
                    try:
                        stored = self._read()
                    except SessionFileError:
                        stored = None
                    if stored is None or stored.access_token != access_token:
                        return False
                self.path.unlink()
                return True
            except FileNotFoundError:
                return False
            finally:
                self._forget_check()

    def version(self):
        """A cheap fingerprint that changes whenever the file is replaced; None when absent."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def state(self, now: datetime | None = None) -> str:
        """'valid', 'expired', 'missing' or 'unreadable'."""
        return self.summary(now)["state"]

    def summary(self, now: datetime | None = None, max_age: float = 0.0) -> dict:
        """State, user and expiry for status pages; never a token. `max_age` as in load()."""
        now = now or now_ist()
        try:
            session = self.load(max_age)
        except SessionFileError:
            return {"state": "unreadable", "user_id": None, "user_name": None, "expires_at": None}
        if session is None:
            return {"state": "missing", "user_id": None, "user_name": None, "expires_at": None}
        return {
            "state": "expired" if session.is_expired(now) else "valid",
            "user_id": session.user_id,
            "user_name": session.user_name,
            "expires_at": session.expires_at,
        }
