"""The browser side of the daily login: the /login page and the /api/callback that Kite redirects to.

Server-rendered HTML that works without JavaScript. The access code travels in a POST body, never
in a URL; the callback is accepted only with a state this service issued (login/state.py), from
the browser it was issued to: POST /login sets a random browser key in an HttpOnly, SameSite=Lax
cookie (sent back on Kite's top-level redirect) that the callback and the page after it check. A
login begun with /api/url (curl) has no browser: its callback asks for the access code once more.

A form that carries the right access code also remembers its browser: a signed device cookie
(login/device.py; HttpOnly, SameSite=Strict, 400 days) whose code checks spend a budget of their
own, so a flood of wrong codes from other addresses cannot keep the owner's browser out.
"""

import logging
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from kite_service.login.access_code import (
    DEVICE_COOKIES,
    AccessDeniedError,
    CeilingReachedError,
    CrossSiteRequestError,
    check_access_code,
)
from kite_service.login.device import DEVICE_COOKIE, DEVICE_LIFETIME_SECONDS
from kite_service.login.exchange import LoginError, exchange_request_token, kite_login_url, log_out
from kite_service.login.state import STATE_LIFETIME_SECONDS, UNBOUND, InvalidStateError
from kite_service.runtime.context import current_context

log = logging.getLogger("kite_app.login")

browser = Blueprint("browser", __name__)
BROWSER_COOKIE = "kite_app_login"


@browser.get("/login")
def login_page():
    """The session state and the "Log in with Kite" form; after a login, its outcome instead.

    The user is named only on the page a completed login lands on, which carries a receipt that
    only a login begun with the access code gets: a page that merely loads /login learns nothing."""
    done = current_context().login_states.receipt_ok(request.args.get("done"), request.cookies.get(BROWSER_COOKIE))
    return _login_page(200, done=done)


@browser.post("/login")
def start_login():
    """Check the access code, then send the browser to Kite with a fresh one-time state."""
    context = current_context()
    refused = _refuse_without_code("login")
    if refused is not None:
        return refused
    browser_key = secrets.token_urlsafe(24)
    url = kite_login_url(context.settings, context.credentials, context.login_states.issue(browser_key))
    return _remembered(_with_browser_key(redirect(url, code=303), browser_key))


@browser.post("/logout")
def logout():
    """The page's Log out button: the access code again, then the same logout as POST /api/logout."""
    context = current_context()
    refused = _refuse_without_code("logout")
    if refused is not None:
        return refused
    try:
        message = log_out(context.api, context.store)
    except LoginError as exc:
        return _remembered(_login_page(exc.status, error=str(exc)))
    return _remembered(_login_page(200, notice=message))


@browser.get("/api/callback")
def callback():
    """Kite's redirect after a login: check the state and its browser, then exchange the request_token."""
    context = current_context()
    state = request.args.get("state")
    browser_key = request.cookies.get(BROWSER_COOKIE)
    try:
        bound = context.login_states.redeem(state, browser_key)
    except InvalidStateError as exc:
        context.refusals.warning("refused login callbacks", "Login callback refused: %s", exc)
        return _refused(403, str(exc))
    if request.args.get("status") != "success":
        context.refusals.warning(
            "refused login callbacks",
            "Login callback refused: Kite reported status %r",
            str(request.args.get("status"))[:40],
        )
        return _refused(400, "Kite did not report a successful login, so nothing was changed.")
    if bound == UNBOUND:  # begun with /api/url: no browser to check, so the access code decides
        context.login_states.park(state, str(request.args.get("request_token") or ""))
        return _page(render_template("login_finish.html", state=state), 200)
    return _exchange(context, request.args.get("request_token"), state, browser_key)


@browser.post("/login/finish")
def finish_login():
    """The access code for a login begun with /api/url; then the request_token Kite sent is exchanged."""
    context = current_context()
    state = request.form.get("state", "")
    try:
        check_access_code(request.form.get("code", ""))
    except AccessDeniedError:
        return _page(render_template("login_finish.html", state=state, error="That access code is wrong."), 401)
    except CrossSiteRequestError:
        context.refusals.warning("cross-site requests", "Refused a cross-site login finish form post")
        return _refused(403, "Refused: the form was sent from another web site.")
    try:
        request_token = context.login_states.finish(state)
    except InvalidStateError as exc:
        return _refused(403, str(exc))
    browser_key = secrets.token_urlsafe(24)
    return _remembered(_with_browser_key(_exchange(context, request_token, state, browser_key), browser_key))


def _exchange(context, request_token, state: str, browser_key: str):
    try:
        exchange_request_token(request_token, context.settings, context.credentials, context.store, clock=context.clock)
    except LoginError as exc:
        log.warning("Login failed (HTTP %d): %s", exc.status, exc)
        return _refused(exc.status, str(exc))
    receipt = context.login_states.receipt(state, browser_key)
    return redirect(url_for("browser.login_page", done=receipt), code=303)


def _with_browser_key(response, browser_key: str):
    """The browser key cookie: HttpOnly (no script reads it), SameSite=Lax (Kite's redirect brings it
    back, a cross-site POST does not), Secure behind HTTPS, gone with the login state's 10 minutes."""
    response.set_cookie(
        BROWSER_COOKIE,
        browser_key,
        max_age=STATE_LIFETIME_SECONDS,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=current_context().settings.service_url.startswith("https://"),
    )
    return response


def _remembered(response):
    """Set (or renew for 400 days more) the device cookie of this browser, whose form just carried the
    right access code: HttpOnly, SameSite=Strict (only this service's own pages send it), Secure
    behind HTTPS. A browser that brought a valid one keeps its device, and with it its budget."""
    cookies = current_app.extensions[DEVICE_COOKIES]
    response.set_cookie(
        DEVICE_COOKIE,
        cookies.issue(cookies.device_of(request.cookies.get(DEVICE_COOKIE))),
        max_age=DEVICE_LIFETIME_SECONDS,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=current_context().settings.service_url.startswith("https://"),
    )
    return response


def _refuse_without_code(form: str):
    """None when the posted form carries the access code; otherwise the page saying why (401 or 403)."""
    try:
        check_access_code(request.form.get("code", ""))
    except AccessDeniedError:
        return _login_page(401, error="That access code is wrong. Try again.")
    except CrossSiteRequestError:
        current_context().refusals.warning("cross-site requests", "Refused a cross-site %s form post", form)
        return _login_page(403, error="Refused: the form was sent from another web site. Open this page directly.")
    return None


def _login_page(status: int, error: str | None = None, done: bool = False, notice: str | None = None):
    session = current_context().store.summary(current_context().clock())
    expires = _readable_time(session["expires_at"])
    html = render_template("login.html", session=session, expires=expires, error=error, done=done, notice=notice)
    return _page(html, status)


def _refused(status: int, reason: str):
    return _page(render_template("login_refused.html", reason=reason), status)


def _page(html: str, status: int):
    response = current_app.response_class(html, status=status, mimetype="text/html")
    kite_origin = "{0.scheme}://{0.netloc}".format(urlsplit(current_context().settings.kite_login_url))
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {kite_origin}; frame-ancestors 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _readable_time(iso: str | None) -> str | None:
    if not iso:
        return None
    return f"{datetime.fromisoformat(iso):%H:%M IST on %a %d %b %Y}"


CEILING_REACHED = (
    "Too many wrong access codes from all addresses together; code checks from addresses wait up to 15 "
    "minutes. A browser that has logged in here before, and the machine Kite App runs on (for example "
    "through an SSH tunnel to 127.0.0.1), can log in now."
)


@browser.errorhandler(429)
def _too_many_attempts(exc):
    if isinstance(exc, CeilingReachedError):
        response = _refused(429, CEILING_REACHED)
    else:
        response = _refused(429, "Too many wrong access codes from this address; wait 15 minutes and try again.")
    if getattr(exc, "retry_after", None):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response
