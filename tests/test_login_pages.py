"""The /login page and the one-click /api/callback, with Kite mocked by `responses`."""

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses

from conftest import ACCESS_CODE, API_SECRET, KITE_ROOT, TWOFA_KEY, make_session, session_response
from kite_service.login.state import LoginStates

TOKEN_URL = f"{KITE_ROOT}/session/token"


def start_login(client) -> str:
    """POST the access code on /login; returns the state carried in the Kite login URL."""
    response = client.post("/login", data={"code": ACCESS_CODE})
    assert response.status_code == 303
    url = urlsplit(response.headers["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "http://login.test/connect/login"
    [state] = parse_qs(parse_qs(url.query)["redirect_params"][0])["state"]
    return state


def callback(client, state, status="success", request_token="reqtoken123"):
    query = {"request_token": request_token, "action": "login", "type": "login", "status": status}
    if state is not None:
        query["state"] = state
    return client.get("/api/callback?" + urlencode(query))


def page_text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_login_page_says_never_logged_in(client):
    response = client.get("/login")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Not logged in yet" in page_text(response)
    assert '<label for="code">Access code</label>' in response.get_data(as_text=True)


def test_login_page_shows_until_when_but_names_nobody_without_the_code(client, logged_in):
    text = page_text(client.get("/login"))
    assert "A Kite session is active until 06:00 IST on" in text
    assert logged_in.user_id not in text and logged_in.user_name not in text  # a rebound page learns nothing
    assert logged_in.access_token not in text
    assert logged_in.user_id not in page_text(client.get("/login?done=1.1999999999.00ff"))  # forged receipt


def test_login_page_says_the_session_expired(client, store):
    from conftest import ist

    store.save(make_session(login_time=ist(2026, 1, 5, 9, 0)))
    assert "expired at 06:00 IST on Tue 06 Jan 2026" in page_text(client.get("/login"))


def test_wrong_code_is_refused_on_the_page_and_not_redirected(client):
    response = client.post("/login", data={"code": "wrong-code-123"})
    assert response.status_code == 401 and "Location" not in response.headers
    assert "That access code is wrong" in page_text(response)
    assert "wrong-code-123" not in response.get_data(as_text=True)


def test_one_click_login_writes_the_session_and_lands_logged_in(client, kite, store):
    kite.add(responses.POST, TOKEN_URL, body=session_response("callback-token-1"), content_type="application/json")
    response = callback(client, start_login(client))
    assert response.status_code == 303 and "/login?done=" in response.headers["Location"]
    assert store.load().access_token == "callback-token-1"
    landing = client.get(response.headers["Location"])
    assert "Login complete" in page_text(landing) and "Logged in as" in page_text(landing)
    assert '<label for="code">' not in landing.get_data(as_text=True)  # no second step offered
    assert "callback-token-1" not in landing.get_data(as_text=True)


@pytest.mark.parametrize(
    "make_state",
    [
        lambda client: None,
        lambda client: "forged.1999999999.00ff",
        lambda client: LoginStates().issue(),  # signed, but with another server's key
    ],
    ids=["no-state", "forged", "foreign-key"],
)
def test_forged_callback_is_refused_and_changes_nothing(client, kite, store, logged_in, make_state):
    before = store.path.read_bytes()
    response = callback(client, make_state(client))
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert "Login refused" in page_text(response) and "Nothing was changed" in page_text(response)
    assert len(kite.calls) == 0  # Kite was never asked
    assert store.path.read_bytes() == before


def test_replayed_callback_is_refused(client, kite, store):
    kite.add(responses.POST, TOKEN_URL, body=session_response("first-token"), content_type="application/json")
    state = start_login(client)
    assert callback(client, state).status_code == 303
    replay = callback(client, state, request_token="othertoken9")
    assert replay.status_code == 403 and "already used" in page_text(replay)
    assert store.load().access_token == "first-token" and len(kite.calls) == 1


def test_callback_after_ten_minutes_is_refused(app, client, kite, store):
    now = [1_800_000_000.0]
    app.extensions["kite_app"].login_states = LoginStates(clock=lambda: now[0])
    state = start_login(client)
    now[0] += 601
    response = callback(client, state)
    assert response.status_code == 403 and "expired" in page_text(response)
    assert store.load() is None and len(kite.calls) == 0


def test_unsuccessful_kite_status_is_refused(client, kite, store):
    response = callback(client, start_login(client), status="cancelled")
    assert response.status_code == 400 and "did not report a successful login" in page_text(response)
    assert store.load() is None and len(kite.calls) == 0


def test_expired_request_token_shows_the_reason_and_keeps_the_old_session(client, kite, store, logged_in):
    kite.add(
        responses.POST,
        TOKEN_URL,
        status=403,
        json={"status": "error", "error_type": "TokenException", "message": "Token is invalid or has expired."},
    )
    response = callback(client, start_login(client))
    assert response.status_code == 400 and "request_token invalid or expired" in page_text(response)
    assert store.load() == logged_in


def test_pages_carry_protective_headers(client):
    for response in (client.get("/login"), callback(client, None)):
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "form-action 'self' http://login.test" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_guessing_the_code_on_the_page_is_throttled(client):
    for _ in range(10):
        assert client.post("/login", data={"code": "guess-000000"}).status_code == 401
    blocked = client.post("/login", data={"code": ACCESS_CODE})
    assert blocked.status_code == 429 and blocked.mimetype == "text/html"
    assert "Too many wrong access codes" in page_text(blocked)
    assert client.get(f"/api/url?code={ACCESS_CODE}").status_code == 429  # one budget for page and API


def test_no_secret_reaches_any_page(client, kite, logged_in):
    kite.add(responses.POST, TOKEN_URL, body=session_response("page-token-77"), content_type="application/json")
    pages = [client.get("/login"), client.post("/login", data={"code": "nope-nope-1"})]
    pages.append(callback(client, start_login(client)))
    pages.append(client.get("/login?done=1"))
    for response in pages:
        body = response.get_data(as_text=True) + str(response.headers)
        for secret in (ACCESS_CODE, API_SECRET, TWOFA_KEY, "page-token-77", logged_in.access_token, "reqtoken123"):
            assert secret not in body


# -- the login bound to the browser that began it ---------------------------------------------------------


def test_a_state_from_the_login_page_finishes_only_in_the_browser_that_asked(app, client, kite, store):
    """A state seen elsewhere (history, a screenshot) cannot log another browser's Kite account in."""
    state = start_login(client)
    stranger = app.test_client()  # another browser: no cookie from our /login
    refused = callback(stranger, state, request_token="strangers9token")
    assert refused.status_code == 403 and "started in another browser" in page_text(refused)
    assert store.load() is None and len(kite.calls) == 0
    kite.add(responses.POST, TOKEN_URL, body=session_response("owners-token"), content_type="application/json")
    assert callback(client, state).status_code == 303  # the owner's own browser still can
    assert store.load().access_token == "owners-token"


def test_the_login_cookie_is_httponly_lax_and_secure_behind_https(config):
    from kite_app import create_app

    plain = create_app(config).test_client().post("/login", data={"code": ACCESS_CODE})
    cookie = plain.headers["Set-Cookie"]
    assert cookie.startswith("kite_app_login=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Max-Age=600" in cookie and "Secure" not in cookie
    https = create_app({**config, "PUBLIC_URL": "https://kite.example.com"}).test_client()
    answer = https.post("/login", data={"code": ACCESS_CODE}, headers={"Host": "kite.example.com"})
    assert "Secure" in answer.headers["Set-Cookie"]


def test_the_login_complete_page_names_the_user_only_in_its_browser(app, client, kite, store):
    kite.add(responses.POST, TOKEN_URL, body=session_response("callback-token-2"), content_type="application/json")
    landing = callback(client, start_login(client)).headers["Location"]
    assert "Logged in as" in page_text(client.get(landing))
    elsewhere = page_text(app.test_client().get(landing))
    assert "Logged in as" not in elsewhere and store.load().user_id not in elsewhere


def test_a_login_begun_with_api_url_asks_for_the_access_code_before_saving(client, kite, store):
    url = client.get("/api/url", headers={"X-Access-Code": ACCESS_CODE}).get_json()["url"]
    [state] = parse_qs(parse_qs(urlsplit(url).query)["redirect_params"][0])["state"]
    page = callback(client, state, request_token="curltoken42")
    assert page.status_code == 200 and "enter your access code to save the session" in page_text(page)
    assert "curltoken42" not in page.get_data(as_text=True) and store.load() is None and len(kite.calls) == 0
    wrong = client.post("/login/finish", data={"state": state, "code": "wrong-code-123"})
    assert wrong.status_code == 401 and store.load() is None
    kite.add(responses.POST, TOKEN_URL, body=session_response("curl-session"), content_type="application/json")
    done = client.post("/login/finish", data={"state": state, "code": ACCESS_CODE})
    assert done.status_code == 303 and "/login?done=" in done.headers["Location"]
    assert store.load().access_token == "curl-session"
    assert "request_token=curltoken42" in kite.calls[0].request.body  # the token Kite sent to the callback
    again = client.post("/login/finish", data={"state": state, "code": ACCESS_CODE})
    assert again.status_code == 403 and len(kite.calls) == 1
