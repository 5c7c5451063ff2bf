"""`from kite_api import KiteAPI` from any folder: a stand-in that loads Kite App's real kite_api privately.

Kite App's modules have plain names (settings, errors, clock, login, ...). Put on sys.path, they
would be shadowed by a script's own modules of those names (or shadow them). This folder holds only
this stand-in: `anywhere/install.py` puts the folder on a Python's path. On import, it loads the
real kite_api and its modules from the project folder, takes their plain names out of sys.modules
again (putting back any of the script's own), and hands the real module to the import. A script's
`import settings` still finds the script's settings.py.
"""

import importlib
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _load_privately():
    names = {path.stem for path in PROJECT_DIR.glob("*.py")} - {"kite_api"}
    scripts_own = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    stand_in = sys.modules.pop("kite_api")
    sys.path.insert(0, str(PROJECT_DIR))
    try:
        real = importlib.import_module("kite_api")  # KiteAPI's modules hold each other by reference from here on
    except BaseException:
        sys.modules["kite_api"] = stand_in
        raise
    finally:
        sys.path.remove(str(PROJECT_DIR))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(scripts_own)
    return real


sys.modules[__name__] = _load_privately()
