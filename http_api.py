"""The HTTP endpoints and the JSON error handling of the service."""

import logging

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from access_code import AccessDeniedError, require_access_code
from login import LoginError, exchange_request_token

log = logging.getLogger("kite_app.http")

public = Blueprint("public", __name__)
api = Blueprint("api", __name__, url_prefix="/api")


def _context():
    return current_app.extensions["kite_app"]


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


@api.get("/url")
@require_access_code
def login_url():
    """The Kite login URL for this app's api_key."""
    context = _context()
    url = f"{context.settings.kite_login_url}?api_key={context.credentials.api_key}&v=3"
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
    context = _context()
    try:
        session = exchange_request_token(_request_token(), context.settings, context.credentials, context.store)
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

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        if exc.code == 429:
            return error(429, "Too many failed access-code attempts; wait and try again.")
        headers = {"Allow": exc.get_response().headers["Allow"]} if exc.code == 405 else None
        return error(exc.code or 500, exc.description or exc.name, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("Unhandled error in %s %s", request.method, request.path)
        return error(500, "Internal error; the details are in the Kite App log.")
