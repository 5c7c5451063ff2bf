"""Checks before any handler runs, and headers on every answer: the Host allow-list, no caching.

A web page whose domain is made to resolve to 127.0.0.1 (DNS rebinding) reaches this service with
its own name in the Host header; answering only to this service's own names stops it before any
page or API is read. The names: the loopback names with the configured port, HOST when bound to a
specific address, and the host of PUBLIC_URL (where a reverse proxy or tunnel forwards from).
"""

from urllib.parse import urlsplit

from flask import request

from kite_service.runtime.context import EXTENSION, current_context
from kite_service.web.api import error

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("", "0.0.0.0", "::")  # noqa: S104 - names, not a binding


def allowed_hosts(settings) -> frozenset:
    """Host header values this service answers to (lowercase)."""
    names = set(LOOPBACK_NAMES)
    if settings.host not in ANY_ADDRESS:
        names.add(f"[{settings.host}]" if ":" in settings.host else settings.host)
    hosts = {f"{name}:{settings.port}" for name in names} | set(LOOPBACK_NAMES)  # browsers omit port 80
    if settings.public_url:
        netloc = urlsplit(settings.public_url).netloc.lower()
        hosts.add(netloc)
        if ":" not in netloc.rsplit("]", 1)[-1]:  # no port: the scheme's default, sent with or without it
            hosts.add(f"{netloc}:{443 if settings.public_url.startswith('https') else 80}")
    return frozenset(hosts)


MISDIRECTED = (
    "Misdirected request: this service answers only to its own address. "
    "If you reach it through another name, set PUBLIC_URL to that address."
)


def is_unknown_host(request, hosts: frozenset, refusals) -> bool:
    """True (and logged, throttled) when `request` names a host this service does not answer to."""
    # The raw header first: werkzeug's request.host parses it again on every use (a tenth of
    # /health's time); its normalised form (default ports dropped) only for what misses.
    if request.environ.get("HTTP_HOST", "").lower() in hosts:
        return False
    host = (request.host or "").lower()
    if host in hosts:
        return False
    refusals.warning("requests for unknown hosts", "Refused a request for host %r", host[:100])
    return True


def install_request_guards(app) -> None:
    """Refuse unknown Host headers with 421; mark every answer no-store and nosniff."""
    hosts = allowed_hosts(app.extensions[EXTENSION].settings)

    @app.before_request
    def check_host():
        if is_unknown_host(request, hosts, current_context().refusals):
            return error(421, MISDIRECTED)
        return None

    @app.after_request
    def no_caching(response):
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
