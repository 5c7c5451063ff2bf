"""Kite App installed the Python way: a trader's script in a folder of its own, with a Python of its own,
after `pip install -e /path/to/kite-app`, against a running `kite_app.py --sandbox`."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import clock_env
from kite_service.config.settings import PROJECT_DIR
from service_support import start_service

pytestmark = pytest.mark.e2e

STRATEGY = """
import settings                      # the trader's own settings.py, not Kite App's
from kite_api import KiteAPI
import errors                        # the trader's own errors.py too

kite = KiteAPI()
print("user", kite.get_profile()["user_id"])
print("mine", settings.MINE, errors.MINE)
lowest = kite.quote("NSE:INFY")["NSE:INFY"]["lower_circuit_limit"]  # a buy there rests
order_id = kite.place_order(
    variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1,
    product="CNC", order_type="LIMIT", price=lowest,
)
print("placed", order_id, kite.get_order_history(order_id)[-1]["status"])
for name in ("clock", "scheduler", "log_utils", "kite_app"):  # names Kite App uses, not this folder's
    try:
        __import__(name)
        print("found", name)
    except ModuleNotFoundError:
        print("absent", name)
"""


def test_a_script_with_its_own_python_uses_kiteapi_after_pip_install_e(tmp_path):
    folder, venv = tmp_path / "my-scripts", tmp_path / "venv"
    folder.mkdir()
    (folder / "strategy.py").write_text(textwrap.dedent(STRATEGY))
    (folder / "settings.py").write_text("MINE = 'my settings'\n")
    (folder / "errors.py").write_text("MINE = 'my errors'\n")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    step = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", str(PROJECT_DIR)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert step.returncode == 0, step.stderr[-3000:]

    (tmp_path / "service").mkdir()
    service = start_service(tmp_path / "service")
    try:
        service.login()
        env = {"PATH": "/usr/bin:/bin", **clock_env(), "KITE_APP_SANDBOX_DIR": str(service.sandbox_dir)}  # no other
        result = subprocess.run(
            [python, "strategy.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        service.stop()
    lines = result.stdout.splitlines() + [""] * 7  # a script that stops early shows its error below
    assert lines[:2] == [f"user {service.demo['user_id']}", "mine my settings my errors"], result.stderr
    assert lines[2].startswith("placed ") and lines[2].endswith(" OPEN"), result.stderr[-2000:]  # rests below
    assert lines[3:7] == ["absent clock", "absent scheduler", "absent log_utils", "absent kite_app"]
    assert "KiteAPI is using the Kite sandbox" in result.stderr  # said, so nobody mistakes it for the account

    # The sandbox stopped: its lock is free, so KiteAPI() would read the project's .env again.
    probe = "from kite_service.config.running_sandbox import running_sandbox_env_file as f; print(f())"
    after = subprocess.run([python, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert after.stdout.strip() == "None", after.stderr


def test_the_kite_app_command_is_the_entry_point(tmp_path):
    """`kite-app` (installed with the project) runs kite_app.py: the same help, from any folder."""
    command = Path(sys.executable).parent / "kite-app"  # beside the Python that requirements.txt installed into
    result = subprocess.run([str(command), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: kite_app.py" in result.stdout and "--sandbox" in result.stdout
