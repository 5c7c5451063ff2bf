"""The demo account: generated credentials, request tokens, access tokens and their expiry."""

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pyotp

from .clock import now_ist, session_expiry
from .files import write_json_atomic

REQUEST_TOKEN_LIFETIME_SECONDS = 300
DEMO_USER_NAME = "Sandbox Trader"


@dataclass(frozen=True)
class DemoCredentials:
    """What a Kite app and its user would have: app keys, login, TOTP secret, redirect URL."""

    api_key: str
    api_secret: str
    user_id: str
    password: str
    totp_secret: str
    redirect_url: str

    @classmethod
    def generate(cls, redirect_url: str) -> "DemoCredentials":
        return cls(
            api_key="sandbox" + secrets.token_hex(6),
            api_secret=secrets.token_hex(16),
            user_id="SB" + "".join(secrets.choice("0123456789") for _ in range(4)),
            password=secrets.token_urlsafe(9),
            totp_secret=pyotp.random_base32(),
            redirect_url=redirect_url,
        )

    @classmethod
    def load_or_create(cls, data_dir: Path, redirect_url: str | None) -> "DemoCredentials":
        """Reuse DIR/credentials.json (updating the redirect URL if given) or create it."""
        path = Path(data_dir) / "credentials.json"
        if path.exists():
            stored = json.loads(path.read_text(encoding="utf-8"))
            creds = cls(**{name: stored[name] for name in cls.__dataclass_fields__})  # ticker_url is not one
            if redirect_url and redirect_url != creds.redirect_url:
                creds = cls(**{**asdict(creds), "redirect_url": redirect_url})
                write_json_atomic(path, asdict(creds))
            return creds
        creds = cls.generate(redirect_url or "")
        write_json_atomic(path, asdict(creds))
        return creds

    def record_ticker_url(self, data_dir: Path, url: str) -> None:
        """Add the WebSocket ticker's address to DIR/credentials.json, for KiteTicker(root=...)."""
        write_json_atomic(Path(data_dir) / "credentials.json", {**asdict(self), "ticker_url": url})

    def totp_ok(self, code: str) -> bool:
        return pyotp.TOTP(self.totp_secret).verify(code or "", valid_window=1)


@dataclass
class AccessSession:
    access_token: str
    public_token: str
    enctoken: str
    login_time: datetime
    expires_at: datetime


class Accounts:
    """Issues and checks request tokens and access tokens for the one demo user.

    With a `sessions_file`, access tokens outlive a restart of the sandbox, as Kite's outlive a
    restart of your app: they end at 06:00 IST or on logout, not when the sandbox stops."""

    def __init__(
        self, credentials: DemoCredentials, clock=now_ist, monotonic=time.monotonic, sessions_file: Path | None = None
    ):
        self.credentials = credentials
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._request_tokens: dict = {}
        self._sessions_file = sessions_file
        self._sessions: dict = self._load_sessions()

    def password_ok(self, user_id: str, password: str) -> bool:
        expected = f"{self.credentials.user_id}\0{self.credentials.password}".encode()
        return hmac.compare_digest(f"{user_id}\0{password}".encode("utf-8", "replace"), expected)

    def issue_request_token(self) -> str:
        token = secrets.token_urlsafe(24).replace("-", "").replace("_", "")[:32]
        with self._lock:
            self._request_tokens[token] = self._monotonic() + REQUEST_TOKEN_LIFETIME_SECONDS
        return token

    def checksum_ok(self, api_key: str, request_token: str, checksum: str) -> bool:
        expected = hashlib.sha256((api_key + request_token + self.credentials.api_secret).encode()).hexdigest()
        return hmac.compare_digest(expected.encode(), (checksum or "").encode("utf-8", "replace"))

    def redeem_request_token(self, request_token: str) -> bool:
        """Single use: True once per issued, unexpired token."""
        with self._lock:
            deadline = self._request_tokens.pop(request_token, None)
        return deadline is not None and self._monotonic() < deadline

    def open_session(self) -> AccessSession:
        login = self._clock().replace(microsecond=0)
        session = AccessSession(
            access_token=secrets.token_hex(16),
            public_token=secrets.token_hex(16),
            enctoken=secrets.token_urlsafe(32),
            login_time=login,
            expires_at=session_expiry(login),
        )
        with self._lock:
            self._sessions[session.access_token] = session
            self._save_sessions()
        return session

    def session_for(self, access_token: str) -> AccessSession | None:
        """The live session of a token; None for unknown, logged-out or expired tokens."""
        with self._lock:
            session = self._sessions.get(access_token)
        if session is None or self._clock() >= session.expires_at:
            return None
        return session

    def ended(self, access_token: str) -> str | None:
        """Why a token that had a session no longer has one ("expired" or "logged out"); None while it lives."""
        with self._lock:
            session = self._sessions.get(access_token)
        if session is None:
            return "logged out"
        return "expired" if self._clock() >= session.expires_at else None

    def close_session(self, access_token: str) -> bool:
        with self._lock:
            closed = self._sessions.pop(access_token, None) is not None
            self._save_sessions()
            return closed

    def expire_all(self) -> int:
        """Sandbox control: end every session now, as 06:00 IST would."""
        with self._lock:
            for session in self._sessions.values():
                session.expires_at = self._clock()
            self._save_sessions()
            return len(self._sessions)

    def _load_sessions(self) -> dict:
        if self._sessions_file is None or not self._sessions_file.exists():
            return {}
        try:
            rows = json.loads(self._sessions_file.read_text(encoding="utf-8"))
            sessions = {
                row["access_token"]: AccessSession(
                    row["access_token"],
                    row["public_token"],
                    row["enctoken"],
                    datetime.fromisoformat(row["login_time"]),
                    datetime.fromisoformat(row["expires_at"]),
                )
                for row in rows
            }
        except (OSError, ValueError, KeyError, TypeError):
            return {}  # unreadable: every session starts afresh, as after a logout
        now = self._clock()
        return {token: session for token, session in sessions.items() if session.expires_at > now}

    def _save_sessions(self) -> None:
        if self._sessions_file is None:
            return
        now = self._clock()
        rows = [
            {
                **asdict(session),
                "login_time": session.login_time.isoformat(),
                "expires_at": session.expires_at.isoformat(),
            }
            for session in self._sessions.values()
            if session.expires_at > now
        ]
        write_json_atomic(self._sessions_file, rows)  # 0600: these are the sandbox's access tokens
