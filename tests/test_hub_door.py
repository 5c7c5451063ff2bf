"""The ticker hub held against a client that misbehaves: a revoked client's open connection, floods of
connections and of idle sockets, one client taking every instrument slot, a proxy nobody named."""

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from hub_support import hub, sandbox_ticker, serve_hub  # noqa: F401 (fixtures)
from kite_service.ticker import hub_server
from kite_service.ticker.local_server import HubCaps
from test_order_stream import wait_until
from test_ticker_hub import INFY, credentials_of, first_text, frames_until, hub_client_names, local_ticker, sandbox_app  # noqa: F401


def test_a_revoked_clients_open_connection_is_closed_within_a_second_with_a_reason(hub):  # noqa: F811
    url, app = hub
    registry = app.extensions["kite_app"].gateway.clients
    with local_ticker(url, app, "leaver") as leaving, local_ticker(url, app, "stayer") as staying:
        for client in (leaving, staying):
            client.send(json.dumps({"a": "subscribe", "v": [INFY]}))
            assert frames_until(client, lambda f: len(f) >= 1)
        assert registry.revoke("leaver")
        revoked_at = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                leaving.recv(timeout=5)
        assert time.monotonic() - revoked_at < 1.5  # the check runs every 0.5 s
        assert closed.value.rcvd.code == 1008 and "'leaver' was revoked" in closed.value.rcvd.reason
        assert hub_client_names(app) == ["stayer"]
        assert frames_until(staying, lambda f: len(f) >= 1)  # the other keeps its ticks


def test_connections_are_capped_per_client_and_overall_with_kites_429(serve_hub):  # noqa: F811
    url, app = serve_hub(caps=HubCaps(connections=3, per_client=2))
    api_key, token = credentials_of(app, "greedy")
    address = f"{url}/?api_key={api_key}&access_token={token}"
    with connect(address), connect(address):
        with pytest.raises(InvalidStatus) as refused:
            connect(address)
        answer = refused.value.response
        assert answer.status_code == 429
        assert b"'greedy' has 2" in answer.body and b"HUB_CONNECTIONS_PER_CLIENT" in answer.body
        with local_ticker(url, app, "other"):  # the third of all three
            with pytest.raises(InvalidStatus) as full:
                local_ticker(url, app, "late")
            assert full.value.response.status_code == 429 and b"HUB_MAX_CONNECTIONS" in full.value.response.body

    def room_again() -> bool:  # closed ones make room again, once their sockets are gone
        try:
            with connect(address):
                return True
        except InvalidStatus:
            return False

    assert wait_until(room_again, timeout=5)


def test_idle_sockets_are_closed_after_the_handshake_time_and_capped_and_the_log_stays_short(
    serve_hub,  # noqa: F811
    monkeypatch,
    caplog,
):
    monkeypatch.setattr(hub_server, "HANDSHAKE_SECONDS", 0.5)
    url, app = serve_hub(caps=HubCaps(connections=5))
    host, port = urlsplit(url).hostname, urlsplit(url).port
    idle = [socket.create_connection((host, port)) for _ in range(60)]  # never a handshake
    try:
        time.sleep(0.3)
        open_now = sum(not closed_by_peer(s) for s in idle)
        assert open_now <= 2 * 5 + 1  # past twice the connections: closed as they come
        time.sleep(1.0)
        assert sum(not closed_by_peer(s) for s in idle) == 0  # the rest after the handshake time
    finally:
        for s in idle:
            s.close()
    with local_ticker(url, app, "after-the-flood") as client:  # the service still serves
        client.send(json.dumps({"a": "subscribe", "v": [INFY]}))
        assert frames_until(client, lambda f: len(f) >= 1)
    lines = [r for r in caplog.records if r.name.startswith("kite_app.ticker_hub")]
    assert 0 < len(lines) <= 10


def closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_each_client_has_a_share_of_the_instruments_and_the_refusal_says_what_it_is(serve_hub):  # noqa: F811
    url, app = serve_hub(caps=HubCaps(instruments=3))
    with local_ticker(url, app, "hog") as hog, local_ticker(url, app, "modest") as modest:
        hog.send(json.dumps({"a": "subscribe", "v": [INFY, 1, 2, 3, 4]}))  # made-up tokens too
        refusal = first_text(hog)
        assert refusal["type"] == "error" and refusal["data"].startswith("2 not subscribed: hog's share")
        assert "is 3 (HUB_INSTRUMENTS_PER_CLIENT, or kite_app.py clients limits hog --instruments N)" in refusal["data"]
        hog.send(json.dumps({"a": "subscribe", "v": [-5, 2**32]}))
        assert "not instrument tokens" in first_text(hog)["data"]
        modest.send(json.dumps({"a": "subscribe", "v": [INFY]}))
        assert INFY in frames_until(modest, lambda f: len(f) >= 1)[-1]  # unaffected by the hog


def test_a_handshake_forwarded_by_an_unnamed_proxy_is_refused(hub):  # noqa: F811
    url, app = hub
    api_key, token = credentials_of(app, "proxied")
    address = f"{url}/?api_key={api_key}&access_token={token}"
    with pytest.raises(InvalidStatus) as refused:
        connect(address, additional_headers={"X-Forwarded-For": "203.0.113.7"})
    assert refused.value.response.status_code == 403 and b"TRUSTED_PROXY" in refused.value.response.body
    with connect(address):  # straight from this machine: as always
        pass
