"""Exchanging a request_token for a Kite session and saving it to session.json."""

import logging
import re
from urllib.parse import quote

from kite_service.clock import now_ist
from kite_service.errors import KiteUnavailableError, NoSessionError, SessionError, SessionFileError
from kite_service.kite.client import NO_RETRY, KiteClient
from kite_service.kite.sdk import kite_errors
from kite_service.login.session_store import Session
from kite_service.logs.redaction import redact, register_secret

log = logging.getLogger("kite_app.login")

REQUEST_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{6,128}$")
UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")  # characters URL encoding never changes


def kite_login_url(settings, credentials, state: str) -> str:
    """Kite's login page for this app, carrying `state` back to /api/callback in redirect_params."""
    if UNRESERVED.fullmatch(state):  # our own states: encoding leaves them as they are, so skip the two passes
        redirect_params = "state%3D" + state
    else:
        redirect_params = quote(f"state={quote(state, safe='')}", safe="")  # Kite expects it encoded twice
    return f"{settings.kite_login_url}?api_key={credentials.api_key}&v=3&redirect_params={redirect_params}"


class LoginError(Exception):
    """The exchange failed; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def exchange_request_token(request_token, settings, credentials, store, clock=now_ist) -> Session:
    """Call Kite's /session/token once and store the session; raises LoginError on any failure."""
    if not isinstance(request_token, str) or not request_token:
        raise LoginError(400, "request_token is missing: pass the request_token from the Kite redirect URL.")
    if not REQUEST_TOKEN_PATTERN.match(request_token):
        raise LoginError(400, "request_token is malformed: copy it exactly from the Kite redirect URL.")
    register_secret(request_token, short_lived=True)
    kite = KiteClient(credentials.api_key, root=settings.kite_api_root, timeout=settings.kite_timeout, retry=NO_RETRY)
    try:
        data = kite.generate_session(request_token, api_secret=credentials.api_secret)
        register_secret(data.get("access_token"), data.get("public_token"))
        session = Session.from_kite(data, credentials.api_key, clock())
    except kite_errors.TokenException:
        raise LoginError(400, "request_token invalid or expired: log in again (GET /api/url).") from None
    except kite_errors.InputException as exc:
        raise LoginError(400, f"Kite refused the request: {redact(str(exc))}") from None
    except kite_errors.KiteException as exc:
        raise LoginError(502, f"Kite failed to create the session: {redact(str(exc))}") from None
    except KiteUnavailableError as exc:
        if exc.timed_out:
            raise LoginError(504, f"Kite did not answer within {settings.kite_timeout:g} s; try again.") from None
        raise LoginError(502, f"Kite is unreachable at {settings.kite_api_root}; try again later.") from None
    except (KeyError, TypeError, ValueError):
        raise LoginError(502, "Kite's answer had no usable session in it; try logging in again.") from None
    finally:
        kite.reqsession.close()  # a client per login: release its connection now, not at garbage collection
    try:
        store.save(session)
    except SessionFileError as exc:
        raise LoginError(500, str(exc)) from None
    log.info("Logged in as %s; session valid until %s IST", session.user_id, f"{session.expires:%Y-%m-%d %H:%M}")
    return session


def log_out(api, store) -> str:
    """End the saved session: Kite invalidates the token (api.logout()) and session.json goes.

    Returns what happened; LoginError(502) when Kite did not confirm, and then nothing changed."""
    try:
        api.logout()
    except NoSessionError:
        return "No Kite session was saved: nothing to log out."
    except SessionError:  # ended at 06:00, refused by Kite, or unreadable: only the file is left
        store.clear()
        log.info("Removed %s (the session had ended already)", store.path)
        return "The session had ended already; session.json removed."
    except (KiteUnavailableError, kite_errors.KiteException) as exc:
        log.warning("Logout failed: %s", exc)
        raise LoginError(
            502, f"Kite did not confirm the logout ({type(exc).__name__}); the session is kept. Try again."
        ) from None
    return "Logged out: Kite ended the session and session.json is removed."
