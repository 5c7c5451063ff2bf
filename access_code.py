"""The access code that guards /api/*: constant-time check and throttling of wrong guesses."""

import functools
import hashlib
import hmac
import logging
import math
import time
from functools import wraps

from flask import current_app, request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger("kite_app.access")

HEADER = "X-Access-Code"
FAILED_ATTEMPTS_LIMIT = "10 per 15 minutes"
MAX_TRACKED_CLIENTS = 10_000


class AccessDeniedError(Exception):
    """The request carried no access code or a wrong one (HTTP 401)."""


def code_matches(supplied: str, expected: str) -> bool:
    """Constant-time comparison on digests of the UTF-8 bytes (any input, any length)."""
    supplied_digest = hashlib.sha256(supplied.encode("utf-8", "replace")).digest()
    return hmac.compare_digest(supplied_digest, _digest(expected))


@functools.lru_cache(maxsize=8)
def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "replace")).digest()


def require_access_code(view):
    """Decorator: the view runs only with the right code in ?code= or the X-Access-Code header."""

    @wraps(view)
    def guarded(*args, **kwargs):
        check_access_code(request.headers.get(HEADER) or request.args.get("code") or "")
        return view(*args, **kwargs)

    return guarded


def check_access_code(supplied) -> None:
    """Raise AccessDeniedError (counted, and logged without the value) unless `supplied` is the
    access code; TooManyRequests instead while this client is blocked for too many wrong ones."""
    client = request.remote_addr or "unknown"
    attempts = current_app.extensions["failed_access_attempts"]
    retry_after = attempts.seconds_blocked(client)
    if retry_after:
        raise TooManyRequests(retry_after=retry_after)  # even the right code waits: no guessing through
    expected = current_app.extensions["kite_app"].settings.access_code
    if not isinstance(supplied, str) or not supplied or not code_matches(supplied, expected):
        log.warning(
            "Rejected %s %s from %s: %s access code",
            request.method,
            request.path,
            client,
            "wrong" if supplied else "missing",
        )
        attempts.record_failure(client)
        raise AccessDeniedError()


class FailedAttempts:
    """Wrong access codes per client address in a moving window (the `limits` library, in memory).

    Only failures count, and only routes that take the code are checked, so every other request
    pays nothing for it (flask-limiter's per-request hook cost more than /health itself).
    """

    def __init__(self, limit: str = FAILED_ATTEMPTS_LIMIT, storage=None):
        self._item = parse(limit)
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self._last_failure: dict[str, float] = {}  # client -> time of its last failure

    def seconds_blocked(self, client: str) -> int:
        """0 if `client` may try again; otherwise the seconds until the oldest failure leaves the window."""
        last = self._last_failure.get(client)
        if last is None or time.time() - last > self._item.get_expiry():
            return 0  # no failure in the window: nothing to look up
        if self._limiter.test(self._item, client):
            return 0
        reset_at, _remaining = self._limiter.get_window_stats(self._item, client)
        return max(1, math.ceil(reset_at - time.time()))

    def record_failure(self, client: str) -> None:
        now = time.time()
        if len(self._last_failure) > MAX_TRACKED_CLIENTS:  # forget clients whose failures left the window
            window = self._item.get_expiry()
            self._last_failure = {c: t for c, t in self._last_failure.items() if now - t <= window}
        self._last_failure[client] = now
        self._limiter.hit(self._item, client)


def throttle_failed_attempts(app) -> FailedAttempts:
    """Count wrong codes per client; past 10 in 15 minutes every code check answers 429.

    The count lives in the code check itself (the API's decorator and the login form), so
    requests that take no code, such as /health, pay nothing for it.
    """
    attempts = FailedAttempts()
    app.extensions["failed_access_attempts"] = attempts
    return attempts
