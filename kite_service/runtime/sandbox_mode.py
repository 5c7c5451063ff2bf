"""`python kite_app.py --sandbox`: the service wired to a local Kite sandbox, no account needed.

Demo credentials, the session and a settings file for scripts live in `sandbox_data/`.
"""

import secrets
import sys
from pathlib import Path

import pyotp
from filelock import FileLock, Timeout

from kite_sandbox.accounts import DemoCredentials
from kite_sandbox.market_hours import MarketHours
from kite_sandbox.server import create_sandbox_app
from kite_sandbox.serving import PortBusyError, RunningSandbox
from kite_service.config.defaults import DEFAULT_SANDBOX_PORT
from kite_service.config.running_sandbox import SANDBOX_DIR, SANDBOX_LOCK_NAME
from kite_service.config.settings import ENV_FILE_VARIABLE, PROJECT_DIR, Settings
from kite_service.errors import ConfigError, PortInUseError
from kite_service.storage.atomic_file import write_json_atomic, write_text_atomic


class SandboxMode:
    """Starts the sandbox and provides the settings that point the service at it."""

    def __init__(
        self,
        data_dir: Path = SANDBOX_DIR,
        host: str = "127.0.0.1",
        port: int = DEFAULT_SANDBOX_PORT,
        *,
        enforce_rate_limits: bool = True,
        order_ip: str | None = None,
        market_hours: MarketHours | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.enforce_rate_limits = enforce_rate_limits
        self.order_ip = order_ip  # like Kite's registered static IP: order calls from elsewhere refused
        self.market_hours = market_hours or MarketHours()
        self.root = f"http://{host}:{port}"
        self._host, self._port = host, port
        self.credentials = None
        self._running_sandbox = None
        # Held while this service runs: scripts' KiteAPI() then uses the sandbox (config/running_sandbox.py).
        self._running = FileLock(self.data_dir / SANDBOX_LOCK_NAME, timeout=0)

    @property
    def env_file(self) -> Path:
        return self.data_dir / "sandbox.env"

    def claim(self) -> None:
        """Take the sandbox folder for this process, before anything in it is written; ConfigError
        when another `kite_app.py --sandbox` holds it."""
        if self._running.is_locked:
            return
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._running.acquire()
        except Timeout:
            raise ConfigError(
                f"Another `kite_app.py --sandbox` is running on {self.data_dir}; stop it first, "
                "or give this one a folder of its own with --sandbox-dir."
            ) from None

    def start(self, app_url: str, access_code: str) -> dict:
        """Start the sandbox server; returns settings values for create_app()."""
        self.claim()
        # As registered in a Kite app's developer console: redirect and postback URLs at this service.
        self.credentials = DemoCredentials.load_or_create(self.data_dir, redirect_url=f"{app_url}/api/callback")
        # The landing page is an HTTP response: it gets a placeholder, never the code itself.
        exchange = f'curl "{app_url}/api/token?code=YOUR_ACCESS_CODE&request_token=PASTE_IT_HERE"'
        app = create_sandbox_app(
            self.credentials,
            postback_url=f"{app_url}/api/postback",
            exchange_command=exchange,
            enforce_rate_limits=self.enforce_rate_limits,
            order_ip=self.order_ip,
            sessions_file=self.data_dir / "sessions.json",
            market_hours=self.market_hours,
        )
        try:
            self._running_sandbox = RunningSandbox(app, self._host, self._port, self.data_dir)
        except PortBusyError as busy:
            option = "--sandbox-port" if busy.what == "API" else "--sandbox-port (ticker: +1)"
            raise PortInUseError(busy.host, busy.port, busy.reason, option) from None
        ticker_url = self._running_sandbox.ticker.url
        credentials_file = self.data_dir / "login_credentials.json"
        write_json_atomic(
            credentials_file,
            {
                "api_key": self.credentials.api_key,
                "api_secret": self.credentials.api_secret,
                "twofa_key": self.credentials.totp_secret,
            },
        )
        values = {
            "CODE": access_code,
            "CREDENTIALS_FILE": str(credentials_file),
            "SESSION_FILE": str(self.data_dir / "session.json"),
            "KITE_API_ROOT": self.root,
            "KITE_LOGIN_URL": f"{self.root}/connect/login",
            "PUBLIC_URL": app_url,  # where scripts' error messages send the owner to log in
            "KITE_TICKER_URL": ticker_url,  # KiteTicker(api_key, access_token, root=...)
            "PAPER_MARKET_HOURS": "always" if self.market_hours.kind == "always" else "nse",  # the sandbox's
        }
        if not self.enforce_rate_limits:  # the sandbox enforces none: neither do the gateway and KiteAPI
            values["RATE_LIMITS"] = "off"
        self._write_env_file(values)
        return values

    def stop(self) -> None:
        if self._running_sandbox is not None:
            self._running_sandbox.close()
        if self._running.is_locked:
            self._running.release()

    def _write_env_file(self, values: dict) -> None:
        lines = ["# Written by `python kite_app.py --sandbox`: settings that point scripts at the sandbox."]
        lines += [f"{name}={value}" for name, value in values.items()]
        write_text_atomic(self.env_file, "\n".join(lines) + "\n")

    def walkthrough(self, app_url: str, access_code: str) -> str:
        creds = self.credentials
        totp_now = pyotp.TOTP(creds.totp_secret).now()
        env_file = self.env_file
        if env_file.is_relative_to(PROJECT_DIR):
            env_file = env_file.relative_to(PROJECT_DIR)
        python = _python_command()
        script = f"{python} examples/place_order.py"
        if self.data_dir != SANDBOX_DIR:  # scripts look for a running sandbox in sandbox_data/ only
            script = f"{ENV_FILE_VARIABLE}={env_file} {script}"
        return "\n".join(
            [
                "",
                "Kite App is running on the built-in Kite sandbox (no Zerodha account involved).",
                *(
                    []
                    if self.enforce_rate_limits
                    else ["Rate limits are OFF (--no-rate-limits): a real Kite account would refuse some calls."]
                ),
                "",
                f"  Access code: {access_code}",
                "",
                f'1. Open {app_url}/login in a browser, enter the access code and press "Log in with Kite".',
                "2. Log in at the sandbox's Kite page with the demo user:",
                f"     user id {creds.user_id}   password {creds.password}",
                f"     TOTP    {totp_now} (a fresh one any time: {python} kite_app.py --totp --sandbox)",
                "3. The browser comes back to the login page, logged in; session.json is written.",
                f'   (From a terminal, curl "{app_url}/api/url?code={access_code}" gives the same login link.)',
                "4. Place an order from a script (while this runs, KiteAPI() uses the sandbox):",
                f"     {script}",
                "5. Watch the order check log the order's status changes here and in logs/.",
                f"Kite's WebSocket ticker: {self._running_sandbox.ticker.url} "
                "(KiteTicker(api_key, access_token, root=that)).",
                f"The sandbox's market hours: {self.market_hours.describe()}.",
                "",
            ]
        )


def _python_command() -> str:
    """How the walk-through names this Python: the project's venv relative to the project, else in full."""
    executable = Path(sys.executable)
    if executable.is_relative_to(PROJECT_DIR):
        return str(executable.relative_to(PROJECT_DIR))
    return str(executable)


def sandbox_access_code(settings: Settings, data_dir: Path = SANDBOX_DIR) -> str:
    """The configured CODE if it is valid, else a generated one kept in the sandbox folder."""
    try:
        settings.require_access_code()
        return settings.access_code
    except ConfigError:
        pass
    path = Path(data_dir) / "access_code"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    code = secrets.token_urlsafe(12)
    write_text_atomic(path, code + "\n")
    return code
