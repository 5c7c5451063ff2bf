"""`python kite_app.py kill` against a running `kite_app.py --sandbox`: each step shown as it happens,
`--status` and `--reset`; with no service running it says so and does nothing."""

import subprocess
import sys

import pytest

from conftest import clock_env
from kite_service.config.settings import PROJECT_DIR
from kite_service.kite.sdk import KiteConnect, kite_errors
from service_support import CODE, start_service
from test_gateway_e2e import add_client


def kill(tmp_path, *args, folder) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", **clock_env(), "KITE_APP_CODE": CODE, "KITE_APP_ENV_FILE": str(tmp_path / "e.env")}
    (tmp_path / "e.env").write_text("")
    command = [sys.executable, str(PROJECT_DIR / "kite_app.py"), "kill", "--sandbox", "--sandbox-dir", str(folder)]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_without_a_running_service_kill_says_so_and_does_nothing(tmp_path):
    (tmp_path / "sandbox").mkdir()
    done = kill(tmp_path, "--reason", "test", folder=tmp_path / "sandbox")
    assert done.returncode == 1 and "no Kite App serves from" in done.stdout and "nothing was done" in done.stdout
    assert not (tmp_path / "sandbox" / "kill_switch.json").exists()


@pytest.mark.e2e
def test_kill_shows_each_step_and_reset_lifts_it(tmp_path):
    service = start_service(tmp_path)
    try:
        service.login()
        answer = add_client(service, "bot")
        bot = KiteConnect(answer["api_key"], access_token=answer["access_token"], root=answer["root"])
        order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1}
        order |= {"product": "CNC", "order_type": "LIMIT", "price": 1}  # far below: it rests
        with pytest.raises(kite_errors.InputException):  # below the circuit: Kite refuses, nothing rests
            bot.place_order(variety="regular", **order)
        low = bot.quote("NSE:INFY")["NSE:INFY"]["lower_circuit_limit"]
        resting = bot.place_order(variety="regular", **{**order, "price": low})
        done = kill(tmp_path, "--reason", "test run", folder=service.sandbox_dir)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert "ok latch   Kite App's kill switch is on: pulled by kill command (test run)" in lines[0]
        assert any(f"cancelled order {resting}" in line for line in lines)
        assert "the account is flat and nothing is pending" in lines[-1]
        with pytest.raises(kite_errors.PermissionException, match="kill switch is on"):
            bot.place_order(variety="regular", **{**order, "price": low})
        assert "Kill switch (account): on since" in kill(tmp_path, "--status", folder=service.sandbox_dir).stdout
        again = kill(tmp_path, "--reason", "twice", folder=service.sandbox_dir)
        assert "was on already: nothing done twice" in again.stdout
        assert kill(tmp_path, "--reset", folder=service.sandbox_dir).stdout.strip() == "Kill switch (account) reset"
        assert bot.place_order(variety="regular", **{**order, "price": low})
    finally:
        service.stop()
