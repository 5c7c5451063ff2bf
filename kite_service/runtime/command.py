"""The `kite-app` console command: the project's kite_app.py, run with the Python it is installed in.

`pip install -e /path/to/kite-app` installs the command. The entry point stays the file at the top
of the project (`python kite_app.py` does the same), so this runs that file rather than importing
it: the package imports no top-level module."""

import os
import sys

from kite_service.config.settings import PROJECT_DIR

ENTRY_POINT = PROJECT_DIR / "kite_app.py"


def main() -> None:
    """Replace this process with `python kite_app.py ARGS...`: same pid, signals and exit code."""
    os.execv(sys.executable, [sys.executable, str(ENTRY_POINT), *sys.argv[1:]])  # noqa: S606 (our own file)
