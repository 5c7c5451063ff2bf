"""Secrets files and folders are owner-only once the service has started, whatever umask made them."""

import os
import stat

import pytest

from kite_service.errors import ConfigError
from kite_service.storage.private_files import make_private
from test_entrypoint import log_text, start, wait_until_up


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_group_or_world_readable_secrets_become_owner_only_with_one_line_each(tmp_path, caplog):
    env, credentials, private = tmp_path / ".env", tmp_path / "login_credentials.json", tmp_path / "session.json"
    for path in (env, credentials, private):
        path.write_text("secret")
    env.chmod(0o644)  # cp under umask 022
    credentials.chmod(0o640)
    private.chmod(0o600)
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    logs.chmod(0o755)
    changed = make_private([env, credentials, private, tmp_path / "missing.json"], [logs])
    assert changed == [env, credentials, logs]
    assert (mode(env), mode(credentials), mode(private), mode(logs)) == (0o600, 0o600, 0o600, 0o700)
    lines = [r.getMessage() for r in caplog.records if "owner-only" in r.getMessage()]
    assert lines[0] == f"Made {env} owner-only (it was rw-r--r--): it holds secrets" and len(lines) == 3
    assert make_private([env, credentials], [logs]) == []  # private now: nothing more to say


def test_a_file_that_cannot_be_made_private_stops_the_start_with_the_command_that_fixes_it(tmp_path, monkeypatch):
    env = tmp_path / ".env"
    env.write_text("CODE=x")
    env.chmod(0o644)

    def not_yours(path, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", not_yours)
    with pytest.raises(ConfigError, match=rf"readable by other users \(rw-r--r--\).*run chmod 600 {env}"):
        make_private([env], [])


def test_the_service_makes_its_credentials_file_private_at_start(env):
    credentials = env["CREDENTIALS_FILE"]
    os.chmod(credentials, 0o644)
    process = start(env)
    try:
        wait_until_up(int(env["PORT"]), process)
        assert mode(credentials) == 0o600 and mode(env["LOG_DIR"]) == 0o700
    finally:
        process.terminate()
        process.wait(30)
    assert f"Made {credentials} owner-only (it was rw-r--r--)" in log_text(env)
