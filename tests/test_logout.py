"""Logging out through the service: POST /api/logout and the /login page's button, behind the access code."""

import requests
import responses
from responses import matchers

from conftest import ACCESS_CODE, API_KEY, KITE_ROOT, ist, make_session, recorded

LOGOUT_URL = KITE_ROOT + "/session/token"


def expect_logout(kite, token):
    kite.add(
        responses.DELETE,
        LOGOUT_URL,
        json=recorded("session_logout.json"),
        match=[matchers.query_param_matcher({"api_key": API_KEY, "access_token": token})],
    )


def test_logout_ends_the_session_at_kite_and_removes_session_json(kite, client, settings, logged_in):
    expect_logout(kite, logged_in.access_token)
    response = client.post("/api/logout", headers={"X-Access-Code": ACCESS_CODE})
    assert response.status_code == 200 and response.get_json()["status"] == "success"
    assert "Logged out" in response.get_json()["message"]
    assert not settings.session_file.exists()
    health = client.get("/health").get_json()
    assert health["session"]["state"] == "missing" and health["ready"] is False
    assert "Kite session missing: log in at /login" in health["problems"]
    assert logged_in.access_token not in response.get_data(as_text=True)


def test_logout_needs_the_access_code_and_a_post(kite, client, settings, logged_in):
    assert client.post("/api/logout").status_code == 401
    assert client.post("/api/logout", headers={"X-Access-Code": ACCESS_CODE + "x"}).status_code == 401
    assert client.get("/api/logout", headers={"X-Access-Code": ACCESS_CODE}).status_code == 405
    assert settings.session_file.exists() and len(kite.calls) == 0


def test_logout_keeps_the_session_when_kite_does_not_answer(kite, client, settings, logged_in):
    kite.add(responses.DELETE, LOGOUT_URL, body=requests.ConnectionError("unreachable"))
    response = client.post("/api/logout", headers={"X-Access-Code": ACCESS_CODE})
    assert response.status_code == 502 and response.get_json()["status"] == "error"
    assert "the session is kept. Try again" in response.get_json()["message"]
    assert settings.session_file.exists()


def test_logout_without_a_session_says_so(kite, client):
    response = client.post("/api/logout", headers={"X-Access-Code": ACCESS_CODE})
    assert response.status_code == 200 and "nothing to log out" in response.get_json()["message"]


def test_logout_of_an_expired_session_only_removes_the_file(kite, client, settings, store):
    store.save(make_session(login_time=ist(2026, 1, 5, 9, 0)))  # ended at 06:00 the next morning
    response = client.post("/api/logout", headers={"X-Access-Code": ACCESS_CODE})
    assert response.status_code == 200 and "ended already" in response.get_json()["message"]
    assert not settings.session_file.exists() and len(kite.calls) == 0


def test_the_login_page_has_a_logout_button_that_needs_the_code(kite, client, settings, logged_in):
    page = client.get("/login").get_data(as_text=True)
    assert 'action="/logout"' in page and "Log out of Kite" in page
    wrong = client.post("/logout", data={"code": "wrong-code-123"})
    assert wrong.status_code == 401 and settings.session_file.exists()
    expect_logout(kite, logged_in.access_token)
    done = client.post("/logout", data={"code": ACCESS_CODE})
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and "Logged out" in text and "Not logged in yet" in text
    assert "Log out of Kite" not in text and not settings.session_file.exists()


def test_the_page_title_is_only_its_title(client, logged_in):
    html = client.get("/login").get_data(as_text=True)
    assert "<title>Kite login · Kite App</title>" in html and html.count('id="logout"') == 1
