"""A flood of wrong access codes through the trusted proxy holds strangers, not the owner.

The service is served by waitress as behind the README's nginx (TRUSTED_PROXY=127.0.0.1), so
X-Forwarded-For names the client and any local process can name any address. 100 wrong codes
from all addresses together make every code check from an address wait; the owner still gets in
from a browser that logged in before (its device cookie) and from the machine itself.
"""

import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from conftest import ACCESS_CODE, API_SECRET, KITE_ROOT, free_port, session_response
from kite_app import create_app, proxy_settings
from kite_service.login.access_code import DEVICE_BUDGET, MAX_TRACKED_DEVICES, FailedAttempts
from kite_service.login.device import DEVICE_COOKIE, DeviceCookies
from kite_service.web.http_server import create_http_server

TOKEN_URL = f"{KITE_ROOT}/session/token"
KITE_LOGIN = "http://login.test/connect/login"
OWNER = "192.0.2.10"  # the owner's address as the proxy names it
STRANGER = "198.51.100.7"


@dataclass
class Served:
    url: str
    app: object


@pytest.fixture
def service(config):
    """The service as it serves behind the README's nginx: waitress, TRUSTED_PROXY=127.0.0.1."""
    port = free_port()
    app = create_app({**config, "TRUSTED_PROXY": "127.0.0.1", "PORT": str(port)})
    server = create_http_server(app, "127.0.0.1", port, **proxy_settings(app.extensions["kite_app"].settings))
    threading.Thread(target=server.run, daemon=True).start()
    yield Served(f"http://127.0.0.1:{server.effective_port}", app)
    server.close()


def via_proxy(address: str) -> dict:
    """What nginx adds to a request from `address` (any local process can write the same)."""
    return {"X-Forwarded-For": address}


def enter_code(service, code=ACCESS_CODE, headers=None, browser=None, cookie=None):
    """The /login form posted with `code`: through the proxy when `headers` name an address."""
    sender = browser or requests
    cookies = {DEVICE_COOKIE: cookie} if cookie is not None else None
    return sender.post(
        f"{service.url}/login",
        data={"code": code},
        headers=headers or {},
        cookies=cookies,
        allow_redirects=False,
        timeout=5,
    )


def flood(service, count=300, first=0) -> list:
    """`count` wrong codes, each from another address named in X-Forwarded-For; their statuses."""
    with requests.Session() as attacker:
        return [
            enter_code(service, f"wrong-{n:06d}", via_proxy(f"203.0.{n // 250}.{n % 250}"), attacker).status_code
            for n in range(first, first + count)
        ]


def log_in_through_the_proxy(service, kite, browser, address=OWNER) -> None:
    """A whole login as on the owner's usual morning: /login, Kite, the callback; keeps the cookies."""
    kite.add(responses.POST, TOKEN_URL, body=session_response(), content_type="application/json")
    started = enter_code(service, headers=via_proxy(address), browser=browser)
    assert started.status_code == 303
    [state] = parse_qs(parse_qs(urlsplit(started.headers["Location"]).query)["redirect_params"][0])["state"]
    query = {"state": state, "status": "success", "request_token": "reqtoken123", "action": "login"}
    done = browser.get(
        f"{service.url}/api/callback", params=query, headers=via_proxy(address), allow_redirects=False, timeout=5
    )
    assert done.status_code == 303 and "/login?done=" in done.headers["Location"]


def page_text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


def gets_to_kite(response) -> bool:
    return response.status_code == 303 and response.headers["Location"].startswith(KITE_LOGIN)


@pytest.fixture
def owners_browser(service, kite):
    """A browser (cookie jar) that completed a login through the proxy before the flood."""
    kite.add_passthru(service.url)
    with requests.Session() as browser:
        log_in_through_the_proxy(service, kite, browser)
        yield browser


def test_after_a_flood_a_strangers_right_code_waits(service):
    statuses = flood(service)
    assert statuses.count(401) == 100 and statuses.count(429) == 200  # the ceiling: 100 from all addresses
    held = enter_code(service, headers=via_proxy(STRANGER))
    assert held.status_code == 429 and 800 < int(held.headers["Retry-After"]) <= 900
    assert "Too many wrong access codes from all addresses" in page_text(held)
    assert "A browser that has logged in here before" in page_text(held)  # the owner reads how to get in
    code = {"X-Access-Code": ACCESS_CODE}
    api = requests.get(f"{service.url}/api/url", headers={**code, **via_proxy(STRANGER)}, timeout=5)
    assert api.status_code == 429 and "a browser that logged in here before" in api.json()["message"]  # the API too


def test_a_browser_that_logged_in_before_gets_in_during_a_flood(service, owners_browser):
    cookie = owners_browser.cookies.get(DEVICE_COOKIE)
    assert cookie
    assert flood(service).count(401) == 100
    assert enter_code(service, headers=via_proxy(OWNER)).status_code == 429  # same address, no cookie: held
    again = enter_code(service, headers=via_proxy(OWNER), browser=owners_browser)
    assert gets_to_kite(again)
    assert f"{DEVICE_COOKIE}=" in again.headers["Set-Cookie"]  # the right code renews it, for the same device
    renewed = owners_browser.cookies.get(DEVICE_COOKIE)
    assert DeviceCookies(API_SECRET, ACCESS_CODE).device_of(renewed) == cookie.split(".")[0]
    # From any address the proxy names (a phone on mobile data) and on the API too.
    assert gets_to_kite(enter_code(service, headers=via_proxy("100.64.3.9"), browser=owners_browser))
    code = {"X-Access-Code": ACCESS_CODE}
    api = owners_browser.get(f"{service.url}/api/url", headers={**code, **via_proxy(OWNER)}, timeout=5)
    assert api.status_code == 200 and api.json()["url"].startswith(KITE_LOGIN)


def test_the_machine_itself_gets_in_during_a_flood(service, kite, store):
    kite.add_passthru(service.url)
    assert flood(service).count(401) == 100
    assert gets_to_kite(enter_code(service))  # straight to the port from 127.0.0.1, as through an SSH tunnel
    # A request through the proxy that names loopback is not the machine's: the ceiling holds it.
    assert enter_code(service, headers=via_proxy("127.0.0.1")).status_code == 429
    assert enter_code(service, headers=via_proxy("")).status_code == 429  # nor one with an empty name
    assert enter_code(service, headers={"X-Real-IP": "127.0.0.1"}).status_code == 429  # nor another proxy's
    # The README's way on the machine: /api/url and /api/token with curl.
    code = {"X-Access-Code": ACCESS_CODE}
    url = requests.get(f"{service.url}/api/url", headers=code, timeout=5)
    assert url.status_code == 200 and url.json()["url"].startswith(KITE_LOGIN)
    kite.add(responses.POST, TOKEN_URL, body=session_response("machine-token"), content_type="application/json")
    token = requests.post(f"{service.url}/api/token", headers=code, data={"request_token": "reqtoken123"}, timeout=5)
    assert token.status_code == 200 and store.load().access_token == "machine-token"


def test_through_an_ssh_tunnel_the_owner_logs_in_during_a_flood(service, kite, store):
    """The README's browser way: /login at 127.0.0.1 through the tunnel; Kite sends the browser to the
    public address, where the login's cookie is not sent; the same address at 127.0.0.1 finishes it."""
    kite.add_passthru(service.url)
    assert flood(service).count(401) == 100
    with requests.Session() as tunnelled:
        started = enter_code(service, browser=tunnelled)
        assert gets_to_kite(started)
        [state] = parse_qs(parse_qs(urlsplit(started.headers["Location"]).query)["redirect_params"][0])["state"]
        query = {"state": state, "status": "success", "request_token": "reqtoken123", "action": "login"}
        public = requests.get(f"{service.url}/api/callback", params=query, headers=via_proxy(OWNER), timeout=5)
        assert public.status_code == 403 and "started in another browser" in page_text(public)
        kite.add(responses.POST, TOKEN_URL, body=session_response("tunnel-token"), content_type="application/json")
        done = tunnelled.get(f"{service.url}/api/callback", params=query, allow_redirects=False, timeout=5)
    assert done.status_code == 303 and store.load().access_token == "tunnel-token"


def test_the_machine_itself_keeps_its_own_budget(service):
    assert flood(service).count(401) == 100
    local = [enter_code(service, f"local-guess-{n}").status_code for n in range(11)]
    assert local == [401] * 10 + [429]  # 10 wrong codes from this machine, then it waits too
    assert enter_code(service).status_code == 429


def test_a_forged_device_cookie_gets_no_one_past_the_ceiling(service, owners_browser):
    genuine = owners_browser.cookies.get(DEVICE_COOKIE)
    device, issued, signature = genuine.split(".")
    assert flood(service).count(401) == 100
    forged = [
        "",
        "anything",
        "abc.1999999999.00ff",
        f"{device}.{issued}.{'0' * len(signature)}",  # the owner's device, signature guessed
        f"{device}x.{issued}.{signature}",  # another device under the owner's signature
        f"{device}.{int(issued) + 1}.{signature}",  # a later issue date under the owner's signature
        DeviceCookies("another-api-secret", ACCESS_CODE).issue(),  # signed with another key
        DeviceCookies(API_SECRET, "another-access-code").issue(),  # signed before CODE was changed
        DeviceCookies(API_SECRET, ACCESS_CODE, clock=lambda: time.time() - 401 * 24 * 3600).issue(),  # expired
    ]
    for cookie in forged:
        answer = enter_code(service, headers=via_proxy(STRANGER), cookie=cookie)
        assert answer.status_code == 429, cookie
    assert gets_to_kite(enter_code(service, headers=via_proxy(STRANGER), cookie=genuine))


def test_wrong_codes_with_a_device_cookie_spend_only_that_devices_budget(service, owners_browser):
    wrong = [enter_code(service, f"typo-{n}", via_proxy(OWNER), owners_browser).status_code for n in range(11)]
    assert wrong == [401] * 10 + [429]  # 10 wrong in 15 minutes from this browser, like an address
    assert enter_code(service, headers=via_proxy(OWNER), browser=owners_browser).status_code == 429
    # Its address's budget is untouched: the same address without the cookie gets in.
    assert gets_to_kite(enter_code(service, headers=via_proxy(OWNER)))
    # ... and so is the ceiling: 90 wrong codes from addresses, with the device's 10, still let a stranger in.
    assert flood(service, 90).count(401) == 90
    assert gets_to_kite(enter_code(service, headers=via_proxy(STRANGER)))


def test_the_device_budget_fills_again_after_15_minutes(service, owners_browser):
    now = [5_000.0]
    service.app.extensions[DEVICE_BUDGET] = FailedAttempts(total_limit=None, clock=lambda: now[0])
    for n in range(10):
        assert enter_code(service, f"typo-{n}", via_proxy(OWNER), owners_browser).status_code == 401
    held = enter_code(service, headers=via_proxy(OWNER), browser=owners_browser)
    assert held.status_code == 429 and held.headers["Retry-After"] == "900"
    now[0] += 15 * 60
    assert gets_to_kite(enter_code(service, headers=via_proxy(OWNER), browser=owners_browser))


def test_the_device_cookie_is_httponly_strict_long_lived_and_secure_behind_https(config):
    plain = create_app(config).test_client().post("/login", data={"code": ACCESS_CODE})
    [cookie] = [c for c in plain.headers.getlist("Set-Cookie") if c.startswith(f"{DEVICE_COOKIE}=")]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Max-Age=34560000" in cookie and "Secure" not in cookie  # 400 days
    assert ACCESS_CODE not in cookie and API_SECRET not in cookie
    https = create_app({**config, "PUBLIC_URL": "https://kite.example.com"}).test_client()
    answer = https.post("/login", data={"code": ACCESS_CODE}, headers={"Host": "kite.example.com"})
    assert any(c.startswith(f"{DEVICE_COOKIE}=") and "Secure" in c for c in answer.headers.getlist("Set-Cookie"))
    wrong = create_app(config).test_client().post("/login", data={"code": "wrong-code-123"})
    assert not any(c.startswith(f"{DEVICE_COOKIE}=") for c in wrong.headers.getlist("Set-Cookie"))


def test_the_device_cookie_survives_a_restart(config):
    first = create_app(config).test_client()
    first.post("/login", data={"code": ACCESS_CODE})
    cookie = first.get_cookie(DEVICE_COOKIE).value
    restarted = create_app(config)
    device = restarted.extensions["device_cookies"].device_of(cookie)
    assert device is not None and device == cookie.split(".")[0]


def test_the_device_table_stays_bounded(service):
    devices = service.app.extensions[DEVICE_BUDGET]
    for number in range(MAX_TRACKED_DEVICES * 2):
        devices.take(f"device-{number}")
    assert devices.tracked_clients == MAX_TRACKED_DEVICES
