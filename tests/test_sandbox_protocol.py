"""The sandbox speaks Kite's protocol: login, checksums, envelopes, auth, expiry, rate limits."""

from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from conftest import ist
from sandbox_support import exchange, log_in


def error_of(response):
    body = response.get_json()
    assert body["status"] == "error" and body["message"]
    return response.status_code, body["error_type"]


def test_login_redirects_with_kites_parameters_and_redirect_params(sandbox, demo):
    form = {"user_id": demo.user_id, "password": demo.password, "twofa_value": pyotp.TOTP(demo.totp_secret).now()}
    url = f"/connect/login?api_key={demo.api_key}&v=3&redirect_params=state%3Dabc%26more%3Dx%2520y"
    page = sandbox.get(url)
    assert page.status_code == 200 and b'name="twofa_value"' in page.data
    response = sandbox.post(url, data=form)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "http://app.test/callback"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["status"] == "success" and query["action"] == "login" and query["type"] == "login"
    assert query["state"] == "abc" and query["more"] == "x y" and query["x"] == "1"
    assert len(query["request_token"]) >= 20


@pytest.mark.parametrize(
    ("change", "status"),
    [({"password": "wrong"}, 401), ({"user_id": "XX0000"}, 401), ({"twofa_value": "000000"}, 401)],
)
def test_bad_login_shows_an_error_and_does_not_redirect(sandbox, demo, change, status):
    form = {"user_id": demo.user_id, "password": demo.password, "twofa_value": pyotp.TOTP(demo.totp_secret).now()}
    if "twofa_value" in change and change["twofa_value"] == form["twofa_value"]:
        change = {"twofa_value": "111111"}
    response = sandbox.post(f"/connect/login?api_key={demo.api_key}&v=3", data={**form, **change})
    assert response.status_code == status and "Location" not in response.headers
    assert b'role="alert"' in response.data


def test_unknown_api_key_gets_an_error_page(sandbox):
    response = sandbox.get("/connect/login?api_key=nope&v=3")
    assert response.status_code == 400 and b"Invalid api_key" in response.data


def test_request_token_is_single_use(sandbox, demo):
    token = log_in(sandbox, demo)
    first = exchange(sandbox, demo, token)
    assert first.status_code == 200 and first.get_json()["data"]["user_id"] == demo.user_id
    assert error_of(exchange(sandbox, demo, token)) == (403, "TokenException")


def test_request_token_expires_after_a_few_minutes(sandbox_app, sandbox, demo):
    accounts = sandbox_app.extensions["kite_sandbox"].accounts
    now = [1000.0]
    accounts._monotonic = lambda: now[0]
    token = log_in(sandbox, demo)
    now[0] += 301
    assert error_of(exchange(sandbox, demo, token)) == (403, "TokenException")


def test_checksum_must_match(sandbox, demo):
    token = log_in(sandbox, demo)
    response = sandbox.post(
        "/session/token",
        data={"api_key": demo.api_key, "request_token": token, "checksum": "0" * 64},
        headers={"X-Kite-Version": "3"},
    )
    assert error_of(response) == (403, "TokenException")  # as Kite answers it
    assert response.get_json()["message"] == "Invalid `checksum`."


def test_version_header_and_authorization_are_required(sandbox, auth):
    assert sandbox.get("/user/profile", headers=auth).status_code == 200
    no_version = {k: v for k, v in auth.items() if k != "X-Kite-Version"}
    assert error_of(sandbox.get("/user/profile", headers=no_version)) == (400, "InputException")
    assert error_of(sandbox.get("/user/profile", headers={"X-Kite-Version": "3"})) == (403, "TokenException")
    bad = {**auth, "Authorization": auth["Authorization"][:-2] + "xx"}
    assert error_of(sandbox.get("/user/profile", headers=bad)) == (403, "TokenException")


def test_logout_kills_the_token(sandbox, demo, auth):
    token = auth["Authorization"].split(":")[1]
    response = sandbox.delete(f"/session/token?api_key={demo.api_key}&access_token={token}", headers=auth)
    assert response.get_json() == {"status": "success", "data": True}
    assert error_of(sandbox.get("/user/profile", headers=auth)) == (403, "TokenException")


def test_tokens_die_at_0600_ist(sandbox, auth, clock):
    clock.now = ist(2026, 11, 21, 5, 59, 59)
    assert sandbox.get("/user/profile", headers=auth).status_code == 200
    clock.now = ist(2026, 11, 21, 6, 0, 0)
    assert error_of(sandbox.get("/user/profile", headers=auth)) == (403, "TokenException")


def test_unknown_route_and_method_are_kite_errors(sandbox, auth):
    assert error_of(sandbox.get("/nope", headers=auth))[0] == 404
    assert error_of(sandbox.patch("/orders", headers=auth))[0] == 405


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/quote/ltp?i=NSE:INFY", 1),
        ("/instruments/historical/408065/minute?from=2026-11-20&to=2026-11-20", 3),
        ("/orders", 10),
    ],
)
def test_rate_limits_per_endpoint_class(sandbox, auth, path, limit):
    statuses = [sandbox.get(path, headers=auth).status_code for _ in range(limit + 1)]
    assert statuses == [200] * limit + [429]
    body = sandbox.get(path, headers=auth).get_json()
    assert body["error_type"] == "NetworkException"


def test_order_placement_has_its_own_ten_per_second(sandbox, auth):
    order = {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "quantity": 1,
        "product": "MIS",
        "order_type": "LIMIT",
        "price": 1300,
    }
    statuses = [sandbox.post("/orders/regular", data=order, headers=auth).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    assert sandbox.get("/orders", headers=auth).status_code == 200  # other class unaffected


def test_instrument_dump_is_gzipped_csv(sandbox, auth):
    import gzip

    response = sandbox.get("/instruments/NSE", headers=auth)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(response.data).decode()
    assert text.startswith("instrument_token,exchange_token,tradingsymbol")
    assert "408065,1594,INFY" in text and ",BSE\n" not in text


def test_historical_respects_kites_maximum_ranges(sandbox, auth):
    ok = sandbox.get(
        "/instruments/historical/408065/minute?from=2026-09-22+09:15:00&to=2026-11-20+15:30:00", headers=auth
    )
    assert ok.status_code == 200 and len(ok.get_json()["data"]["candles"]) > 1000
    too_long = sandbox.get("/instruments/historical/408065/minute?from=2026-09-01&to=2026-11-20", headers=auth)
    assert error_of(too_long) == (400, "InputException") and "60 days" in too_long.get_json()["message"]
    day = sandbox.get("/instruments/historical/256265/day?from=2021-01-01&to=2026-06-01", headers=auth)
    assert day.status_code == 200


def test_popular_instruments_have_kites_tokens(sandbox, auth):
    keys = ["NSE:INFY", "NSE:RELIANCE", "NSE:TCS", "NSE:HDFCBANK", "NSE:NIFTY 50", "NSE:NIFTY BANK"]
    query = "&".join(f"i={k}" for k in keys)
    data = sandbox.get(f"/quote/ohlc?{query}", headers=auth).get_json()["data"]
    assert {k: v["instrument_token"] for k, v in data.items()} == {
        "NSE:INFY": 408065,
        "NSE:RELIANCE": 738561,
        "NSE:TCS": 2953217,
        "NSE:HDFCBANK": 341249,
        "NSE:NIFTY 50": 256265,
        "NSE:NIFTY BANK": 260105,
    }


def test_logout_needs_a_live_token(sandbox, demo, auth):
    missing = sandbox.delete(f"/session/token?api_key={demo.api_key}", headers=auth)
    assert error_of(missing) == (400, "InputException")
    unknown = sandbox.delete(f"/session/token?api_key={demo.api_key}&access_token=nope", headers=auth)
    assert error_of(unknown) == (403, "TokenException")
    assert sandbox.get("/user/profile", headers=auth).status_code == 200


def test_delay_control_needs_the_secret_and_sane_seconds(sandbox, demo):
    assert sandbox.post("/sandbox/control/delay", json={"path": "/orders", "seconds": 1}).status_code == 403
    bad = sandbox.post("/sandbox/control/delay", json={"api_secret": demo.api_secret, "path": "/x", "seconds": 600})
    assert bad.status_code == 400 and bad.get_json()["error_type"] == "InputException"
    good = {"api_secret": demo.api_secret, "path": "/user/profile", "seconds": 0.3}
    assert sandbox.post("/sandbox/control/delay", json=good).get_json() == {"status": "success", "data": True}
