"""kite_sdk: KiteAPI without the ticker's twisted import, and kiteconnect still whole for scripts."""

import subprocess
import sys
from pathlib import Path

import pytest

from kite_service.config.settings import PROJECT_DIR

PROBE = """
import sys
import kite_api
print("twisted" in sys.modules)
from kiteconnect import KiteTicker, KiteConnect
import kiteconnect
same_client = KiteConnect is kite_api.KiteClient.__mro__[1]
print(KiteTicker.__name__, same_client, kiteconnect.exceptions.TokenException.__name__)
"""


def test_kiteapi_loads_without_the_ticker_and_scripts_can_still_import_it():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split("\n")[:2] == ["False", "KiteTicker True TokenException"]


def test_a_script_that_imported_kiteconnect_first_keeps_its_module():
    probe = (
        "import kiteconnect, kite_api, sys; print(sys.modules['kiteconnect'] is kiteconnect, 'twisted' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "True True"


@pytest.mark.parametrize(
    ("setup", "package"),
    [
        ("sys.modules['kiteconnect'] = None", "kiteconnect"),  # a Python without kiteconnect
        ("sys.path[:] = [p for p in sys.path if 'site-packages' not in p]", "dotenv"),  # without any of them
    ],
    ids=["no-kiteconnect", "no-packages"],
)
def test_a_python_without_the_packages_is_told_which_and_what_to_do(tmp_path, setup, package):
    code = f"import sys; {setup}; sys.path.insert(0, {str(PROJECT_DIR)!r}); from kite_api import KiteAPI"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"ModuleNotFoundError: KiteAPI needs the Python package '{package}'")
    assert f"-m pip install -e {PROJECT_DIR}" in last_line and ".venv" in last_line


def test_the_speed_hacks_hold_for_the_pinned_client_versions():
    """sdk.py (kiteconnect without its ticker) and client.py (requests' responses swapped for faster
    ones) lean on how these exact versions work: a new pin must fail here until they are checked again."""
    import inspect
    import re
    import tomllib
    from importlib import metadata

    import requests.adapters

    from kite_service.kite.sdk import KiteConnect

    dependencies = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(re.match(r"([\w-]+)==(.+)", line).groups() for line in dependencies)
    checked = {"kiteconnect": "5.2.2", "requests": "2.34.2"}  # the versions sdk.py and client.py were checked on
    assert {name: pins[name] for name in checked} == checked == {name: metadata.version(name) for name in checked}
    package = (Path(metadata.distribution("kiteconnect").locate_file("kiteconnect")) / "__init__.py").read_text()
    assert "KiteTicker" in package  # what sdk.py avoids loading: the package imports the ticker
    assert "self.reqsession.request(" in inspect.getsource(KiteConnect._request)  # client.py's one seam
    assert "def build_response" in inspect.getsource(requests.adapters.HTTPAdapter)  # FastJSONAdapter's
