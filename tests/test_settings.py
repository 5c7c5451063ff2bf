"""Settings from .env, the environment and the credentials file, with clear errors."""

import json
from pathlib import Path

import pytest

from kite_service.config.settings import (
    ENVIRONMENT_NAMES,
    EXAMPLE_ACCESS_CODE,
    PROJECT_DIR,
    load_credentials,
    load_settings,
)
from kite_service.errors import ConfigError


def test_defaults_bind_to_loopback_on_port_5001():
    settings = load_settings({})
    assert settings.host == "127.0.0.1"
    assert settings.port == 5001
    assert settings.cors_origins == ()
    assert settings.session_file == PROJECT_DIR / "session.json"
    assert settings.kite_api_root == "https://api.kite.trade"


@pytest.fixture
def dotenv_folder(tmp_path, monkeypatch):
    """A project folder whose `.env` sets the address and code, in an environment without our variables."""
    (tmp_path / ".env").write_text("PORT=6000\nCODE=from-dotenv-file\nHOST=127.0.0.2\nLOG_DIR=dotenv-logs\n")
    monkeypatch.setattr("kite_service.config.settings.PROJECT_DIR", tmp_path)
    for name in ("HOST", "PORT", "CODE", "LOG_DIR", "KITE_APP_ENV_FILE", *ENVIRONMENT_NAMES.values()):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_environment_overrides_dotenv(dotenv_folder, monkeypatch):
    monkeypatch.setenv("LOG_DIR", "/var/log/kite")
    settings = load_settings()
    assert settings.log_dir == Path("/var/log/kite")
    assert (settings.host, settings.port, settings.access_code) == ("127.0.0.2", 6000, "from-dotenv-file")


def test_an_inherited_host_port_or_code_changes_nothing(dotenv_folder, monkeypatch):
    # What a tcsh login shell exports (HOST is the machine's name), and two more a shell may carry.
    monkeypatch.setenv("HOST", "buildbox.example.net")
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("CODE", "someone-elses-code")
    settings = load_settings()
    assert (settings.host, settings.port, settings.access_code) == ("127.0.0.2", 6000, "from-dotenv-file")
    (dotenv_folder / ".env").write_text("")
    assert (load_settings().host, load_settings().port, load_settings().access_code) == ("127.0.0.1", 5001, "")


def test_the_own_names_set_address_and_code_from_the_environment(dotenv_folder, monkeypatch):
    monkeypatch.setenv("HOST", "buildbox.example.net")
    monkeypatch.setenv("KITE_APP_HOST", "::1")
    monkeypatch.setenv("KITE_APP_PORT", "7000")
    monkeypatch.setenv("KITE_APP_CODE", "code-from-the-unit-file")
    settings = load_settings()
    assert (settings.host, settings.port, settings.access_code) == ("::1", 7000, "code-from-the-unit-file")


def test_cors_origins_are_a_list():
    settings = load_settings({"CORS_ORIGINS": "https://a.example, https://b.example"})
    assert settings.cors_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("code", "words"),
    [("", "not set"), ("short", "too short"), (EXAMPLE_ACCESS_CODE, "example value")],
)
def test_bad_access_codes_refuse_start(code, words):
    with pytest.raises(ConfigError, match=words):
        load_settings({"CODE": code}).require_access_code()


def test_bad_numbers_name_the_setting():
    with pytest.raises(ConfigError, match="PORT"):
        load_settings({"PORT": "eighty"})
    with pytest.raises(ConfigError, match="LOG_RETENTION_DAYS"):
        load_settings({"LOG_RETENTION_DAYS": "0"})


def test_access_code_is_not_in_repr():
    assert "supersecretcode" not in repr(load_settings({"CODE": "supersecretcode"}))


def write(tmp_path, content) -> str:
    path = tmp_path / "login_credentials.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_credentials_load(tmp_path):
    creds = load_credentials(
        write(tmp_path, {"api_key": "k1", "api_secret": "s1", "twofa_key": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"})
    )
    assert (creds.api_key, creds.api_secret, creds.twofa_key) == ("k1", "s1", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    assert "s1" not in repr(creds) and "JBSWY3DP" not in repr(creds)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON at line 1, column 2"),
        ('{\n  "api_key": "k",\n  "api_secret": "s",\n}', r"not valid JSON at line 4, column 1 \(Expecting"),
        (
            {"api_key": "your_kite_api_key", "api_secret": "your_kite_api_secret"},
            "still the example values: put your app's own",
        ),
        ([1, 2], "JSON object"),
        ({"api_secret": "s"}, "'api_key'"),
        ({"api_key": "k", "api_secret": ""}, "'api_secret'"),
        ({"api_key": "k", "api_secret": "s", "twofa_key": "not base32!"}, "'twofa_key'"),
        ({"api_key": "k", "api_secret": "s", "twofa_key": "JBSWY3DPEHPK3PXP"}, "at least 23 characters"),
    ],
)
def test_bad_credentials_name_file_and_field(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(ConfigError, match=message) as info:
        load_credentials(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_credentials_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match=r"login_credentials\.example\.json"):
        load_credentials(tmp_path / "login_credentials.json")


def test_telegram_needs_both_token_and_chat(config):
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID"):
        load_settings({**config, "TELEGRAM_BOT_TOKEN": "123:abc"})


@pytest.mark.parametrize(("name", "value"), [("LOGIN_REMINDER_TIME", "8.45am"), ("MARKET_HOLIDAYS", "25/12/2026")])
def test_bad_reminder_settings_name_the_setting(config, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**config, name: value})


def test_rate_limits_can_be_turned_off_only_for_a_sandbox(config):
    assert load_settings({**config, "RATE_LIMITS": "off"}).rate_limits is False  # the test's Kite is not Kite
    with pytest.raises(ConfigError, match="only for the sandbox"):
        load_settings({**config, "RATE_LIMITS": "off", "KITE_API_ROOT": "https://api.kite.trade"})
    assert load_settings(config).rate_limits is True


def test_gateway_allowed_addresses_are_networks(config):
    settings = load_settings({**config, "GATEWAY_ALLOWED_ADDRESSES": "203.0.113.7, 198.51.100.0/24,2001:db8::/48"})
    assert [str(network) for network in settings.gateway_allowed_networks] == [
        "203.0.113.7/32",
        "198.51.100.0/24",
        "2001:db8::/48",
    ]
    assert load_settings(config).gateway_allowed_networks == ()  # this machine only
    with pytest.raises(ConfigError, match=r"GATEWAY_ALLOWED_ADDRESSES.*'my-laptop'"):
        load_settings({**config, "GATEWAY_ALLOWED_ADDRESSES": "203.0.113.7, my-laptop"})
