"""The gateway's clients: one local api_key/access_token pair per program, stored hashed.

A program is configured once with its pair and never holds Kite's own token; the pair stays valid
across Kite's daily re-login. The file (gateway_clients.json, 0600) is written whole under a
cross-process lock (filelock) and re-read whenever it changes, so `kite_app.py clients add` and
`revoke` take effect in a running service at once. Only a SHA-256 of each access token is kept:
the tokens are 256-bit random strings, so a plain hash cannot be reversed or guessed (no salt or
slow hash needed); the comparison is constant-time (hmac.compare_digest).
"""

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from filelock import FileLock

from kite_service.clock import now_ist
from kite_service.errors import KiteAppError
from kite_service.storage.atomic_file import read_json, write_json_atomic

CLIENTS_FILE_NAME = "gateway_clients.json"
CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,19}$")  # fits Kite's 20-character order tag
API_KEY_PREFIX = "kiteapp-"


class ClientError(KiteAppError):
    """A gateway client could not be added or revoked; the message says why and what to do."""


@dataclass(frozen=True)
class GatewayClient:
    """A program allowed through the gateway. `can_trade` False: read-only (order calls refused)."""

    name: str
    api_key: str
    token_sha256: str
    can_trade: bool
    created_at: str
    instruments: int | None = None  # its share of the ticker hub's instruments (None: HUB_INSTRUMENTS_PER_CLIENT)
    max_orders_per_day: int | None = None  # the guard refuses its placements past this many a trading day
    max_loss: float | None = None  # rupees: its P&L at or under minus this pulls the kill switch for it alone
    paper_capital: float | None = None  # rupees: a paper client's opening cash (None: a live client)
    paper_since: str | None = None  # when its paper book began (clients paper-reset begins a new one)
    paper_book: str | None = None  # that book's id: the paper account's rows are kept under it

    @property
    def paper(self) -> bool:
        """Its orders and money are a paper account of Kite App's (kite_service/paper), never Kite's."""
        return self.paper_capital is not None

    def public(self) -> dict:
        """What `clients list` and /api/status show: never the token or its hash."""
        shown = {"name": self.name, "api_key": self.api_key, "can_trade": self.can_trade, "created_at": self.created_at}
        limits = {"instruments": self.instruments, "max_orders_per_day": self.max_orders_per_day}
        limits |= {"max_loss": self.max_loss, "paper_capital": self.paper_capital, "paper_since": self.paper_since}
        return shown | {name: value for name, value in limits.items() if value is not None}


def _new_book(now) -> dict:
    return {"paper_since": now.isoformat(timespec="seconds"), "paper_book": secrets.token_hex(6)}


def _digest(access_token: str) -> str:
    return hashlib.sha256(access_token.encode("utf-8", "surrogatepass")).hexdigest()


class ClientRegistry:
    """gateway_clients.json: add, revoke, list and authenticate the gateway's clients."""

    def __init__(self, path: Path, clock=now_ist):
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock", timeout=10)
        self._clock = clock
        self._cache: tuple = (None, {})  # (file fingerprint, {api_key: GatewayClient})

    def add(
        self, name: str, can_trade: bool = False, paper_capital: float | None = None, **limits
    ) -> tuple[GatewayClient, str]:
        """A new client and its access token (shown once: only its hash is stored); `limits`: instruments,
        max_orders_per_day, max_loss (None: the settings'). With `paper_capital`, a paper client: it
        trades, on a paper account of that opening cash."""
        if not CLIENT_NAME.match(name or ""):
            raise ClientError(
                f"{name!r} is not a client name: use 1-20 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit (it goes into each order's tag)."
            )
        access_token = secrets.token_urlsafe(32)
        now = self._clock()
        if paper_capital is not None:
            limits |= {"paper_capital": float(paper_capital), **_new_book(now)}
        client = GatewayClient(
            name=name,
            api_key=API_KEY_PREFIX + secrets.token_hex(8),
            token_sha256=_digest(access_token),
            can_trade=can_trade or paper_capital is not None,
            created_at=now.isoformat(timespec="seconds"),
            **limits,
        )
        with self._lock:
            clients = self._read()
            if any(existing.name == name for existing in clients.values()):
                raise ClientError(f"A client named {name!r} exists; revoke it first or choose another name.")
            clients[client.api_key] = client
            self._write(clients)
        return client, access_token

    def revoke(self, name: str) -> bool:
        """Remove the client named `name`; True if there was one. Its calls are refused at once."""
        with self._lock:
            clients = self._read()
            kept = {key: client for key, client in clients.items() if client.name != name}
            if len(kept) == len(clients):
                return False
            self._write(kept)
            return True

    def set_limits(self, name: str, **limits) -> GatewayClient:
        """Change the limits of the client named `name` (its credentials stay): instruments,
        max_orders_per_day, max_loss, each left as it is unless given; ClientError if none."""
        with self._lock:
            clients = self._read()
            found = next((key for key, client in clients.items() if client.name == name), None)
            if found is None:
                raise ClientError(f"No client named {name!r}: `clients list` shows them.")
            clients[found] = replace(clients[found], **limits)
            self._write(clients)
            return clients[found]

    def paper_reset(self, name: str) -> GatewayClient:
        """Start paper client `name`'s account afresh (its capital, no orders, trades or positions);
        a running service begins the new book at the client's next call."""
        found = next((client for client in self._current().values() if client.name == name), None)
        if found is None or not found.paper:
            raise ClientError(f"No paper client named {name!r}: `clients list` shows them (marked paper).")
        return self.set_limits(name, **_new_book(self._clock()))

    def all(self) -> list[GatewayClient]:
        return sorted(self._current().values(), key=lambda client: client.name)

    def authenticate(self, api_key: str, access_token: str) -> GatewayClient | None:
        """The client these credentials belong to, or None."""
        client = self._current().get(api_key)
        if client is None or not isinstance(access_token, str):
            return None
        return client if hmac.compare_digest(client.token_sha256, _digest(access_token)) else None

    # -- the file ---------------------------------------------------------------------------------

    def _current(self) -> dict:
        """The clients as the file holds them now: re-read only when it was replaced (a stat per call)."""
        fingerprint = self._fingerprint()
        cached_fingerprint, clients = self._cache
        if fingerprint != cached_fingerprint or fingerprint is None:
            clients = self._read()
            self._cache = (fingerprint, clients)
        return clients

    def _fingerprint(self):
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _read(self) -> dict:
        try:
            rows = read_json(self.path)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ClientError(f"Cannot read {self.path} ({type(exc).__name__}); fix or remove it.") from None
        try:
            clients = [GatewayClient(**row) for row in rows["clients"]]
        except (KeyError, TypeError) as exc:
            raise ClientError(f"{self.path} is not a clients file ({exc}); fix or remove it.") from None
        return {client.api_key: client for client in clients}

    def _write(self, clients: dict) -> None:
        write_json_atomic(self.path, {"clients": [asdict(client) for client in clients.values()]})
        self._cache = (None, {})
