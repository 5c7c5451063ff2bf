"""KiteClient: Kite's rate limits, read retries (never orders) and fast JSON decoding."""

import json
import socket
import threading

import pytest
import requests

from kite_service.kite.client import BODY_PIECE_BYTES, FastJSONSession

KITE = "https://api.kite.trade/orders"
LOCAL = "http://127.0.0.1:5002/orders"


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "127.0.0.1,localhost"},
        {"https_proxy": "http://proxy.example:3128", "http_proxy": "http://plain.example:8080"},
        {"ALL_PROXY": "socks5://proxy.example:1080", "REQUESTS_CA_BUNDLE": "/etc/ssl/corporate.pem"},
        {"HTTPS_PROXY": "http://proxy.example:3128", "CURL_CA_BUNDLE": "/etc/ssl/curl.pem"},
    ],
)
def test_proxies_and_ca_bundle_from_the_environment_apply_as_in_requests(monkeypatch, environment):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    ours, reference = FastJSONSession(), requests.Session()
    for url in (KITE, LOCAL, KITE):  # the second call to a host is answered from what the first read
        for verify in (True, False, None):
            assert ours.merge_environment_settings(url, {}, None, verify, None) == (
                reference.merge_environment_settings(url, {}, None, verify, None)
            )


def test_the_proxy_is_used_for_kite_and_no_proxy_hosts_go_direct(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    session = FastJSONSession()
    assert session.merge_environment_settings(KITE, {}, None, True, None)["proxies"]["https"] == (
        "http://proxy.example:3128"
    )
    assert session.merge_environment_settings("https://127.0.0.1:5002/orders", {}, None, True, None)["proxies"] == {}


def test_explicit_proxies_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    explicit = {"https": "http://mine.example:9000"}
    settings = FastJSONSession().merge_environment_settings(KITE, dict(explicit), None, True, None)
    assert settings["proxies"]["https"] == "http://mine.example:9000"


def test_a_session_told_not_to_trust_the_environment_ignores_it(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")
    session = FastJSONSession()
    session.trust_env = False
    settings = session.merge_environment_settings(KITE, {}, None, True, None)
    assert settings["proxies"] == {} and settings["verify"] is True


class OneAnswerServer:
    """A loopback server that answers every connection with `head` and `body` bytes, then closes."""

    def __init__(self, head: bytes, body: bytes):
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/orders"
        self._answer = head + body
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(self._answer)

    def close(self):
        self._socket.close()


def answer_head(length: int) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()


def test_a_big_answer_is_read_whole_across_pieces():
    orders = [{"order_id": f"{n:015d}", "status": "OPEN", "tag": "x" * 200} for n in range(12_000)]
    body = json.dumps({"status": "success", "data": orders}).encode()
    assert len(body) > 2.5 * BODY_PIECE_BYTES
    server = OneAnswerServer(answer_head(len(body)), body)
    try:
        assert FastJSONSession().get(server.url, timeout=10).json()["data"] == orders
    finally:
        server.close()


def test_an_answer_cut_short_is_a_requests_error_so_reads_are_retried():
    body = b'{"status": "success", "data": [' + b" " * (2 * BODY_PIECE_BYTES)
    server = OneAnswerServer(answer_head(len(body) + 1000), body)  # promises more than it sends
    try:
        with pytest.raises(requests.RequestException):
            FastJSONSession().get(server.url, timeout=10)
    finally:
        server.close()


def test_candles_are_read_as_kiteconnect_reads_them():
    from conftest import recorded
    from kite_service.kite.client import KiteClient
    from kite_service.kite.rate_limit import OrderCaps, kite_limiters
    from kite_service.kite.sdk import KiteConnect

    for fixture in ("historical_minute.json", "historical_oi.json"):
        body = recorded(fixture)["data"]
        body["candles"].append(["2026-11-20 09:15:00", 1, 2, 0.5, 1.5, 10])  # another form: dateutil's way
        ours = KiteClient("k", limiters=kite_limiters(), order_caps=OrderCaps())._format_historical(body)
        theirs = KiteConnect("k")._format_historical(body)
        assert ours == theirs
        assert [c["date"].utcoffset() for c in ours] == [c["date"].utcoffset() for c in theirs]


@pytest.mark.parametrize(("status", "least"), [(429, 1.0), (503, 0.0)])
def test_a_429_is_asked_again_only_after_kites_window_of_a_second(status, least):
    import responses

    from kite_service.kite.client import KiteClient, RetryPolicy
    from kite_service.kite.rate_limit import unlimited_limiters

    slept = []
    once = RetryPolicy(retries=1, base_delay=0, max_delay=0)
    client = KiteClient("key", root="http://kite.test", limiters=unlimited_limiters(), retry=once, sleep=slept.append)
    client.set_access_token("token")
    refusal = {"status": "error", "message": "Too many requests", "error_type": "NetworkException"}
    with responses.RequestsMock() as kite:
        kite.add(responses.GET, "http://kite.test/orders", status=status, json=refusal)
        kite.add(responses.GET, "http://kite.test/orders", json={"status": "success", "data": []})
        assert client.orders() == []
    assert len(slept) == 1 and slept[0] >= least  # asked again at once, Kite would refuse again
