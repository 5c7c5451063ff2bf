"""Secrets on disk stay owner-only: at start the service makes its secrets files and folders private.

`.env` (the access code), `login_credentials.json` (api_secret, TOTP seed) and `session.json`
(today's access token) must be readable by their owner alone, and so must the data and log
folders. Copied with `cp` under the usual umask 022 a file is -rw-r--r--, readable by every user
of the machine; the README's set-up uses `install -m 600`, and this catches the rest, one log line
per file. Windows has no such modes (a folder's ACL decides; the README says what to do there).
"""

import logging
import os
import stat
from pathlib import Path

from kite_service.errors import ConfigError

log = logging.getLogger("kite_app")

OWNER_ONLY_FILE = 0o600
OWNER_ONLY_FOLDER = 0o700


def make_private(files: list, folders: list) -> list:
    """Take group and other permissions away from each existing path; returns the paths changed.

    Raises ConfigError, naming the command that fixes it, when a path cannot be changed (it belongs
    to another user)."""
    if os.name != "posix":
        return []
    changed = []
    for path, owner_only in [(Path(p), OWNER_ONLY_FILE) for p in files] + [
        (Path(p), OWNER_ONLY_FOLDER) for p in folders
    ]:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        try:
            os.chmod(path, mode & owner_only)
        except OSError as exc:
            raise ConfigError(
                f"{path} is readable by other users ({stat.filemode(mode)[1:]}) and cannot be made private "
                f"({exc.strerror}): run chmod {owner_only:o} {path}"
            ) from None
        log.warning("Made %s owner-only (it was %s): it holds secrets", path, stat.filemode(mode)[1:])
        changed.append(path)
    return changed
