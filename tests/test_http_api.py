"""The service's JSON endpoints and their errors (kite_service/web/api.py)."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from conftest import ACCESS_CODE, API_KEY, KITE_ROOT, recorded_text, session_response
from kite_app import create_app

TOKEN_URL = f"{KITE_ROOT}/session/token"


def assert_json_error(response, status):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == "error" and body["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body["message"]


def test_root_says_up(client):
    assert client.get("/").get_json() == {"status": "up", "message": "Kite App is running"}


def test_login_url_carries_api_key_version_and_a_one_time_state(client):
    body = client.get(f"/api/url?code={ACCESS_CODE}").get_json()
    assert body["status"] == "success"
    assert body["message"] == "Use this URL to complete the authentication process"
    url = urlsplit(body["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "http://login.test/connect/login"
    query = parse_qs(url.query)
    assert query["api_key"] == [API_KEY] and query["v"] == ["3"]
    [state] = parse_qs(query["redirect_params"][0])["state"]  # Kite hands redirect_params back to the callback
    second = client.get(f"/api/url?code={ACCESS_CODE}").get_json()["url"]
    assert state not in second  # a fresh state for every login link


def test_access_code_in_header_works(client):
    assert client.get("/api/url", headers={"X-Access-Code": ACCESS_CODE}).status_code == 200


@pytest.mark.parametrize(
    "query", ["", "?code=", "?code=wrong-code-123", "?code=%C3%A9%E2%82%AC%00", "?code=" + "x" * 5000]
)
def test_missing_or_wrong_code_is_401(client, query):
    message = assert_json_error(client.get(f"/api/url{query}"), 401)
    assert "access code" in message.lower()


def test_token_exchange_writes_session_and_hides_tokens(client, kite, settings):
    checksum_body = {"api_key": API_KEY, "request_token": "reqtoken123"}
    kite.add(
        responses.POST,
        TOKEN_URL,
        body=session_response("fresh-access-token"),
        content_type="application/json",
        match=[matchers.urlencoded_params_matcher(checksum_body, allow_blank=True, strict_match=False)],
    )
    response = client.get(f"/api/token?code={ACCESS_CODE}&request_token=reqtoken123")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "success" and body["message"] == "Session generated."
    assert body["user_id"] == "XX0000"
    assert body["expires_at"].endswith("06:00:00+05:30")
    text = response.get_data(as_text=True)
    assert "fresh-access-token" not in text and "reqtoken123" not in text
    saved = json.loads(settings.session_file.read_text())
    assert saved["access_token"] == "fresh-access-token"
    assert saved["api_key"] == API_KEY
    assert saved["expires_at"] == body["expires_at"]


def test_checksum_is_sha256_of_key_token_secret(client, kite):
    import hashlib

    expected = hashlib.sha256(f"{API_KEY}reqtoken123test-api-secret-0815".encode()).hexdigest()
    kite.add(
        responses.POST,
        TOKEN_URL,
        body=session_response(),
        content_type="application/json",
        match=[
            matchers.urlencoded_params_matcher(
                {"api_key": API_KEY, "request_token": "reqtoken123", "checksum": expected}
            )
        ],
    )
    assert client.get(f"/api/token?code={ACCESS_CODE}&request_token=reqtoken123").status_code == 200


@pytest.mark.parametrize(
    "send",
    [
        lambda c: c.post(f"/api/token?code={ACCESS_CODE}", data={"request_token": "reqtoken123"}),
        lambda c: c.post(f"/api/token?code={ACCESS_CODE}", json={"request_token": "reqtoken123"}),
        lambda c: c.post("/api/token?request_token=reqtoken123", headers={"X-Access-Code": ACCESS_CODE}),
    ],
)
def test_token_accepted_by_post_form_json_or_query(client, kite, send):
    kite.add(responses.POST, TOKEN_URL, body=session_response(), content_type="application/json")
    assert send(client).status_code == 200


@pytest.mark.parametrize(
    "send",
    [
        lambda c: c.get(f"/api/token?code={ACCESS_CODE}"),
        lambda c: c.get(f"/api/token?code={ACCESS_CODE}&request_token="),
        lambda c: c.post(f"/api/token?code={ACCESS_CODE}", json={"request_token": 12345678}),
        lambda c: c.post(f"/api/token?code={ACCESS_CODE}", json=["reqtoken123"]),
        lambda c: c.post(
            f"/api/token?code={ACCESS_CODE}", data="{broken", headers={"Content-Type": "application/json"}
        ),
        lambda c: c.get(f"/api/token?code={ACCESS_CODE}&request_token=has%20space%22quote"),
    ],
)
def test_bad_request_token_is_400_and_session_untouched(client, settings, send):
    message = assert_json_error(send(client), 400)
    assert "request_token" in message
    assert not settings.session_file.exists()


def kite_error(kite, status, error_type, message="Token is invalid or has expired."):
    kite.add(
        responses.POST,
        TOKEN_URL,
        json={"status": "error", "message": message, "error_type": error_type},
        status=status,
    )


def test_token_exception_says_log_in_again(client, kite, logged_in, settings):
    before = settings.session_file.read_bytes()
    kite_error(kite, 403, "TokenException")
    message = assert_json_error(client.get(f"/api/token?code={ACCESS_CODE}&request_token=stale12345"), 400)
    assert message == "request_token invalid or expired: log in again (GET /api/url)."
    assert settings.session_file.read_bytes() == before


@pytest.mark.parametrize(
    ("mock", "status"),
    [
        (dict(body=requests.ConnectionError("refused")), 502),
        (dict(body=requests.ReadTimeout("slow")), 504),
        (dict(body="<html>Bad gateway</html>", status=502, content_type="text/html"), 502),
        (dict(json={"status": "error", "message": "OMS down", "error_type": "NetworkException"}, status=503), 502),
        (dict(body="{not json", content_type="application/json"), 502),
        (dict(json={"status": "success", "data": {"user_id": "X"}}), 502),
    ],
)
def test_kite_failures_are_502_or_504_and_session_untouched(client, kite, logged_in, settings, mock, status):
    before = settings.session_file.read_bytes()
    kite.add(responses.POST, TOKEN_URL, **mock)
    assert_json_error(client.get(f"/api/token?code={ACCESS_CODE}&request_token=reqtoken123"), status)
    assert settings.session_file.read_bytes() == before


def test_token_exchange_is_never_retried(client, kite):
    kite.add(
        responses.POST,
        TOKEN_URL,
        status=503,
        json={"status": "error", "message": "x", "error_type": "NetworkException"},
    )
    client.get(f"/api/token?code={ACCESS_CODE}&request_token=reqtoken123")
    assert len(kite.calls) == 1


def test_unknown_path_and_wrong_method_are_json(client):
    assert_json_error(client.get("/nope"), 404)
    response = client.delete(f"/api/token?code={ACCESS_CODE}")
    assert_json_error(response, 405)
    assert "POST" in response.headers["Allow"]


def test_oversized_body_is_413(client):
    response = client.post(f"/api/token?code={ACCESS_CODE}", data={"request_token": "x" * 20000})
    assert_json_error(response, 413)


def test_unexpected_error_is_json_500_without_details(app, client, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("internal detail that must not be shown")

    monkeypatch.setattr("kite_service.web.api.exchange_request_token", explode)
    message = assert_json_error(client.get(f"/api/token?code={ACCESS_CODE}&request_token=reqtoken123"), 500)
    assert "internal detail" not in message


def test_ten_failures_then_429_with_retry_after(client):
    for _ in range(10):
        assert client.get("/api/url?code=wrong-guess").status_code == 401
    response = client.get(f"/api/url?code={ACCESS_CODE}")  # even the right code waits now
    assert_json_error(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    assert client.get(f"/api/token?code={ACCESS_CODE}&request_token=abcdef12").status_code == 429
    assert client.get("/").status_code == 200  # the public endpoint is not throttled


def test_throttle_is_per_client(client):
    for _ in range(10):
        client.get("/api/url?code=wrong-guess", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert client.get("/api/url?code=x", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 429
    assert client.get(f"/api/url?code={ACCESS_CODE}").status_code == 200


def test_successes_do_not_count_towards_the_throttle(client):
    for _ in range(15):
        assert client.get(f"/api/url?code={ACCESS_CODE}").status_code == 200
    assert "Retry-After" not in client.get(f"/api/url?code={ACCESS_CODE}").headers


def test_no_cors_by_default(client):
    response = client.get(f"/api/url?code={ACCESS_CODE}", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_only_for_configured_origins(config):
    client = create_app({**config, "CORS_ORIGINS": "https://ui.example"}).test_client()
    ok = client.get(f"/api/url?code={ACCESS_CODE}", headers={"Origin": "https://ui.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    other = client.get(f"/api/url?code={ACCESS_CODE}", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options(
        "/api/url",
        headers={
            "Origin": "https://ui.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Access-Code",
        },
    )
    assert "x-access-code" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_recorded_session_file_is_the_fixture(kite):
    # Guards the fixture itself: the copy must still be Kite's recorded answer.
    assert json.loads(recorded_text("generate_session.json"))["data"]["user_id"] == "XX0000"
