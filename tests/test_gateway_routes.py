"""What the gateway makes of a request's method and path: known to Kite or not, an order call or a
read, which of Kite's rate limits it counts against."""

import re

import pytest

from kite_service.gateway.kite_routes import GO_CLIENT_PATHS, KiteCall
from kite_service.kite.sdk import KiteConnect


def test_every_route_of_the_official_client_is_passed_through():
    for path in [*KiteConnect._routes.values(), *GO_CLIENT_PATHS]:
        filled = re.sub(r"\{\w+\}", "x1", path)
        assert KiteCall("GET", filled).known, path
    for path in ("/user/nothing-here", "/orders/regular/1/extra/more", "/", "/health", "/api/status"):
        assert not KiteCall("GET", path).known, path


@pytest.mark.parametrize(
    ("method", "path", "rate_class", "order_call", "changes"),
    [
        ("POST", "/orders/regular", "order_placement", True, True),
        ("PUT", "/orders/regular/123", "other", True, True),
        ("DELETE", "/orders/co/123", "other", True, True),
        ("GET", "/orders/123", "other", False, False),  # an order's history: a read
        ("GET", "/quote/ltp", "quote", False, False),
        ("GET", "/instruments/historical/408065/minute", "historical", False, False),
        ("POST", "/margins/orders", "other", False, False),  # a calculation: allowed to read-only clients
        ("POST", "/gtt/triggers", "other", False, True),
    ],
)
def test_calls_are_told_apart(method, path, rate_class, order_call, changes):
    call = KiteCall(method, path)
    assert (call.rate_class, call.is_order_call, call.changes_the_account) == (rate_class, order_call, changes)


def test_session_routes_are_recognised():
    assert KiteCall("POST", "/session/token").is_session and KiteCall("DELETE", "/session/token").is_session
    assert KiteCall("POST", "/session/refresh_token").is_session and not KiteCall("GET", "/user/profile").is_session
