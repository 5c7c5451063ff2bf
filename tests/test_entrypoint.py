"""`python kite_app.py` as a real process: refusal to start, serving, clean SIGTERM."""

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import ACCESS_CODE, clock_env, free_port, free_sandbox_port
from kite_service.config.settings import PROJECT_DIR


def start(env, *args, **popen_options):
    return subprocess.Popen(
        [sys.executable, str(PROJECT_DIR / "kite_app.py"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen_options,
    )


def wait_until_up(port, process, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            return requests.get(f"http://127.0.0.1:{port}/", timeout=1)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("service did not come up")


def log_text(env) -> str:
    return "".join(p.read_text() for p in Path(env["LOG_DIR"]).glob("*.log"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"KITE_APP_CODE": ""}, "CODE is not set"),
        ({"KITE_APP_CODE": "short"}, "too short"),
        ({"CREDENTIALS_FILE": "/nonexistent/creds.json"}, "/nonexistent/creds.json: file not found"),
    ],
)
def test_refuses_to_start_with_one_clear_line(env, change, message):
    result = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "kite_app.py")],
        env={**env, **change},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_serves_on_loopback_and_stops_cleanly_on_sigterm(env):
    port = int(env["PORT"])
    process = start(env)
    try:
        response = wait_until_up(port, process)
        assert response.json() == {"status": "up", "message": "Kite App is running"}
        assert "Werkzeug" not in response.headers.get("Server", "")
        url = requests.get(f"http://127.0.0.1:{port}/api/url", headers={"X-Access-Code": ACCESS_CODE}, timeout=5)
        assert url.json()["status"] == "success"
        time.sleep(1.5)  # let the 1 s order check run (no session: it pauses)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "Traceback" not in stderr
    text = log_text(env)
    for line in ("Scheduler started", "Order check paused", "Scheduler stopped", "Kite App stopped"):
        assert line in text
    assert ACCESS_CODE not in text + stderr


def test_a_login_shells_host_port_and_code_do_not_move_the_service(env):
    # tcsh exports the machine's name as HOST; PORT and CODE may be anyone's. Only .env, the flags and
    # KITE_APP_* set where the service listens and its code.
    port = int(env["PORT"])
    inherited = {"HOST": "0.0.0.0", "PORT": str(free_port()), "CODE": "a-login-shells-code"}
    process = start({**env, **inherited}, "--no-scheduler")
    try:
        wait_until_up(port, process)
        right = requests.get(f"http://127.0.0.1:{port}/api/url", headers={"X-Access-Code": ACCESS_CODE}, timeout=5)
        wrong = requests.get(
            f"http://127.0.0.1:{port}/api/url", headers={"X-Access-Code": inherited["CODE"]}, timeout=5
        )
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        process.kill()
    assert (right.status_code, wrong.status_code) == (200, 401)
    text = log_text(env)
    assert f"Kite App listening on http://127.0.0.1:{port} " in text
    assert "reachable from other machines" not in text


def test_ctrl_c_stops_cleanly(env):
    process = start(env, "--no-scheduler")
    try:
        wait_until_up(int(env["PORT"]), process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0 and "Traceback" not in stderr


def test_ctrl_c_stops_cleanly_even_when_started_with_sigint_ignored(env):
    # What `python kite_app.py &` from a script (or nohup) does: SIGINT starts out ignored.
    process = start(env, "--no-scheduler", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        wait_until_up(int(env["PORT"]), process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0 and "Traceback" not in stderr
    assert "Kite App stopped" in log_text(env)


def test_port_in_use_is_a_clear_error(env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(env["PORT"])))
        busy.listen()
        result = subprocess.run(
            [sys.executable, str(PROJECT_DIR / "kite_app.py")], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{env['PORT']}" in result.stderr and "--port" in result.stderr


@pytest.mark.parametrize("busy", ["service", "sandbox"])
def test_a_busy_port_in_sandbox_mode_is_one_clear_line_and_exit_code_1(env, tmp_path, busy):
    service_port = int(env["PORT"])
    sandbox_port = free_sandbox_port(avoid=service_port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", service_port if busy == "service" else sandbox_port))
        taken.listen()
        result = subprocess.run(
            [
                sys.executable,
                str(PROJECT_DIR / "kite_app.py"),
                "--sandbox",
                "--sandbox-port",
                str(sandbox_port),
                "--sandbox-dir",
                str(tmp_path / "sandbox"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    option = "--port" if busy == "service" else "--sandbox-port"
    port = service_port if busy == "service" else sandbox_port
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr and option in result.stderr
    assert "Access code" not in result.stdout  # no walk-through that would send people to a port not ours


def test_second_instance_on_same_data_folder_runs_no_scheduler(env):
    first = start(env)
    second_port = str(free_port())
    second_env = {**env, "PORT": second_port, "KITE_APP_PORT": second_port}
    second = start(second_env)
    try:
        wait_until_up(int(env["PORT"]), first)
        wait_until_up(int(second_env["PORT"]), second)
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
        outputs = [p.communicate(timeout=30)[1] for p in (first, second)]
    finally:
        first.kill()
        second.kill()
    started = sum("Scheduler started" in out for out in outputs)
    refused = sum("already running on this data folder" in out for out in outputs)
    assert (started, refused) == (1, 1)


def test_session_file_untouched_by_start_and_stop(env):
    session_file = Path(env["SESSION_FILE"])
    session_file.parent.mkdir(parents=True, exist_ok=True)
    session_file.write_text(json.dumps({"keep": "me"}))
    process = start(env, "--no-scheduler")
    try:
        wait_until_up(int(env["PORT"]), process)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        process.kill()
    assert json.loads(session_file.read_text()) == {"keep": "me"}


def test_totp_prints_the_current_code_and_seconds_left(env):
    import pyotp

    from conftest import TWOFA_KEY

    result = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "kite_app.py"), "--totp"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    code, seconds = re.fullmatch(r"(\d{6})  \(valid for (\d+) s\)\n", result.stdout).groups()
    totp = pyotp.TOTP(TWOFA_KEY)
    assert totp.verify(code, valid_window=1)
    assert 1 <= int(seconds) <= totp.interval


def test_totp_without_twofa_key_says_what_to_add(env, tmp_path):
    credentials = tmp_path / "no_totp.json"
    credentials.write_text(json.dumps({"api_key": "k", "api_secret": "s"}))
    result = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "kite_app.py"), "--totp"],
        env={**env, "CREDENTIALS_FILE": str(credentials)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "has no twofa_key" in result.stderr and "Traceback" not in result.stderr


def test_help_shows_examples_files_and_the_login_page(env):
    result = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "kite_app.py"), "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = result.stdout
    assert result.returncode == 0
    for expected in ("examples:", "--sandbox", ".env", "login_credentials.json", "/login", "--totp --sandbox"):
        assert expected in text, expected


def test_a_second_sandbox_on_the_same_folder_exits_and_leaves_the_first_ones_files(tmp_path):
    from service_support import start_service

    first = start_service(tmp_path)
    folder = first.sandbox_dir
    try:
        before = {path.name: path.read_bytes() for path in folder.iterdir()}
        port = free_port()
        second = subprocess.run(
            [
                sys.executable,
                str(PROJECT_DIR / "kite_app.py"),
                "--sandbox",
                "--port",
                str(port),
                "--sandbox-port",
                str(free_sandbox_port(avoid=port)),
                "--sandbox-dir",
                str(folder),
            ],
            env={"PATH": "/usr/bin:/bin", **clock_env(), "KITE_APP_ENV_FILE": str(tmp_path / "empty.env")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
        assert second.returncode == 2
        assert second.stderr == (
            f"kite_app: Another `kite_app.py --sandbox` is running on {folder}; stop it first, "
            "or give this one a folder of its own with --sandbox-dir.\n"
        )
        assert second.stdout == ""
        assert first.login()["state"] == "valid"  # the first one's login still comes back to it
    finally:
        first.stop()
