"""kite_sdk: KiteAPI without the ticker's twisted import, and kiteconnect still whole for scripts."""

import subprocess
import sys

from settings import PROJECT_DIR

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
