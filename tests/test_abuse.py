"""Abuse: oversized bodies, forged login states in bulk, CORS preflights, and where the service listens.

(Access-code throttling: test_http_api and test_login_pages; state replay and expiry: test_login_pages.)
"""

import secrets
import time

import pytest

from conftest import ACCESS_CODE
from test_entrypoint import start, wait_until_up

BIG = "x" * (17 * 1024)


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        (f"/api/token?code={ACCESS_CODE}", {"json": {"request_token": BIG}}),
        (f"/api/token?code={ACCESS_CODE}", {"data": {"request_token": BIG}}),
        ("/api/postback", {"data": BIG.encode()}),
        ("/login", {"data": {"code": BIG}}),
    ],
    ids=["token-json", "token-form", "postback", "login-form"],
)
def test_bodies_over_16_kb_are_refused_with_413(client, store, path, kwargs):
    response = client.post(path, **kwargs)
    assert response.status_code == 413 and response.get_json()["status"] == "error"
    assert store.load() is None


def test_a_thousand_forged_states_get_nowhere(client, kite, store):
    statuses = set()
    for _ in range(1000):
        forged = f"{secrets.token_urlsafe(18)}.{int(time.time()) + 600}.{secrets.token_hex(32)}"
        response = client.get(f"/api/callback?status=success&request_token=abcdef123&state={forged}")
        statuses.add(response.status_code)
    assert statuses == {403} and len(kite.calls) == 0 and store.load() is None


def test_cors_preflight_from_an_unlisted_origin_gets_no_permission(config):
    from kite_app import create_app

    client = create_app({**config, "CORS_ORIGINS": "https://ui.example"}).test_client()
    for path in ("/api/url", "/api/token", "/api/status"):
        preflight = client.options(
            path,
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "X-Access-Code",
            },
        )
        assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Origin" not in client.get("/login", headers={"Origin": "https://ui.example"}).headers


def listening_addresses(port: int) -> set:
    """Local addresses with a listening TCP socket on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if int(port_hex, 16) == port and state == "0A":  # LISTEN
                found.add(address)
    return found


def test_default_binding_is_loopback_only(env):
    port = int(env["PORT"])
    process = start(env, "--no-scheduler")
    try:
        wait_until_up(port, process)
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_binding_elsewhere_needs_to_be_asked_for_and_is_warned_about(env):
    port = int(env["PORT"])
    process = start(env, "--no-scheduler", "--host", "0.0.0.0")
    try:
        wait_until_up(port, process)
        assert listening_addresses(port) == {"00000000"}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "reachable from other machines" in stderr
