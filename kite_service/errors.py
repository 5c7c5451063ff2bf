"""Typed errors of Kite App. Every message says what the user should do next."""

from kite_service.config.defaults import DEFAULT_LOGIN_URL


def login_hint(login_url: str = DEFAULT_LOGIN_URL) -> str:
    """What to do when there is no usable session: the one-click page first."""
    return f"log in at {login_url} (one click), or by hand with /api/url and /api/token"


class KiteAppError(Exception):
    """Base class of every error Kite App raises on purpose."""


class ConfigError(KiteAppError):
    """A setting or the credentials file is missing or invalid; the service cannot start."""


class PortInUseError(ConfigError):
    """The port to listen on is taken; the process cannot start (exit code 1)."""

    def __init__(self, host, port, reason, option):
        super().__init__(
            f"Cannot listen on {host}:{port} ({reason}): another program uses it; choose another with {option}"
        )


class SessionError(KiteAppError):
    """There is no usable Kite session."""


class NoSessionError(SessionError):
    """session.json does not exist yet."""

    def __init__(self, path, login_url: str = DEFAULT_LOGIN_URL):
        super().__init__(f"No Kite session yet ({path} does not exist): {login_hint(login_url)}.")


class SessionExpiredError(SessionError):
    """The access token expired at 06:00 IST or was invalidated by Kite."""

    def __init__(self, reason, login_url: str = DEFAULT_LOGIN_URL):
        super().__init__(f"Kite session expired: {reason}. To continue, {login_hint(login_url)}.")


class SessionFileError(SessionError):
    """session.json exists but cannot be read or written."""


class KiteUnavailableError(KiteAppError):
    """Kite did not answer (network error or timeout) after the allowed retries."""

    def __init__(self, message, timed_out=False):
        super().__init__(message)
        self.timed_out = timed_out


class OrderCapError(KiteAppError):
    """Kite's order cap per minute or per day is reached: the order was not sent (and never is later)."""

    def __init__(self, limit: int, per: str, resets: str):
        super().__init__(
            f"Not sent: Kite accepts at most {limit:,} orders a {per}, and this process has reached it. Kite "
            f"would refuse the order (HTTP 429). The cap resets {resets}; place the order again yourself then "
            "if it still makes sense (Kite App never retries orders)."
        )
        self.limit = limit
        self.per = per  # "minute" or "day"
        self.resets = resets


class StorageError(KiteAppError):
    """The order database could not be read or written (full disk, read-only folder): nothing was changed."""


class HistoryIncompleteError(KiteAppError):
    """Kite failed part-way through a long history: what came before is cached, the rest is not fetched."""

    def __init__(self, token: int, interval: str, fetched_until, resume_from, cause: BaseException):
        done = f"up to {fetched_until:%Y-%m-%d}" if fetched_until else "nothing yet"
        super().__init__(
            f"Candles of {token} ({interval}): fetched {done}, then Kite failed ({type(cause).__name__}: "
            f"{str(cause)[:200]}). Call again to resume from {resume_from:%Y-%m-%d}: the days fetched are "
            "cached and not asked for again."
        )
        self.fetched_until = fetched_until  # the last day fetched whole before the failure, or None
        self.resume_from = resume_from  # the first day not fetched
