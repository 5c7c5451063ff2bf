"""The HTTP endpoints and the JSON error handling of the service."""

import logging

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException

from kite_service.login.access_code import (
    AccessDeniedError,
    CeilingReachedError,
    CrossSiteRequestError,
    require_access_code,
)
from kite_service.login.exchange import LoginError, exchange_request_token, kite_login_url, log_out
from kite_service.logs.redaction import redact
from kite_service.orders.postback import PostbackError, verify_postback
from kite_service.orders.postback_followup import QUEUED
from kite_service.orders.watch import MAX_BACKOFF_SECONDS
from kite_service.runtime.context import current_context

log = logging.getLogger("kite_app.http")

# How old the session state in /health and /api/status may be when another process changed
# session.json: monitors may poll these many times a second, and a stat per poll under load costs
# a thread switch each. This process's own logins and logouts show at once.
HEALTH_SESSION_MAX_AGE_SECONDS = 1.0

public = Blueprint("public", __name__)
api = Blueprint("api", __name__, url_prefix="/api")
kite_hooks = Blueprint("kite_hooks", __name__, url_prefix="/api")  # called by Kite: no access code


def error(status: int, message: str, headers=None):
    """The one error shape: {"status": "error", "message": ...}."""
    response = jsonify({"status": "error", "message": message})
    response.status_code = status
    if headers:
        response.headers.update(headers)
    return response


@public.get("/")
def index():
    """Liveness, exactly as the README shows it."""
    return jsonify({"status": "up", "message": "Kite App is running"})


@public.get("/health")
def health():
    """Liveness and readiness for monitors: no access code, no secrets, no user id."""
    context = current_context()
    session = context.store.summary(context.clock(), max_age=HEALTH_SESSION_MAX_AGE_SECONDS)
    body = health_summary(context, session)
    body["session"] = {"state": session["state"], "expires_at": session["expires_at"]}
    return jsonify(body)


@api.get("/status")
@require_access_code
def status():
    """/health plus the user, order-watch counts and the notification backlog."""
    context = current_context()
    body = health_summary(context, context.store.summary(context.clock(), max_age=HEALTH_SESSION_MAX_AGE_SECONDS))
    body["orders"] = {
        "watched_today": context.events.watched_count,
        "by_status": context.events.status_counts(),
        "events_today": context.events.events_today,
    }
    body["postbacks"] = {"looked_up": context.postbacks.looked_up, "ignored": dict(context.postbacks.ignored)}
    body["notifications"] = {
        "notifiers": [n.name for n in context.notifications.notifiers],
        "pending": context.notifications.pending_count if context.notifications.notifiers else 0,
    }
    today = context.gateway.audit.today(context.clock())
    no_calls = {"calls": 0, "orders": 0, "refusals": 0}
    body["gateway"] = {
        "clients": [
            {**client.public(), "today": today.get(client.name, no_calls)} for client in context.gateway.clients.all()
        ]
    }
    body["ticker_hub"] = context.ticker_hub.status(with_subscriptions=True)
    body["freeze_quantities"] = context.api.freeze_limits.in_use()  # each with its source
    body["guard"] = {
        "limits": context.settings.guard.shown(),
        "orders_today": context.guard.orders_today(),
        "kill_switch": {scope: latch.__dict__ for scope, latch in context.guard.latches.active().items()},
        "kill_runs": context.kill_switch.reports(),
        "pnl": context.loss_watch.status(),
    }
    last = context.watcher.last_outcome
    if last is not None and not last.ok:
        body["last_order_check"]["detail"] = redact(last.detail)
    return jsonify(body)


def health_summary(context, session: dict) -> dict:
    last = context.watcher.last_outcome
    scheduler_running = context.runner.running
    stream = context.stream.state if context.stream is not None else None
    problems = _problems(context, session, scheduler_running, last, stream)
    return {
        "status": "up",
        "ready": not problems,
        "problems": problems,
        "session": session,
        "scheduler": {"running": scheduler_running},
        "last_order_check": None
        if last is None
        else {"at": last.at.isoformat(timespec="seconds"), "ok": last.ok, "outcome": _outcome(last)},
        "order_stream": {
            "state": stream.state if stream else "off",
            "last_heard": stream.last_heard.isoformat(timespec="seconds") if stream and stream.last_heard else None,
            "restarts": stream.restarts if stream else 0,
            "last_error": stream.last_error if stream else None,
        },
        "ticker_hub": context.ticker_hub.status(),
    }


def _problems(context, session: dict, scheduler_running: bool, last, stream) -> list:
    """Why the service is not ready to announce every fill, one short phrase each (no secrets)."""
    problems = []
    if session["state"] != "valid":
        problems.append(f"Kite session {session['state']}: log in at /login")
    if not scheduler_running:
        problems.append("order check not running (started without the scheduler, or another process runs it)")
    elif last is not None and not last.ok and last.detail != "no usable session":
        problems.append("order check failing: see /api/status or the log")
    elif last is not None and not last.ok and session["state"] == "valid":
        problems.append("order check paused: Kite refused the saved session; log in at /login")
    elif last is not None and (context.clock() - last.at).total_seconds() > _overdue_seconds(context):
        problems.append(f"order check has not run since {last.at:%H:%M:%S}")
    if stream is not None and not stream.healthy:
        problems.append(f"order stream {stream.state} ({stream.last_error or 'thread ended'})")
    return problems


def _overdue_seconds(context) -> float:
    """Longer than the longest wait between two checks: the poll interval plus the failure backoff."""
    return 2 * context.settings.order_poll_seconds + MAX_BACKOFF_SECONDS + context.settings.kite_timeout * 4


def _outcome(last) -> str:
    if last.ok:
        return "ok"
    return "paused: no usable session" if last.detail == "no usable session" else "failed"


@api.get("/url")
@require_access_code
def login_url():
    """The Kite login URL for this app's api_key, with a one-time state for /api/callback."""
    context = current_context()
    url = kite_login_url(context.settings, context.credentials, context.login_states.issue())
    return jsonify(
        {
            "status": "success",
            "url": url,
            "message": "Use this URL to complete the authentication process",
        }
    )


@api.route("/token", methods=["GET", "POST"])
@require_access_code
def token():
    """Exchange a request_token (query, form or JSON body) for a session saved in session.json."""
    context = current_context()
    try:
        session = exchange_request_token(
            _request_token(), context.settings, context.credentials, context.store, clock=context.clock
        )
    except LoginError as exc:
        log.warning("Login failed (HTTP %d): %s", exc.status, exc)
        return error(exc.status, str(exc))
    return jsonify(
        {
            "status": "success",
            "message": "Session generated.",
            "user_id": session.user_id,
            "expires_at": session.expires_at,
        }
    )


@api.post("/logout")
@require_access_code
def logout():
    """Log out: Kite invalidates today's access token, session.json is removed, the order check and
    stream pause. Kite not reachable: 502 and nothing changed (the token still works; try again)."""
    context = current_context()
    try:
        message = log_out(context.api, context.store)
    except LoginError as exc:
        return error(exc.status, str(exc))
    return jsonify({"status": "success", "message": message})


@kite_hooks.post("/postback")
def postback():
    """Kite's order-update postback: checksum verified, then the order is looked up at Kite.

    Only the order id is signed, so the postback's status is never believed: the order's history
    is fetched from Kite in the background and announced like a poll's findings."""
    context = current_context()
    try:
        payload = verify_postback(request.get_data(cache=False), context.credentials.api_secret)
    except PostbackError as exc:
        context.refusals.warning("refused postbacks", "Postback refused (HTTP %d): %s", exc.status, exc)
        return error(exc.status, str(exc))
    if context.postbacks.submit(payload["order_id"], payload["order_timestamp"]) != QUEUED:
        return jsonify({"status": "success", "message": "Order update received; nothing new to check with Kite."})
    return jsonify({"status": "success", "message": "Order update received; checking the order with Kite."})


def _request_token():
    """From a JSON body, a form body, or the query string (in that order)."""
    if request.method == "POST" and request.is_json:
        body = request.get_json(silent=True)
        value = body.get("request_token") if isinstance(body, dict) else None
    elif request.method == "POST":
        value = request.form.get("request_token")
    else:
        value = None
    return value if value is not None else request.args.get("request_token")


def register_error_handlers(app) -> None:
    """Every error becomes JSON with the right status; no HTML page, no traceback."""

    @app.errorhandler(AccessDeniedError)
    def _access_denied(_exc):
        return error(401, "Access code missing or wrong: pass ?code=... or the X-Access-Code header.")

    @app.errorhandler(CrossSiteRequestError)
    def _cross_site(_exc):
        current_context().refusals.warning("cross-site requests", "Refused a cross-site request to %s", request.path)
        return error(403, "Refused: this request came from a page of another web site. Use curl or /login.")

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        if exc.code == 429:
            retry_after = {"Retry-After": str(exc.retry_after)} if getattr(exc, "retry_after", None) else None
            message = "Too many failed access-code attempts; wait and try again."
            if isinstance(exc, CeilingReachedError):
                message = (
                    "Too many wrong access codes from all addresses; wait and try again, or use a browser that "
                    "logged in here before, or this machine itself (README: logging in during a flood)."
                )
            return error(429, message, retry_after)
        headers = {"Allow": exc.get_response().headers["Allow"]} if exc.code == 405 else None
        return error(exc.code or 500, exc.description or exc.name, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("Unhandled error in %s %s", request.method, request.path)
        return error(500, "Internal error; the details are in the Kite App log.")
