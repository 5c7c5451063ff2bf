"""KiteAPI scripts on this machine reach Kite through the gateway while the service serves, so that
their calls count against the account's limits with every other program's.

The service holds `.gateway.lock` in its data folder while it serves and keeps, beside it,
`gateway_local.json` (0600): its own root, its ticker hub's, and the credentials of a built-in
trading client named `kiteapi`, made once and kept. A script's KiteAPI finds the lock held and uses them; with the lock
free (the service stopped) it calls Kite itself, counting only its own calls.
"""

import logging
from pathlib import Path

from filelock import FileLock, Timeout

from kite_service.gateway.clients import ClientError, ClientRegistry
from kite_service.storage.atomic_file import read_json, write_json_atomic
from kite_service.storage.held_lock import is_held

LOCAL_CLIENT_NAME = "kiteapi"
LOCAL_FILE_NAME = "gateway_local.json"
LOCK_NAME = ".gateway.lock"

log = logging.getLogger("kite_app.gateway")


class LocalGateway:
    """The service's side: announce the gateway to this machine's scripts while serving."""

    def __init__(self, data_dir: Path, registry: ClientRegistry, root: str, ticker_root: str = ""):
        self._file = Path(data_dir) / LOCAL_FILE_NAME
        self._lock = FileLock(Path(data_dir) / LOCK_NAME, timeout=0)
        self._registry, self._root, self._ticker_root = registry, root, ticker_root

    def open(self) -> bool:
        """Make sure the local client exists, then hold the lock; False if another service holds it."""
        try:
            self._lock.acquire()
        except Timeout:
            return False
        try:
            current = read_json(self._file)
            valid = self._registry.authenticate(current["api_key"], current["access_token"]) is not None
        except (OSError, ValueError, KeyError, TypeError):
            valid = False
        try:
            if not valid:
                self._registry.revoke(LOCAL_CLIENT_NAME)
                client, token = self._registry.add(LOCAL_CLIENT_NAME, can_trade=True)
                current = {"api_key": client.api_key, "access_token": token}
            write_json_atomic(self._file, {**current, "root": self._root, "ticker_root": self._ticker_root})
        except (OSError, ClientError) as exc:
            log.error("Scripts' KiteAPI will call Kite directly: the gateway's local client failed (%s)", exc)
            self._lock.release()
            return False
        return True

    def close(self) -> None:
        if self._lock.is_locked:
            self._lock.release()


def running_gateway(data_dir: Path) -> dict | None:
    """{"root", "api_key", "access_token", "ticker_root"} of the service serving from `data_dir` now, or
    None; "ticker_root" is "" when its ticker hub is not serving."""
    if not is_held(Path(data_dir) / LOCK_NAME):
        return None
    try:
        found = read_json(Path(data_dir) / LOCAL_FILE_NAME)
        return {name: str(found[name]) for name in ("root", "api_key", "access_token")} | {
            "ticker_root": str(found.get("ticker_root") or "")
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None
