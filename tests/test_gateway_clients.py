"""The gateway's clients: `kite_app.py clients add | list | revoke`, stored hashed, effective at once."""

import json
import subprocess
import sys

import pytest

from kite_service.config.settings import PROJECT_DIR, load_settings
from kite_service.gateway.clients import CLIENTS_FILE_NAME, ClientError, ClientRegistry
from kite_service.gateway.local_client import LocalGateway


def run_clients(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT_DIR / "kite_app.py"), "clients", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_add_prints_what_a_program_needs_and_stores_only_a_hash(env, config):
    added = run_clients(env, "add", "my-bot", "--trade", "--json")
    assert added.returncode == 0, added.stderr
    answer = json.loads(added.stdout)
    assert set(answer) == {"name", "api_key", "access_token", "root", "ticker_root", "can_trade", "paper"}
    assert answer["root"] == f"http://127.0.0.1:{env['PORT']}" and answer["ticker_root"].startswith("ws://")
    assert answer["can_trade"] is True and answer["paper"] is False
    path = load_settings(config).gateway_clients_file
    stored = path.read_text()
    assert answer["access_token"] not in stored and answer["api_key"] in stored
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    registry = ClientRegistry(path)
    assert registry.authenticate(answer["api_key"], answer["access_token"]).name == "my-bot"
    assert registry.authenticate(answer["api_key"], answer["access_token"] + "x") is None

    listed = run_clients(env, "list")
    assert "my-bot" in listed.stdout and "trade" in listed.stdout and answer["access_token"] not in listed.stdout


def test_a_revoke_or_an_add_by_another_process_takes_effect_at_once(env, config):
    registry = ClientRegistry(load_settings(config).gateway_clients_file)  # as the running service holds it
    assert registry.all() == []
    answer = json.loads(run_clients(env, "add", "notebook", "--json").stdout)
    assert registry.authenticate(answer["api_key"], answer["access_token"]).can_trade is False  # read-only
    assert run_clients(env, "revoke", "notebook").returncode == 0
    assert registry.authenticate(answer["api_key"], answer["access_token"]) is None
    assert run_clients(env, "revoke", "notebook").returncode == 1  # nothing left to revoke: said so


def test_sandbox_flags_after_the_command_and_the_running_services_own_ports(env, tmp_path):
    folder = tmp_path / "sandbox_data"
    folder.mkdir()
    where = ["--sandbox", "--sandbox-dir", str(folder)]
    registry = ClientRegistry(folder / CLIENTS_FILE_NAME)
    serving = LocalGateway(folder, registry, "http://127.0.0.1:5301", "ws://127.0.0.1:5304")  # not .env's ports
    assert serving.open()
    try:
        added = run_clients(env, "add", "bot", *where, "--json", "--instruments", "250")  # flags after "add"
        answer = json.loads(added.stdout)
        assert (answer["root"], answer["ticker_root"]) == ("http://127.0.0.1:5301", "ws://127.0.0.1:5304")
    finally:
        serving.close()
    assert registry.authenticate(answer["api_key"], answer["access_token"]).instruments == 250
    changed = run_clients(env, "limits", "bot", "--instruments", "900", *where)
    assert changed.returncode == 0 and "900" in changed.stdout
    assert registry.authenticate(answer["api_key"], answer["access_token"]).instruments == 900  # same credentials
    assert "instruments=900" in run_clients(env, *where, "list").stdout  # flags before the command, as before
    assert run_clients(env, "limits", "nobody", "--instruments", "5", *where).returncode == 1
    assert run_clients(env, "limits", "bot", "--instruments", "0", *where).returncode == 2


@pytest.mark.parametrize("name", ["", "has space", "x" * 21, "-starts-with-dash", "tab\there"])
def test_a_name_that_cannot_tag_an_order_is_refused_with_the_rule(tmp_path, name):
    with pytest.raises(ClientError, match="1-20 letters"):
        ClientRegistry(tmp_path / "clients.json").add(name)
    assert not (tmp_path / "clients.json").exists()


def test_two_clients_cannot_share_a_name(tmp_path):
    registry = ClientRegistry(tmp_path / "clients.json")
    registry.add("bot")
    with pytest.raises(ClientError, match="exists"):
        registry.add("bot")


def test_a_damaged_clients_file_is_a_clear_error_not_a_crash(env, config):
    path = load_settings(config).gateway_clients_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    result = run_clients(env, "list")
    assert result.returncode == 1 and "fix or remove it" in result.stdout and "Traceback" not in result.stderr
