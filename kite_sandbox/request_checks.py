"""What every API request passes before its view: injected delays and faults, Kite's version header,
the api_key and access token, the registered static IP for order calls, and Kite's rate limits.

Rate limits count on real time, in a moving window of the last second (rate_window.py)."""

import time

from flask import request

from .error_responses import InputError, PermissionDeniedError, RateLimitedError, TokenError
from .instance import Sandbox
from .rate_window import MovingWindow
from .routes import BROWSER_ROUTES, ORDER_ROUTES, RATE_LIMITS, ROUTE_LIMIT_CLASS, SESSION_ROUTES

STATIC_IP_HELP = "https://support.zerodha.com/category/trading-and-markets/general-kite/kite-api/articles/static-ip"


def install_request_checks(app, sandbox: Sandbox, *, order_ip: str | None, enforce_rate_limits: bool) -> None:
    """Run the checks before every request of `app`; a request that passes lets time act first."""
    window = MovingWindow()
    credentials, accounts = sandbox.credentials, sandbox.accounts

    @app.before_request
    def check_protocol():
        if request.endpoint in BROWSER_ROUTES or request.endpoint is None:
            return None
        if request.path in sandbox.delays:
            time.sleep(sandbox.delays[request.path])
        fault = sandbox.faults.take(request.path)
        if fault is not None:
            return fault
        if request.headers.get("X-Kite-Version") != "3":
            raise InputError("Invalid or missing X-Kite-Version header: send X-Kite-Version: 3.")
        if request.endpoint in SESSION_ROUTES:
            return None
        api_key, _, access_token = request.headers.get("Authorization", "").removeprefix("token ").partition(":")
        if api_key != credentials.api_key or accounts.session_for(access_token) is None:
            raise TokenError("Incorrect `api_key` or `access_token`.")
        if order_ip and request.endpoint in ORDER_ROUTES and request.remote_addr != order_ip:
            raise PermissionDeniedError(
                f"IP ({request.remote_addr}) is not allowed to place orders for this app. Update allowed IPs on "
                f"the Kite developer console. Learn more - {STATIC_IP_HELP}"
            )
        limit_class = ROUTE_LIMIT_CLASS.get(request.endpoint, "other")
        if limit_class and enforce_rate_limits and not window.hit((api_key, limit_class), RATE_LIMITS[limit_class]):
            raise RateLimitedError("Too many requests")
        sandbox.advance()
        return None
