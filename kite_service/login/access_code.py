"""The access code that guards /api/* and /login: constant-time check, cross-site refusal and
throttling of wrong guesses.

Each code check spends one of three budgets of 10 wrong codes in 15 minutes: a remembered
browser's own (login/device.py), this machine's own (a request sent straight to the port from
loopback), or its client address's. Only the addresses share a ceiling, 100 wrong codes from all of
them together, because behind a trusted proxy any process that reaches the port can name any
address; the owner's remembered browser and the machine itself are never held by it, so a flood
cannot keep the owner from logging in.
"""

import functools
import hashlib
import hmac
import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from functools import wraps
from urllib.parse import urlsplit

from flask import current_app, request
from werkzeug.exceptions import TooManyRequests

from kite_service.login.device import DEVICE_COOKIE, DeviceCookies
from kite_service.runtime.context import EXTENSION, current_context

HEADER = "X-Access-Code"
FAILED_ATTEMPTS = 10
ALL_FAILED_ATTEMPTS = 100  # across all clients: naming other addresses buys no more guesses than this
WINDOW_SECONDS = 15 * 60
MAX_TRACKED_CLIENTS = 10_000
MAX_TRACKED_DEVICES = 1_000  # remembered browsers with wrong codes in the window; each began with the right code
THIS_MACHINE = "this machine"  # the name of the budget of requests sent straight to the port from loopback
# app.extensions keys: the budgets and the device cookies (failed_access_attempts: the addresses')
ADDRESS_BUDGET, MACHINE_BUDGET, DEVICE_BUDGET = "failed_access_attempts", "machine_access_attempts", "device_attempts"
DEVICE_COOKIES = "device_cookies"
# What a proxy adds to name the caller (with TRUSTED_PROXY set, waitress keeps X-Forwarded-For only
# from it): a request that carries one was not sent by this machine for itself.
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


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


class CeilingReachedError(TooManyRequests):
    """All client addresses together sent 100 wrong codes in 15 minutes (HTTP 429): code checks from
    addresses wait; a remembered browser and the machine itself are not held."""


def check_access_code(supplied) -> None:
    """Raise AccessDeniedError (counted, and logged without the value) unless `supplied` is the
    access code; CrossSiteRequestError for a request a browser sent from another site, before
    anything is counted; TooManyRequests while this client's wrong guesses fill its budget
    (CeilingReachedError while all addresses' together fill theirs)."""
    refuse_cross_site_requests()
    attempts, client, name = budget_of_request()
    retry_after = attempts.take(client)  # takes a guess from the budget first: no race between checks
    if retry_after:
        if attempts.ceiling_reached:
            current_context().refusals.warning(
                "code checks past the ceiling",
                "%d wrong access codes from all clients in 15 minutes: every code check from a client "
                "address waits %d s (remembered browsers and this machine itself are not held)",
                ALL_FAILED_ATTEMPTS,
                retry_after,
            )
            raise CeilingReachedError(retry_after=retry_after)
        raise TooManyRequests(retry_after=retry_after)  # even the right code waits: no guessing through
    context = current_context()
    if isinstance(supplied, str) and supplied and code_matches(supplied, context.settings.access_code):
        attempts.give_back(client)
        return
    context.refusals.warning(
        "rejected access codes",
        "Rejected %s %s from %s: %s access code",
        request.method,
        request.path,
        name,  # an address checked to be one (a forwarded one is written by the client), or a fixed name
        "wrong" if supplied else "missing",
    )
    raise AccessDeniedError()


def budget_of_request() -> tuple["FailedAttempts", str, str]:
    """The budget this request's code check spends, the key it is counted under there, and the name
    the log gives it: a remembered browser's own, this machine's own, or its client address's (under
    the ceiling for all addresses)."""
    extensions = current_app.extensions
    device = extensions[DEVICE_COOKIES].device_of(request.cookies.get(DEVICE_COOKIE))
    if device is not None:  # the log names a device by a prefix: enough to tell them apart
        return extensions[DEVICE_BUDGET], device, f"a remembered browser ({device[:6]})"
    if from_this_machine(request.environ):
        return extensions[MACHINE_BUDGET], THIS_MACHINE, THIS_MACHINE
    client = client_key(request.remote_addr)
    return extensions[ADDRESS_BUDGET], client, client


def from_this_machine(environ) -> bool:
    """True for a request sent straight to the port from this machine: its address is loopback and
    no proxy says it forwarded it. With TRUSTED_PROXY=127.0.0.1 a request through the proxy comes
    from loopback too, but carries the X-Forwarded-For the proxy set (its address is then the one
    named there), so any forwarding header, even an empty one, makes a request not the machine's;
    so does one from a proxy nobody named in TRUSTED_PROXY, whose callers all look like loopback."""
    if any(header in environ for header in FORWARDING_HEADERS):
        return False
    return client_key(environ.get("REMOTE_ADDR")) == "loopback"


class CrossSiteRequestError(Exception):
    """A browser sent this request from a page of another site (HTTP 403); no code was checked."""


def refuse_cross_site_requests() -> None:
    """Refuse what a browser marks as cross-site (Sec-Fetch-Site) or sends with a foreign Origin.

    A page on any web site can make the owner's browser send a form POST or an image request here;
    wrong codes from it would spend the owner's guesses and lock them out. curl and scripts send
    neither header; origins listed in CORS_ORIGINS may call, as configured."""
    environ = request.environ  # the WSGI dict directly: werkzeug's header view costs more than the checks
    origin = environ.get("HTTP_ORIGIN")
    fetch_site = environ.get("HTTP_SEC_FETCH_SITE")
    if origin is None and fetch_site is None:
        return  # curl, scripts, or an old browser's same-site request
    settings = current_context().settings
    if origin is not None and origin in settings.cors_origins:
        return
    # "null": the browser withholds the origin (our pages' Referrer-Policy: no-referrer does that
    # for our own form); Sec-Fetch-Site still tells where the request came from.
    if origin not in (None, "null") and origin.rstrip("/").lower() not in own_origins(settings):
        raise CrossSiteRequestError(origin)
    if fetch_site in ("cross-site", "same-site"):
        raise CrossSiteRequestError(environ.get("HTTP_REFERER") or "another site")


def own_origins(settings) -> frozenset:
    """The origins of this service's own pages: its loopback addresses and PUBLIC_URL."""
    return _own_origins(settings.port, settings.host, settings.public_url)


@functools.lru_cache(maxsize=4)
def _own_origins(port: int, host: str, public_url: str) -> frozenset:
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
    origins = {f"http://{name}:{port}" for name in names} | {f"https://{name}:{port}" for name in names}
    if public_url:
        parts = urlsplit(public_url)
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return frozenset(origins)


@functools.lru_cache(maxsize=1024)
def client_key(address: str | None) -> str:
    """Whose budget a guess spends: every loopback address is one client (127.0.0.0/8 and ::1 are
    all this machine), an IPv6 client is its /64 network (one household or server has all of it)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "malformed"  # whatever a client wrote there, it buys no budget of its own
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailedAttempts:
    """Wrong access codes per client in a moving 15-minute window: 10 each, and (unless total_limit
    is None) 100 for all clients together, taken atomically.

    With a trusted proxy the client's address comes from X-Forwarded-For, which any process that
    can reach the port may write: the ceiling across clients caps what naming other addresses buys
    (at the price that a flood of wrong codes makes the owner wait too, at most 15 minutes).

    A guess takes its place in the window before the code is compared, under one lock, so 90
    simultaneous guesses get exactly 10 comparisons; a right code gives its place back. At most
    `max_tracked` clients are kept (the least recently seen go first), so the table is
    bounded in memory, and each client's window only ever holds its last 10 failures. Written here
    rather than with `limits`, whose windows cannot give a place back.
    """

    def __init__(
        self,
        limit: int = FAILED_ATTEMPTS,
        window: float = WINDOW_SECONDS,
        clock=time.monotonic,
        total_limit: int | None = ALL_FAILED_ATTEMPTS,
        max_tracked: int = MAX_TRACKED_CLIENTS,
    ):
        self._limit = limit
        self._total_limit = total_limit
        self._max_tracked = max_tracked
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: OrderedDict = OrderedDict()  # client -> deque of failure times, oldest first
        self._all: deque = deque()  # every client's failure times, oldest first
        self.ceiling_reached = False

    def take(self, client: str) -> int:
        """0 if `client` may try a code (its guess is counted now); else the seconds to wait."""
        with self._lock:
            now = self._clock()
            failures = self._clients.get(client)
            if failures is None:
                failures = self._clients[client] = deque()
                while len(self._clients) > self._max_tracked:
                    self._clients.popitem(last=False)
            else:
                self._clients.move_to_end(client)
            while failures and failures[0] <= now - self._window:
                failures.popleft()
            while self._all and self._all[0] <= now - self._window:
                self._all.popleft()
            if len(failures) >= self._limit:
                return max(1, math.ceil(failures[0] + self._window - now))
            if self._total_limit is not None:
                self.ceiling_reached = len(self._all) >= self._total_limit
                if self.ceiling_reached:
                    return max(1, math.ceil(self._all[0] + self._window - now))
                self._all.append(now)
            failures.append(now)
            return 0

    def give_back(self, client: str) -> None:
        """The code was right: the guess taken for it does not count."""
        with self._lock:
            failures = self._clients.get(client)
            if failures:
                failures.pop()
                if self._total_limit is not None and self._all:
                    self._all.pop()

    @property
    def tracked_clients(self) -> int:
        return len(self._clients)


def throttle_failed_attempts(app) -> FailedAttempts:
    """Count wrong codes per client; past 10 in 15 minutes every code check answers 429.

    The count lives in the code check itself (the API's decorator and the login form), so
    requests that take no code, such as /health, pay nothing for it. Returns the addresses' budget;
    this machine's and the remembered browsers' sit beside it in app.extensions.
    """
    context = app.extensions[EXTENSION]
    attempts = FailedAttempts()
    app.extensions[ADDRESS_BUDGET] = attempts
    app.extensions[MACHINE_BUDGET] = FailedAttempts(total_limit=None)
    app.extensions[DEVICE_BUDGET] = FailedAttempts(total_limit=None, max_tracked=MAX_TRACKED_DEVICES)
    app.extensions[DEVICE_COOKIES] = DeviceCookies(context.credentials.api_secret, context.settings.access_code)
    return attempts
