"""Logging in to the sandbox: the login page, the request-token exchange (/session/token) and the user's profile."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Response, redirect, request

from .accounts import DEMO_USER_NAME, DemoCredentials
from .error_responses import InputError, PermissionDeniedError, TokenError, success
from .login_page import error_page, landing_page, login_form


def login_page(sandbox):
    """GET: Kite's login form; POST: check user, password and TOTP, then redirect with a request_token."""
    creds = sandbox.credentials
    if request.args.get("api_key") != creds.api_key:
        return _html(error_page("Invalid api_key: this app is not registered with the sandbox."), 400)
    if request.method == "GET":
        return _html(login_form())
    user_id = request.form.get("user_id", "")
    if not sandbox.accounts.password_ok(user_id, request.form.get("password", "")):
        return _html(login_form("Invalid user ID or password.", user_id), 401)
    if not creds.totp_ok(request.form.get("twofa_value", "")):
        return _html(login_form("Invalid TOTP.", user_id), 401)
    params = dict(parse_qsl(request.args.get("redirect_params", ""), keep_blank_values=True))
    params.update(request_token=sandbox.accounts.issue_request_token(), action="login", type="login", status="success")
    target = creds.redirect_url or request.host_url.rstrip("/") + "/sandbox/landing"
    return redirect(_with_query(target, params), code=302)


def landing(sandbox):
    return _html(landing_page(sandbox.exchange_command))


def open_session(sandbox):
    """POST /session/token: a request_token and its checksum for an access token."""
    creds, accounts, params = sandbox.credentials, sandbox.accounts, request.form
    if params.get("api_key") != creds.api_key:
        raise InputError("Invalid `api_key`.")
    request_token = params.get("request_token", "")
    if not accounts.checksum_ok(creds.api_key, request_token, params.get("checksum", "")):
        raise TokenError("Invalid `checksum`.")  # Kite answers a bad checksum as a TokenException
    if not accounts.redeem_request_token(request_token):
        raise TokenError("Token is invalid or has expired.")
    session = accounts.open_session()
    return success(
        {
            **profile(creds),
            "avatar_url": "",
            "api_key": creds.api_key,
            "access_token": session.access_token,
            "public_token": session.public_token,
            "enctoken": session.enctoken,
            "refresh_token": "",
            "silo": "",
            "login_time": session.login_time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )


def close_session(sandbox):
    """DELETE /session/token: log out (the access token dies at once)."""
    params = request.args
    if params.get("api_key") != sandbox.credentials.api_key:
        raise InputError("Invalid `api_key`.")
    if not params.get("access_token"):
        raise InputError("Missing `access_token`.")
    if not sandbox.accounts.close_session(params["access_token"]):
        raise TokenError("Incorrect `api_key` or `access_token`.")
    return success(True)


def refresh_refused(sandbox):
    """/session/refresh_token: renewing sessions is for platforms Kite approves, not an ordinary app."""
    raise PermissionDeniedError(  # ours: Kite's wording for an app without the permission is not documented
        "Refresh tokens are issued only to platforms Zerodha approves; log in again at the login page."
    )


def profile(creds: DemoCredentials) -> dict:
    """The demo user as /user/profile shows it; the session answer adds the tokens."""
    return {
        "user_id": creds.user_id,
        "user_type": "individual",
        "email": "sandbox@example.com",
        "user_name": DEMO_USER_NAME,
        "user_shortname": "Sandbox",
        "broker": "ZERODHA",
        "exchanges": ["NSE", "BSE", "NFO", "MF"],
        "products": ["CNC", "NRML", "MIS", "BO", "CO"],
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "avatar_url": None,
        "meta": {"demat_consent": "physical"},
    }


def full_profile(creds: DemoCredentials) -> dict:
    """/user/profile/full (the Go client's FullUserProfile): the profile with bank, demat and KYC details, masked."""
    basic = profile(creds)
    return {
        "user_id": creds.user_id,
        "twofa_type": "totp",
        "user_name": DEMO_USER_NAME,
        "user_type": "individual",
        "email": basic["email"],
        "phone": "*0000",
        "broker": "ZERODHA",
        "bank_accounts": [{"name": "SANDBOX BANK", "branch": "", "account": "*0000"}],
        "dp_ids": ["0000000000000000"],
        "products": basic["products"],
        "order_types": basic["order_types"],
        "exchanges": basic["exchanges"],
        "pan": "*000X",
        "user_shortname": basic["user_shortname"],
        "avatar_url": None,
        "tags": [],
        "password_timestamp": "2026-01-01 00:00:00",
        "twofa_timestamp": "2026-01-01 00:00:00",
        "meta": {"poa": "physical", "silo": "", "account_blocks": []},
    }


def _with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return urlunsplit(parts._replace(query=query))


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/html")
