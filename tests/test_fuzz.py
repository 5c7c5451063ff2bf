"""Bad input: schemathesis against docs/openapi.yaml, and hypothesis on the inputs that matter most.

Every generated request must get a documented status with a body of the documented type (JSON for
the API, HTML for the two pages), never a 5xx, and must leave session.json exactly as it was
(no generated request can be a valid login: "Kite" refuses every request_token here).
CI runs reduced counts; KITE_APP_FULL_COUNTS=1 runs the full ones (docs/reliability.md).
"""

import json
import os
import re

import pytest
import responses
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from conftest import ACCESS_CODE, API_KEY, KITE_ROOT, TWOFA_KEY, make_session
from kite_app import create_app
from kite_service.config.settings import PROJECT_DIR

pytestmark = pytest.mark.long

FULL = os.environ.get("KITE_APP_FULL_COUNTS") == "1"
SCHEMA_EXAMPLES = 700 if FULL else 100
INPUT_EXAMPLES = 1500 if FULL else 150
MINIMUM_REQUESTS = 10_000 if FULL else 1_500
SPEC = PROJECT_DIR / "docs" / "openapi.yaml"
SCHEMA = schemathesis.openapi.from_path(SPEC)
FUZZ_SETTINGS = {"suppress_health_check": list(HealthCheck), "deadline": None, "database": None}


class RequestCounter:
    """WSGI middleware: counts requests and remembers every 5xx."""

    def __init__(self):
        self.total = 0
        self.server_errors = []

    def wrap(self, app):
        inner = app.wsgi_app

        def counted(environ, start_response):
            self.total += 1

            def recording_start_response(status, headers, exc_info=None):
                if status.startswith("5"):
                    self.server_errors.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} -> {status}")
                return start_response(status, headers, exc_info)

            return inner(environ, recording_start_response)

        app.wsgi_app = counted
        return app


@pytest.fixture(scope="module")
def counter():
    counter = RequestCounter()
    yield counter
    print(f"\nfuzzing: {counter.total} requests, {len(counter.server_errors)} server errors")
    assert counter.server_errors == []
    assert counter.total >= MINIMUM_REQUESTS


@pytest.fixture
def kite_refuses_everything():
    """Kite answers every session request with TokenException, as for a stale request_token."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        body = {"status": "error", "error_type": "TokenException", "message": "Token is invalid or has expired."}
        mock.add(responses.POST, KITE_ROOT + "/session/token", status=403, json=body)
        yield mock


@pytest.fixture
def fuzz_app(config, counter, kite_refuses_everything):
    app = counter.wrap(create_app(config))
    store = app.extensions["kite_app"].store
    store.save(make_session("fuzz-session-token"))
    before = store.path.read_bytes()
    yield app
    assert store.path.read_bytes() == before, "a generated request changed session.json"


# -- schemathesis: every operation, with and without the access code -------------------------------


@SCHEMA.parametrize()
@settings(max_examples=SCHEMA_EXAMPLES, **FUZZ_SETTINGS)
def test_schema_conformance(case, fuzz_app):
    _call_and_validate(case, fuzz_app)


# With the right code, POST /api/logout really ends the session (test_logout.py pins what it does).
@SCHEMA.exclude(path="/api/logout").parametrize()
@settings(max_examples=SCHEMA_EXAMPLES, **FUZZ_SETTINGS)
def test_schema_conformance_with_the_code(case, fuzz_app):
    case.headers = {**(case.headers or {}), "X-Access-Code": ACCESS_CODE}
    _call_and_validate(case, fuzz_app)


def _call_and_validate(case, app):
    response = case.call(app=app)
    # ignored_auth re-sends the request over a real network (test_http_api pins the 401s instead);
    # positive_data_acceptance expects 2xx, but here "Kite" refuses every request_token by design.
    case.validate_response(response, excluded_checks=[ignored_auth, positive_data_acceptance])


# -- hypothesis: the inputs an attacker or a typo controls ----------------------------------------------

NASTY_TEXT = st.one_of(
    st.text(max_size=64),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=31), max_size=32),  # control characters
    st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF, exclude_categories=["Cs"]), max_size=32),
    st.builds(lambda c, n: c * n, st.sampled_from("a%\x00é"), st.integers(1000, 20_000)),  # huge
    st.sampled_from(["", " ", ACCESS_CODE + " ", ACCESS_CODE.upper(), "%00", "'; DROP TABLE", "../../etc/passwd"]),
)
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])
CONTENT_TYPES = st.sampled_from(
    [None, "application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data", "é/é"]
)
DOCUMENTED = {
    (path, method.upper()): {int(s) for s in operation["responses"]}
    for path, item in __import__("yaml").safe_load(SPEC.read_text())["paths"].items()
    for method, operation in item.items()
}
HTML_PAGES = {"/login", "/api/callback"}


def check(response, path, method):
    """A documented status (or 405/413/421/429: wrong method, size, host, rate) with the right body type."""
    allowed = DOCUMENTED.get((path, method), set()) | {405, 413, 421, 429}
    assert response.status_code in allowed, (path, method, response.status_code, response.get_data()[:200])
    assert response.status_code < 500
    if response.status_code in (303,):
        return
    if path in HTML_PAGES and method in ("GET", "POST") and response.status_code != 405:
        assert response.mimetype in ("text/html", "application/json")
    else:
        assert response.mimetype == "application/json"
        json.loads(response.get_data())
    assert not re.search(r"Traceback|<title>\d{3}", response.get_data(as_text=True))


@given(code=NASTY_TEXT, token=NASTY_TEXT, method=METHODS, where=st.sampled_from(["query", "header", "form", "json"]))
@settings(max_examples=INPUT_EXAMPLES, **FUZZ_SETTINGS)
def test_access_code_and_token_inputs(fuzz_app, code, token, method, where):
    client = fuzz_app.test_client()
    path = "/api/token"
    kwargs = {"query_string": {"code": code, "request_token": token}}
    if where == "header":
        header = code.encode("utf-8", "replace").decode("latin-1")[:8000]
        kwargs = {"headers": {"X-Access-Code": re.sub(r"[\r\n]", "", header)}}  # HTTP cannot carry newlines
        kwargs["query_string"] = [("request_token", token), ("request_token", token[::-1])]  # duplicated
    elif where == "form":
        kwargs = {"query_string": {"code": code}, "data": {"request_token": token}}
    elif where == "json":
        kwargs = {"query_string": {"code": code}, "json": {"request_token": token, "extra": [token]}}
    check(client.open(path, method=method, **kwargs), path, method)


@given(state=NASTY_TEXT, status=NASTY_TEXT, token=NASTY_TEXT, duplicate=st.booleans(), method=METHODS)
@settings(max_examples=INPUT_EXAMPLES, **FUZZ_SETTINGS)
def test_callback_inputs(fuzz_app, state, status, token, duplicate, method):
    query = [("state", state), ("status", status), ("request_token", token)]
    if duplicate:
        query += [("state", state + "x"), ("status", "success")]
    response = fuzz_app.test_client().open("/api/callback", method=method, query_string=query)
    check(response, "/api/callback", method)
    if method == "GET":
        assert response.status_code in (403, 429)  # never a login without a state this service issued


@given(
    body=st.one_of(
        st.binary(max_size=2048),
        st.dictionaries(st.sampled_from(["order_id", "order_timestamp", "checksum", "status", "x"]), NASTY_TEXT),
        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8), st.lists, max_leaves=20),
    ),
    content_type=CONTENT_TYPES,
    method=METHODS,
)
@settings(max_examples=INPUT_EXAMPLES, **FUZZ_SETTINGS)
def test_postback_inputs(fuzz_app, body, content_type, method):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    response = fuzz_app.test_client().open("/api/postback", method=method, data=raw, headers=headers)
    check(response, "/api/postback", method)
    assert fuzz_app.extensions["kite_app"].events.watched_count == 0  # nothing unsigned gets in


@given(code=NASTY_TEXT, content_type=CONTENT_TYPES, method=METHODS)
@settings(max_examples=INPUT_EXAMPLES, **FUZZ_SETTINGS)
def test_login_form_inputs(fuzz_app, code, content_type, method):
    headers = {"Content-Type": content_type} if content_type else {}
    data = {"code": code} if content_type != "application/json" else json.dumps({"code": code})
    response = fuzz_app.test_client().open("/login", method=method, data=data, headers=headers)
    check(response, "/login", method)
    if response.status_code == 303:
        assert code == ACCESS_CODE and response.headers["Location"].startswith("http://login.test/connect/login?")


OWN_HOSTS = {"127.0.0.1:5001", "localhost:5001", "[::1]:5001", "127.0.0.1", "localhost", "[::1]"}
CODE_CHECKS = {("/api/url", "GET"), ("/api/status", "GET"), ("/api/token", "GET"), ("/api/token", "POST")}
CODE_CHECKS |= {("/login", "POST")}


def latin1(text: str, limit: int = 200) -> str:
    """Header-safe: what a client can put in a header line."""
    return re.sub(r"[\r\n]", "", text.encode("utf-8", "replace").decode("latin-1"))[:limit]


@given(
    host=st.one_of(st.sampled_from(sorted(OWN_HOSTS | {"evil.example", "127.0.0.1:80", "localhost.evil"})), NASTY_TEXT),
    origin=st.one_of(st.none(), st.sampled_from(["null", "http://127.0.0.1:5001", "https://evil.example"]), NASTY_TEXT),
    fetch_site=st.sampled_from([None, "cross-site", "same-site", "same-origin", "none"]),
    path=st.sampled_from(["/api/url", "/api/status", "/login", "/api/token", "/health", "/api/postback"]),
    method=METHODS,
)
@settings(max_examples=INPUT_EXAMPLES, **FUZZ_SETTINGS)
def test_host_and_origin_headers(fuzz_app, host, origin, fetch_site, path, method):
    headers = {"Host": latin1(host) or "empty.invalid", "X-Access-Code": ACCESS_CODE}
    if origin is not None:
        headers["Origin"] = latin1(origin)
    if fetch_site is not None:
        headers["Sec-Fetch-Site"] = fetch_site
    response = fuzz_app.test_client().open(path, method=method, headers=headers)
    check(response, path, method)
    if headers["Host"].lower().removesuffix(":80") not in OWN_HOSTS:  # werkzeug drops http's default port
        assert response.status_code == 421
    elif fetch_site in ("cross-site", "same-site") and (path, method) in CODE_CHECKS:
        assert response.status_code in (403, 413)  # refused before the code, even the right one, is looked at


def test_nothing_secret_was_ever_answered(fuzz_app):
    """The planted secrets of the fuzzed app never come back, whatever was asked."""
    client = fuzz_app.test_client()
    for path in ("/", "/health", "/login", "/api/status?code=wrong-code-0", f"/api/status?code={ACCESS_CODE}"):
        text = client.get(path).get_data(as_text=True)
        assert ACCESS_CODE not in text and TWOFA_KEY not in text and "fuzz-session-token" not in text
        assert API_KEY not in text or path.startswith("/api/url")
