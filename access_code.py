"""The access code that guards /api/*: constant-time check and throttling of wrong guesses."""

import hashlib
import hmac
import logging
from functools import wraps

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

log = logging.getLogger("kite_app.access")

HEADER = "X-Access-Code"
FAILED_ATTEMPTS_LIMIT = "10 per 15 minutes"
_RATE_LIMIT_HEADERS = ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


class AccessDeniedError(Exception):
    """The request carried no access code or a wrong one (HTTP 401)."""


def code_matches(supplied: str, expected: str) -> bool:
    """Constant-time comparison on digests of the UTF-8 bytes (any input, any length)."""
    supplied_digest = hashlib.sha256(supplied.encode("utf-8", "replace")).digest()
    expected_digest = hashlib.sha256(expected.encode("utf-8", "replace")).digest()
    return hmac.compare_digest(supplied_digest, expected_digest)


def require_access_code(view):
    """Decorator: the view runs only with the right code in ?code= or the X-Access-Code header."""

    @wraps(view)
    def guarded(*args, **kwargs):
        check_access_code(request.headers.get(HEADER) or request.args.get("code") or "")
        return view(*args, **kwargs)

    return guarded


def check_access_code(supplied) -> None:
    """Raise AccessDeniedError (and log it, without the value) unless `supplied` is the access code."""
    expected = current_app.extensions["kite_app"].settings.access_code
    if not isinstance(supplied, str) or not supplied or not code_matches(supplied, expected):
        log.warning(
            "Rejected %s %s from %s: %s access code",
            request.method,
            request.path,
            request.remote_addr,
            "wrong" if supplied else "missing",
        )
        raise AccessDeniedError()


def throttle_failed_attempts(app, *blueprints) -> Limiter:
    """Count 401s per client across `blueprints`; past 10 in 15 minutes every attempt gets 429."""

    # Registered before the limiter's own hook so that it runs after it (Flask runs them in reverse).
    @app.after_request
    def _rate_limit_headers_only_on_429(response):
        if response.status_code != 429:
            for name in _RATE_LIMIT_HEADERS:
                response.headers.pop(name, None)
        return response

    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri="memory://",
        strategy="moving-window",
        headers_enabled=True,
    )
    failed_attempts = limiter.shared_limit(
        FAILED_ATTEMPTS_LIMIT,
        scope="access-code",
        deduct_when=lambda response: response.status_code == 401,
    )
    for blueprint in blueprints:
        failed_attempts(blueprint)

    return limiter
