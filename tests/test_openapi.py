"""docs/openapi.yaml and the app agree: the same routes, and the statuses the app gives are documented."""

import pytest
import yaml

from conftest import ACCESS_CODE
from settings import PROJECT_DIR

SPEC = yaml.safe_load((PROJECT_DIR / "docs" / "openapi.yaml").read_text())
METHODS = {"get", "post", "put", "patch", "delete"}


def documented_operations() -> set:
    return {(path, method.upper()) for path, item in SPEC["paths"].items() for method in item if method in METHODS}


def test_every_route_is_documented_and_every_documented_route_exists(app):
    served = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
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


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/", {}),
        ("GET", "/health", {}),
        ("GET", "/login", {}),
        ("POST", "/login", {"data": {"code": "wrong-code-1"}}),
        ("POST", "/login", {"data": {"code": ACCESS_CODE}}),
        ("GET", "/api/callback", {"query_string": {"state": "x.1.y", "status": "success"}}),
        ("GET", "/api/url", {}),
        ("GET", "/api/url", {"headers": {"X-Access-Code": ACCESS_CODE}}),
        ("GET", "/api/token", {"headers": {"X-Access-Code": ACCESS_CODE}}),
        ("POST", "/api/token", {"headers": {"X-Access-Code": ACCESS_CODE}, "json": {"request_token": "!"}}),
        ("POST", "/api/token", {"headers": {"X-Access-Code": ACCESS_CODE}, "data": "x" * 20000}),
        ("GET", "/api/status", {"headers": {"X-Access-Code": ACCESS_CODE}}),
        ("POST", "/api/postback", {"data": b"{}"}),
        ("POST", "/api/postback", {"data": b'{"order_id":"1","order_timestamp":"t","checksum":"c","status":"OPEN"}'}),
    ],
)
def test_the_status_the_app_gives_is_documented(client, method, path, kwargs):
    response = client.open(path, method=method, **kwargs)
    assert response.status_code in _statuses(path, method), response.get_data(as_text=True)
    if response.status_code >= 400 and response.mimetype == "application/json":
        assert set(response.get_json()) == {"status", "message"}
