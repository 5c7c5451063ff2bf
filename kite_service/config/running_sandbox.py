"""A running `kite_app.py --sandbox`, found through the lock its service holds: scripts' KiteAPI then
uses the sandbox's settings (sandbox.env) rather than `.env`."""

import os
from pathlib import Path

from dotenv import dotenv_values

from kite_service.config.settings import (
    ENV_FILE_VARIABLE,
    PROJECT_DIR,
    configured_values,
    environment_values,
    expand_path,
)
from kite_service.storage.held_lock import is_held

SANDBOX_DIR_VARIABLE = "KITE_APP_SANDBOX_DIR"  # where scripts look for a running sandbox (default sandbox_data/)
SANDBOX_DIR = PROJECT_DIR / "sandbox_data"  # `kite_app.py --sandbox`'s folder unless --sandbox-dir says otherwise
SANDBOX_LOCK_NAME = ".sandbox.lock"


def running_sandbox_env_file() -> Path | None:
    """sandbox.env of the sandbox that `kite_app.py --sandbox` is running now, if any.

    The running service holds `.sandbox.lock` in its sandbox folder (sandbox_data/, or
    KITE_APP_SANDBOX_DIR); a lock nobody holds is a sandbox that has stopped."""
    folder = expand_path(os.environ[SANDBOX_DIR_VARIABLE]) if os.environ.get(SANDBOX_DIR_VARIABLE) else SANDBOX_DIR
    return folder / "sandbox.env" if is_held(folder / SANDBOX_LOCK_NAME) else None


def script_values() -> tuple:
    """(values, sandbox env file or None) for a script's KiteAPI: KITE_APP_ENV_FILE if set; else the
    running sandbox's settings while `kite_app.py --sandbox` runs; else `.env`."""
    if not os.environ.get(ENV_FILE_VARIABLE):
        sandbox_env = running_sandbox_env_file()
        if sandbox_env is not None:
            return {**dotenv_values(sandbox_env), **environment_values()}, sandbox_env
    return configured_values(), None
