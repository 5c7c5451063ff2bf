"""The parts of the official kiteconnect client that Kite App uses, without its WebSocket half.

`import kiteconnect` runs the package's __init__, which imports KiteTicker and with it twisted and
autobahn: about 20 MB of memory and a tenth of a second for every script, for a ticker that Kite
App never uses. This module loads only `kiteconnect.connect` and `kiteconnect.exceptions` under
a package module that finishes the real import the first time anything else (KiteTicker, say) is
asked of it, so a script's own `from kiteconnect import KiteTicker` still works.

Kept for speed, and only while it pays: bench section 6 measures the import (about half the time
and 23 MB less than after `import kiteconnect`), and tests/test_kite_sdk.py pins it to the
kiteconnect version it was checked on (5.2.2).
"""

import importlib
import importlib.util
import sys
import types
from pathlib import Path


def _install_light_package() -> None:
    if sys.modules.get("kiteconnect") is not None:  # imported already (by a script): use it as it is
        return
    spec = importlib.util.find_spec("kiteconnect")  # locates the package without running it
    if spec is None:
        raise ModuleNotFoundError("No module named 'kiteconnect'", name="kiteconnect")
    package = types.ModuleType("kiteconnect")
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__path__ = list(spec.submodule_search_locations)

    def complete_import(name):
        """Run the package's own __init__ on first use of anything else it defines."""
        source = Path(spec.origin).read_text(encoding="utf-8")
        exec(compile(source, spec.origin, "exec"), package.__dict__)  # noqa: S102 - the installed package's own code
        del package.__dict__["__getattr__"]
        return getattr(package, name)

    package.__getattr__ = complete_import
    sys.modules["kiteconnect"] = package
    package.exceptions = importlib.import_module("kiteconnect.exceptions")
    package.KiteConnect = importlib.import_module("kiteconnect.connect").KiteConnect


_install_light_package()

KiteConnect = sys.modules["kiteconnect"].KiteConnect
kite_errors = sys.modules["kiteconnect"].exceptions
