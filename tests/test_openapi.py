"""docs/openapi.yaml and the app agree: the same routes, and each request gets its status, which is documented."""

import pytest
import yaml

from conftest import ACCESS_CODE
from kite_service.config.settings import PROJECT_DIR

SPEC = yaml.safe_load((PROJECT_DIR / "docs" / "openapi.yaml").read_text())
METHODS = {"get", "post", "put", "patch", "delete"}


def documented_operations() -> set:
    return {(path, method.upper()) for path, item in SPEC["paths"].items() for method in item if method in METHODS}


def test_every_route_is_documented_and_every_documented_route_exists(app):
    """Kite App's own routes; the gateway's are Kite Connect v3's, documented by Kite (see the spec's intro)."""
    served = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.endpoint.startswith("gateway.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served == documented_operations()


def test_every_operation_documents_its_responses_and_json_errors_use_the_error_shape():
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary"), (path, method)
            assert operation["responses"], (path, method)
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    assert response["$ref"].removeprefix("#/components/responses/") in SPEC["components"]["responses"]
                elif status.startswith(("4", "5")) and "application/json" in response.get("content", {}):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def _statuses(path, method) -> set:
    return {int(s) for s in SPEC["paths"][path][method.lower()]["responses"]}


CHECKSUM_WRONG = (
    b'{"order_id":"151220000000000","order_timestamp":"2026-11-20 09:15:00","checksum":"c","status":"OPEN"}'
)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "expected"),
    [
        ("GET", "/", {}, 200),
        ("GET", "/health", {}, 200),  # up, though not ready: no session
        ("GET", "/login", {}, 200),
        ("POST", "/login", {"data": {"code": "wrong-code-1"}}, 401),
        ("POST", "/login", {"data": {"code": ACCESS_CODE}}, 303),  # on to Kite's login
        ("GET", "/api/callback", {"query_string": {"state": "x.1.y", "status": "success"}}, 403),  # forged state
        ("GET", "/api/url", {}, 401),
        ("GET", "/api/url", {"headers": {"X-Access-Code": ACCESS_CODE}}, 200),
        ("GET", "/api/token", {"headers": {"X-Access-Code": ACCESS_CODE}}, 400),  # no request_token
        ("POST", "/api/token", {"headers": {"X-Access-Code": ACCESS_CODE}, "json": {"request_token": "!"}}, 400),
        ("POST", "/api/token", {"headers": {"X-Access-Code": ACCESS_CODE}, "data": "x" * 20000}, 413),
        ("GET", "/api/status", {"headers": {"X-Access-Code": ACCESS_CODE}}, 200),
        ("POST", "/api/postback", {"data": b"{}"}, 400),
        ("POST", "/api/postback", {"data": CHECKSUM_WRONG}, 401),
        ("GET", "/day", {}, 200),  # the access code form
        ("POST", "/day/open", {"data": {"code": "wrong-code-1"}}, 401),
        ("POST", "/day/open", {"data": {"code": ACCESS_CODE}}, 303),
        ("GET", "/day/events", {}, 401),  # no page cookie
        ("POST", "/day/kill", {"data": {"confirm": "KILL"}}, 403),  # no page cookie, no token
        ("POST", "/day/reset", {"data": {"confirm": "RESET"}}, 403),
        ("POST", "/day/close", {"data": {}}, 403),
    ],
)
def test_the_app_gives_the_expected_status_and_the_spec_documents_it(client, method, path, kwargs, expected):
    response = client.open(path, method=method, **kwargs)
    assert response.status_code == expected, response.get_data(as_text=True)
    assert expected in _statuses(path, method)
    if response.status_code >= 400 and response.mimetype == "application/json":
        assert set(response.get_json()) == {"status", "message"}
