"""Settings from `.env` and the environment, and the Kite credentials file.

Environment variables win over `.env`, except that the listen address and the access code come
only from `.env` (or KITE_APP_HOST, KITE_APP_PORT, KITE_APP_CODE). Relative paths are resolved
against the project folder, so scripts that import KiteAPI from elsewhere find the same files.
"""

import base64
import binascii
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path

from dotenv import dotenv_values

from kite_service.config.defaults import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TICKER_HUB_PORT
from kite_service.config.guard import GUARD_DEFAULTS, GuardSettings, guard_settings
from kite_service.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parents[2]  # kite_service/config/settings.py -> the project folder
EXAMPLE_ACCESS_CODE = "change-me-to-a-long-random-code"
EXAMPLE_API_KEY, EXAMPLE_API_SECRET = "your_kite_api_key", "your_kite_api_secret"  # login_credentials.example.json
MIN_ACCESS_CODE_LENGTH = 8
ENV_FILE_VARIABLE = "KITE_APP_ENV_FILE"
MIN_TOTP_SECRET_BITS = 112  # pyotp refuses shorter secrets (RFC 4226 asks for 128 bits)

DEFAULTS = {
    "HOST": DEFAULT_HOST,
    "PORT": str(DEFAULT_PORT),
    "CODE": "",
    "CORS_ORIGINS": "",
    "SESSION_FILE": "session.json",
    "CREDENTIALS_FILE": "login_credentials.json",
    "LOG_DIR": "logs",
    "LOG_RETENTION_DAYS": "30",
    "KITE_API_ROOT": "https://api.kite.trade",
    "KITE_LOGIN_URL": "https://kite.zerodha.com/connect/login",
    "KITE_TIMEOUT": "7",
    "ORDER_POLL_SECONDS": "20",
    "PUBLIC_URL": "",
    "ORDER_WEBHOOK_URL": "",
    "TELEGRAM_BOT_TOKEN": "",
    "TELEGRAM_CHAT_ID": "",
    "TELEGRAM_API_BASE": "https://api.telegram.org",
    "LOGIN_REMINDER_TIME": "08:45",
    "MARKET_HOLIDAYS": "",
    "MARKET_PROTECTION": "-1",
    "TRUSTED_PROXY": "",
    "GATEWAY_ALLOWED_ADDRESSES": "",
    "ORDER_STREAM": "on",
    "RATE_LIMITS": "on",
    "PAPER_MARKET_HOURS": "nse",
    "KITE_TICKER_URL": "wss://ws.kite.trade",
    "TICKER_HUB_PORT": str(DEFAULT_TICKER_HUB_PORT),
    "LOG_MAX_MB": "500",
    "FREEZE_QUANTITIES": "",
    "AUDIT_RETENTION_DAYS": "365",
    "AUDIT_MAX_MB": "200",
    "HUB_MAX_CONNECTIONS": "200",
    "HUB_CONNECTIONS_PER_CLIENT": "10",
    "HUB_INSTRUMENTS_PER_CLIENT": "3000",
    **GUARD_DEFAULTS,
}


@dataclass(frozen=True)
class Settings:
    """Everything the service and scripts read from `.env` / the environment."""

    host: str
    port: int
    access_code: str = field(repr=False)
    cors_origins: tuple
    session_file: Path
    credentials_file: Path
    log_dir: Path
    log_retention_days: int
    kite_api_root: str
    kite_login_url: str
    kite_timeout: float
    order_poll_seconds: float
    public_url: str = ""
    order_webhook_url: str = ""
    telegram_bot_token: str = field(default="", repr=False)
    telegram_chat_id: str = ""
    telegram_api_base: str = "https://api.telegram.org"
    login_reminder_time: time | None = None
    market_holidays: frozenset = frozenset()
    market_protection: float = -1  # sent with MARKET and SL-M orders that name none (Kite requires it)
    trusted_proxy: str = ""  # the reverse proxy whose X-Forwarded-For names the real client
    # Where gateway calls may come from besides this machine (loopback): networks, e.g. 203.0.113.7/32
    gateway_allowed_networks: tuple = ()
    order_stream: bool = True  # order updates over Kite's WebSocket, besides the poll
    rate_limits: bool = True  # Kite's rate limits and order caps applied here (off: a sandbox without them only)
    kite_ticker_url: str = "wss://ws.kite.trade"
    ticker_hub_port: int = DEFAULT_TICKER_HUB_PORT  # local KiteTickers connect here (0: any free port)
    log_max_mb: int = 500
    # Freeze quantities that override NSE's dated table until it is updated: (("BANKNIFTY", 900), ...)
    freeze_quantities: tuple = ()
    audit_retention_days: int = 365  # the gateway's audit files (logs/gateway_audit_*.jsonl)
    audit_max_mb: int = 200
    hub_max_connections: int = 200  # local ticker connections at once, all clients together
    hub_connections_per_client: int = 10
    hub_instruments_per_client: int = 3000  # a client's share of the hub's 9,000 (clients limits NAME --instruments)
    guard: GuardSettings = field(default_factory=GuardSettings)  # risk limits and the kill switch (config/guard.py)
    paper_market_hours: str = "nse"  # when paper orders fill: NSE's hours and MARKET_HOLIDAYS, or "always" (a sandbox)

    @property
    def service_url(self) -> str:
        """Where a browser reaches this service: PUBLIC_URL, else http://HOST:PORT."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def order_database_file(self) -> Path:
        """Order state and the notification outbox (orders/database.py)."""
        return self.data_dir / "orders.sqlite3"

    @property
    def notifications_outbox_file(self) -> Path:
        """The outbox of earlier versions, imported into the order database once."""
        return self.data_dir / "notifications.json"

    @property
    def gateway_clients_file(self) -> Path:
        """The gateway's clients, their tokens hashed (gateway/clients.py)."""
        return self.data_dir / "gateway_clients.json"

    @property
    def data_dir(self) -> Path:
        """The folder of session.json; the order state and scheduler lock live beside it."""
        return self.session_file.parent

    @property
    def order_state_file(self) -> Path:
        """The order state of earlier versions, imported into the order database once."""
        return self.data_dir / "order_state.json"

    @property
    def scheduler_lock_file(self) -> Path:
        return self.data_dir / ".kite_app.scheduler.lock"

    def require_access_code(self) -> None:
        """Refuse to serve without a real access code."""
        code = self.access_code
        if not code:
            raise ConfigError("CODE is not set: put an access code of 8+ characters in .env (see .env.example).")
        if code == EXAMPLE_ACCESS_CODE:
            raise ConfigError("CODE is still the example value: choose your own access code in .env.")
        if len(code) < MIN_ACCESS_CODE_LENGTH:
            raise ConfigError(f"CODE is too short: use at least {MIN_ACCESS_CODE_LENGTH} characters.")


@dataclass(frozen=True)
class Credentials:
    """The Kite Connect app's keys from login_credentials.json."""

    api_key: str
    api_secret: str = field(repr=False)
    twofa_key: str | None = field(default=None, repr=False)


def env_file() -> Path:
    """The dotenv file in use: KITE_APP_ENV_FILE if set (the sandbox writes one), else `.env`."""
    return expand_path(os.environ.get(ENV_FILE_VARIABLE) or ".env")


# Settings the environment sets only under a name of their own: a login shell exports HOST (tcsh:
# the machine's name), and nothing inherited may move the listener or change the access code.
ENVIRONMENT_NAMES = {"HOST": "KITE_APP_HOST", "PORT": "KITE_APP_PORT", "CODE": "KITE_APP_CODE"}


def environment_values(environ: Mapping[str, str] | None = None) -> dict:
    """The settings the environment sets: each by its own name, but HOST, PORT and CODE only as
    KITE_APP_HOST, KITE_APP_PORT and KITE_APP_CODE."""
    environ = os.environ if environ is None else environ
    values = {name: environ[name] for name in DEFAULTS if name in environ and name not in ENVIRONMENT_NAMES}
    values.update({name: environ[variable] for name, variable in ENVIRONMENT_NAMES.items() if variable in environ})
    return values


def configured_values() -> dict:
    """The dotenv file's values overlaid by environment_values() (the environment wins)."""
    return {**dotenv_values(env_file()), **environment_values()}


def load_settings(values: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `values`, or from configured_values() when None."""
    if values is None:
        values = configured_values()
    merged = {**DEFAULTS, **{k: v for k, v in values.items() if v is not None}}
    if bool(merged["TELEGRAM_BOT_TOKEN"].strip()) != bool(merged["TELEGRAM_CHAT_ID"].strip()):
        raise ConfigError("Telegram needs both TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID (or neither).")
    return Settings(
        host=merged["HOST"],
        port=_int(merged, "PORT", low=1, high=65535),
        access_code=merged["CODE"],
        cors_origins=tuple(o.strip() for o in merged["CORS_ORIGINS"].split(",") if o.strip()),
        session_file=expand_path(merged["SESSION_FILE"]),
        credentials_file=expand_path(merged["CREDENTIALS_FILE"]),
        log_dir=expand_path(merged["LOG_DIR"]),
        log_retention_days=_int(merged, "LOG_RETENTION_DAYS", low=1, high=3650),
        kite_api_root=merged["KITE_API_ROOT"].rstrip("/"),
        kite_login_url=merged["KITE_LOGIN_URL"],
        kite_timeout=_float(merged, "KITE_TIMEOUT", low=0.1),
        order_poll_seconds=_float(merged, "ORDER_POLL_SECONDS", low=0.1),
        public_url=merged["PUBLIC_URL"].strip().rstrip("/"),
        order_webhook_url=merged["ORDER_WEBHOOK_URL"].strip(),
        telegram_bot_token=merged["TELEGRAM_BOT_TOKEN"].strip(),
        telegram_chat_id=merged["TELEGRAM_CHAT_ID"].strip(),
        telegram_api_base=merged["TELEGRAM_API_BASE"].strip().rstrip("/"),
        login_reminder_time=_time_of_day(merged, "LOGIN_REMINDER_TIME"),
        market_holidays=_dates(merged, "MARKET_HOLIDAYS"),
        market_protection=_market_protection(merged, "MARKET_PROTECTION"),
        trusted_proxy=_address(merged, "TRUSTED_PROXY"),
        gateway_allowed_networks=_networks(merged, "GATEWAY_ALLOWED_ADDRESSES"),
        order_stream=_on_off(merged, "ORDER_STREAM"),
        rate_limits=_rate_limits(merged),
        kite_ticker_url=merged["KITE_TICKER_URL"].strip().rstrip("/"),
        ticker_hub_port=_int(merged, "TICKER_HUB_PORT", low=0, high=65535),
        log_max_mb=_int(merged, "LOG_MAX_MB", low=1, high=1_000_000),
        freeze_quantities=_freeze_quantities(merged, "FREEZE_QUANTITIES"),
        audit_retention_days=_int(merged, "AUDIT_RETENTION_DAYS", low=1, high=3650),
        audit_max_mb=_int(merged, "AUDIT_MAX_MB", low=1, high=1_000_000),
        hub_max_connections=_int(merged, "HUB_MAX_CONNECTIONS", low=1, high=10_000),
        hub_connections_per_client=_int(merged, "HUB_CONNECTIONS_PER_CLIENT", low=1, high=10_000),
        hub_instruments_per_client=_int(merged, "HUB_INSTRUMENTS_PER_CLIENT", low=1, high=9000),
        guard=guard_settings(merged),
        paper_market_hours=_paper_hours(merged),
    )


KITE_API_HOST = "api.kite.trade"


def _paper_hours(values) -> str:
    kind = values["PAPER_MARKET_HOURS"].strip().lower()
    if kind not in ("nse", "always"):
        raise ConfigError(f"PAPER_MARKET_HOURS must be nse or always, not {kind[:20]!r}.")
    return kind


def _rate_limits(values) -> bool:
    """RATE_LIMITS=off is for a sandbox started without Kite's limits; never against Kite itself."""
    enforced = _on_off(values, "RATE_LIMITS")
    if not enforced and KITE_API_HOST in values["KITE_API_ROOT"]:
        raise ConfigError(
            "RATE_LIMITS=off is only for the sandbox: Kite itself enforces its limits, and breaking them "
            "again and again can get the app blocked. Remove RATE_LIMITS from .env."
        )
    return enforced


def load_credentials(path: Path) -> Credentials:
    """Read and validate login_credentials.json; any problem names the file and the field."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found; copy login_credentials.example.json and fill in api_key and api_secret."
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}).") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot be read ({type(exc).__name__}).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object with api_key and api_secret.")
    for name in ("api_key", "api_secret"):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: field '{name}' is missing or empty.")
    if data["api_key"].strip() == EXAMPLE_API_KEY or data["api_secret"].strip() == EXAMPLE_API_SECRET:
        raise ConfigError(
            f"{path}: api_key and api_secret are still the example values: put your app's own, from "
            "https://developers.kite.trade/apps."
        )
    twofa_key = data.get("twofa_key") or None
    if twofa_key is not None and not _is_base32(twofa_key):
        raise ConfigError(f"{path}: field 'twofa_key' is not a base32 TOTP secret of at least 23 characters.")
    return Credentials(data["api_key"].strip(), data["api_secret"].strip(), twofa_key)


def _is_base32(value) -> bool:
    if not isinstance(value, str):
        return False
    text = value.replace(" ", "").upper()
    if not text:
        return False
    try:
        decoded = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return False
    return len(decoded) * 8 >= MIN_TOTP_SECRET_BITS


def _time_of_day(values, name) -> time | None:
    text = values[name].strip()
    if not text:
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{name} must be a time like 08:45 (IST), or empty to turn it off.") from None


def _dates(values, name) -> frozenset:
    days = set()
    for text in (part.strip() for part in values[name].split(",")):
        if not text:
            continue
        try:
            days.add(date.fromisoformat(text))
        except ValueError:
            raise ConfigError(f"{name} must list dates like 2026-12-25, separated by commas.") from None
    return frozenset(days)


def _on_off(values, name) -> bool:
    text = values[name].strip().lower()
    if text not in ("on", "off"):
        raise ConfigError(f"{name} must be on or off.")
    return text == "on"


def _address(values, name) -> str:
    text = values[name].strip()
    if text:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise ConfigError(f"{name} must be an IP address (the proxy's, as this service sees it).") from None
    return text


def _networks(values, name) -> tuple:
    """Comma-separated addresses or networks (203.0.113.7, 198.51.100.0/24, 2001:db8::/48)."""
    networks = []
    for text in (part.strip() for part in values[name].split(",")):
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(
                f"{name} must list IP addresses or networks separated by commas (203.0.113.7, 198.51.100.0/24), "
                f"not {text[:50]!r}."
            ) from None
    return tuple(networks)


def _market_protection(values, name) -> float:
    """-1 (Kite's automatic protection) or a percentage above 0 up to 100."""
    text = values[name].strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is None or not (number == -1 or 0 < number <= 100):
        raise ConfigError(
            f"{name} must be -1 (Kite's automatic market protection) or a percentage above 0 up to 100, "
            f"not {text[:20]!r}: since April 2026 Kite refuses MARKET and SL-M orders without it."
        )
    return int(number) if number.is_integer() else number


def _freeze_quantities(values, name) -> tuple:
    """NAME:QUANTITY pairs separated by commas (BANKNIFTY:900,NIFTY:1800), names upper-cased."""
    pairs = {}
    for item in filter(None, (part.strip() for part in values[name].split(","))):
        symbol, _, quantity = item.partition(":")
        if not symbol.strip() or not quantity.strip().isdigit() or int(quantity) <= 0:
            raise ConfigError(
                f"{name} must list NAME:QUANTITY pairs separated by commas (BANKNIFTY:900,NIFTY:1800), "
                f"not {item[:40]!r}: each quantity the exchange's freeze limit in units, not lots."
            )
        pairs[symbol.strip().upper()] = int(quantity)
    return tuple(sorted(pairs.items()))


def expand_path(value: str) -> Path:
    """`value` as a path: `~` expanded, a relative one taken from the project folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_DIR / path


def _int(values, name, low, high) -> int:
    try:
        number = int(values[name])
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {values[name]!r}.") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}.")
    return number


def _float(values, name, low) -> float:
    try:
        number = float(values[name])
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {values[name]!r}.") from None
    if number < low:
        raise ConfigError(f"{name} must be at least {low}.")
    return number
