"""Kite App: the Flask service that runs the daily Kite login and watches orders.

python kite_app.py                 serve on 127.0.0.1:5001 with the order-watch scheduler
python kite_app.py --no-scheduler  serve only
"""

import argparse
import logging
import signal
import sys
import time
from functools import partial
from pathlib import Path

import pyotp
from flask import Flask
from flask_cors import CORS

import log_utils
from kite_api import KiteAPI
from kite_service.clock import now_ist
from kite_service.config.defaults import DEFAULT_PORT, DEFAULT_SANDBOX_PORT
from kite_service.config.settings import PROJECT_DIR, configured_values, env_file, load_credentials, load_settings
from kite_service.errors import ConfigError, PortInUseError
from kite_service.gateway.cli import main as clients_main
from kite_service.gateway.forward import mount_gateway
from kite_service.gateway.local_client import LocalGateway
from kite_service.guard.cli import main as kill_main
from kite_service.login.access_code import throttle_failed_attempts
from kite_service.login.pages import browser
from kite_service.runtime.context import EXTENSION, AppContext, no_session_for_today
from kite_service.storage.private_files import make_private
from kite_service.ticker.hub_server import HubServer
from kite_service.ticker.local_server import HubCaps
from kite_service.web.api import api, kite_hooks, public, register_error_handlers
from kite_service.web.day import DAY_FEED, day
from kite_service.web.guards import install_request_guards
from kite_service.web.http_server import MAX_REQUEST_BYTES, WAITRESS_SETTINGS, create_http_server
from kite_service.web.kill import kill
from scheduler import SchedulerRunner, build_scheduler

log = logging.getLogger("kite_app")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def create_app(test_config: dict | None = None, clock=now_ist) -> Flask:
    """Build the Flask app. `test_config` replaces `.env` and the environment, `clock` the time (for tests)."""
    settings = load_settings(test_config)
    settings.require_access_code()
    credentials = load_credentials(settings.credentials_file)
    log_utils.register_secret(
        settings.access_code, credentials.api_secret, credentials.twofa_key, settings.telegram_bot_token
    )

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.json.sort_keys = False
    app.extensions[EXTENSION] = AppContext.build(
        settings, credentials, kite_api=KiteAPI, scheduler_runner=_scheduler_runner(settings), clock=clock
    )
    throttle_failed_attempts(app)
    if settings.cors_origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": list(settings.cors_origins)}},
            allow_headers=["Content-Type", "X-Access-Code"],
            methods=["GET", "POST"],
            max_age=600,
        )
    install_request_guards(app)
    for blueprint in (public, api, kite_hooks, browser, kill, day):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    mount_gateway(app)  # Kite's paths: the gateway, in front of Flask
    return app


def _scheduler_runner(settings):
    """What AppContext calls to get the scheduler for its jobs (scheduler.py, at the top like KiteAPI)."""

    def runner(poll, maintenance, login_reminder) -> SchedulerRunner:
        scheduler = build_scheduler(
            poll,
            maintenance,
            settings.order_poll_seconds,
            login_reminder=login_reminder,
            reminder_time=settings.login_reminder_time,
        )
        return SchedulerRunner(scheduler, settings.scheduler_lock_file)

    return runner


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Kite App: the daily Kite login, a session file for your scripts, and an order watch.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  .venv/bin/python kite_app.py --sandbox         try it on the built-in Kite sandbox (no account needed)
  .venv/bin/python kite_app.py                   run it for your Kite account
  .venv/bin/python kite_app.py --totp            print the current TOTP code for Kite's login page
  .venv/bin/python kite_app.py --totp --sandbox  the same for the sandbox's demo user (its own key)

settings come from .env (see .env.example; the environment wins, but sets HOST, PORT and CODE only
as KITE_APP_HOST, KITE_APP_PORT, KITE_APP_CODE) and your app's keys from
login_credentials.json (see login_credentials.example.json). Every morning, log in at
http://127.0.0.1:5001/login (PUBLIC_URL/login if set); scripts then use `from kite_api import KiteAPI`.""",
    )
    parser.add_argument("--host", help="address to bind (default: HOST in .env, else 127.0.0.1)")
    parser.add_argument("--port", type=int, help=f"port to listen on (default: PORT in .env, else {DEFAULT_PORT})")
    parser.add_argument("--no-scheduler", action="store_true", help="serve without the order-watch scheduler")
    parser.add_argument("--sandbox", action="store_true", help="run against the built-in Kite sandbox (no account)")
    parser.add_argument(
        "--sandbox-port", type=int, default=DEFAULT_SANDBOX_PORT, help=f"sandbox port (default {DEFAULT_SANDBOX_PORT})"
    )
    parser.add_argument("--sandbox-dir", type=Path, help="sandbox data folder (default sandbox_data/)")
    parser.add_argument(
        "--sandbox-market-hours",
        choices=("always", "nse"),
        default="always",
        help="sandbox: always open, after-market orders going in at the next minute (default); or nse: "
        "09:15-15:30 IST on weekdays but MARKET_HOLIDAYS, after-market orders going in at the next opening",
    )
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="sandbox: turn off Kite's rate limits and order caps per minute and day (for fast test suites)",
    )
    parser.add_argument(
        "--sandbox-order-ip",
        metavar="ADDR",
        help="sandbox: accept order calls only from ADDR, like Kite's registered static IP (default: any)",
    )
    parser.add_argument("--totp", action="store_true", help="print the current TOTP code from twofa_key and exit")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Serve with waitress until Ctrl-C or SIGTERM; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["clients"]:  # the gateway's clients: python kite_app.py clients add|list|revoke
        try:
            return clients_main(argv[1:], load_settings(configured_values()))
        except ConfigError as exc:
            print(f"kite_app: {exc}", file=sys.stderr)
            return 2
    if argv[:1] == ["kill"]:  # the kill switch, through the running service: python kite_app.py kill ...
        from kite_service.runtime.sandbox_mode import sandbox_access_code

        try:
            return kill_main(argv[1:], load_settings(configured_values()), sandbox_access_code)
        except ConfigError as exc:
            print(f"kite_app: {exc}", file=sys.stderr)
            return 2
    args = parse_args(argv)
    if args.totp:
        if args.sandbox:
            from kite_service.runtime.sandbox_mode import SANDBOX_DIR

            return print_totp(args.sandbox_dir or SANDBOX_DIR)
        return print_totp(None)
    values = {**configured_values(), **_address_overrides(args)}
    sandbox = None
    try:
        if args.sandbox:
            from kite_sandbox.market_hours import MarketHours  # only in sandbox mode
            from kite_service.runtime.sandbox_mode import SANDBOX_DIR, SandboxMode, sandbox_access_code

            settings = load_settings(values)
            sandbox = SandboxMode(
                args.sandbox_dir or SANDBOX_DIR,
                port=args.sandbox_port,
                enforce_rate_limits=not args.no_rate_limits,
                order_ip=args.sandbox_order_ip,
                market_hours=MarketHours(args.sandbox_market_hours, settings.market_holidays),
            )
            sandbox.claim()  # before any file in the folder is read or written
            code = sandbox_access_code(settings, sandbox.data_dir)
            app = create_app({**values, **sandbox.start(settings.service_url, code)})
            walkthrough = sandbox.walkthrough(settings.service_url, code)
        else:
            app = create_app(values)
            walkthrough = None
    except PortInUseError as exc:
        print(f"kite_app: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"kite_app: {exc}", file=sys.stderr)
        return 2
    try:
        # The walk-through only once the service listens: with its port taken, it would send people astray.
        return serve(app, with_scheduler=not args.no_scheduler, on_listening=walkthrough)
    finally:
        if sandbox is not None:
            sandbox.stop()


def _address_overrides(args) -> dict:
    overrides = {}
    if args.host:
        overrides["HOST"] = args.host
    if args.port:
        overrides["PORT"] = str(args.port)
    return overrides


def serve(app: Flask, with_scheduler: bool = True, on_listening: str | None = None) -> int:
    """Run waitress on HOST:PORT (and the scheduler) until Ctrl-C or SIGTERM; `on_listening` is
    printed once the port is ours."""
    settings = app.extensions[EXTENSION].settings
    host, port = settings.host, settings.port
    log_utils.setup_logging(settings.log_dir)
    try:
        # The data folder too, unless it is the project folder itself (session.json's default place).
        data_dir = [settings.data_dir] if settings.data_dir.resolve() != PROJECT_DIR.resolve() else []
        make_private([env_file(), settings.credentials_file, settings.session_file], [settings.log_dir, *data_dir])
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if host not in LOOPBACK_HOSTS:
        log.warning("Listening on %s: reachable from other machines; keep the access code strong", host)
    _allow_open_files(WAITRESS_SETTINGS["connection_limit"] + 256)
    try:
        server = create_http_server(app, host, port, **proxy_settings(settings))
    except OSError as exc:
        log.error("%s", PortInUseError(host, port, exc.strerror, "--port"))
        return 1
    if on_listening:
        print(on_listening, flush=True)
    context = app.extensions[EXTENSION]
    context.start_background_work(with_scheduler)
    ticker_hub = _serve_ticker_hub(context, host)
    local_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 (what it means, not a bind)
    local_host = f"[{local_host}]" if ":" in local_host else local_host
    hub_root = f"ws://{local_host}:{ticker_hub.port}" if ticker_hub is not None else ""
    scripts_gateway = LocalGateway(settings.data_dir, context.gateway.clients, f"http://{local_host}:{port}", hub_root)
    if not scripts_gateway.open():
        log.warning("Another Kite App serves from %s: scripts' KiteAPI goes through that one", settings.data_dir)
    # SIGINT too, explicitly: a process started in the background (`... &`) inherits it as ignored.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_on_signal)
    log.info("Kite App listening on http://%s:%s (log in at %s/login)", host, port, context.settings.service_url)
    try:
        server.run()  # returns on SystemExit from the SIGTERM and SIGINT handler
    finally:
        scripts_gateway.close()
        if ticker_hub is not None:
            ticker_hub.close()
        app.extensions[DAY_FEED].stop()  # open /day pages' streams end, so waitress's threads are free
        server.close()
        context.stop_background_work()
        log.info("Kite App stopped")
    return 0


def _serve_ticker_hub(context, host: str):
    """The ticker hub's local WebSocket on TICKER_HUB_PORT, or None (logged) when the port is taken."""
    settings, port = context.settings, context.settings.ticker_hub_port
    try:
        allowed, proxy = settings.gateway_allowed_networks, settings.trusted_proxy
        session_problem = partial(no_session_for_today, context)
        caps = HubCaps(
            settings.hub_max_connections, settings.hub_connections_per_client, settings.hub_instruments_per_client
        )
        server = HubServer(
            context.ticker_hub, context.gateway.clients, host, port, allowed, proxy, session_problem, caps
        )
    except OSError as exc:
        log.warning("Ticker hub not started: %s", PortInUseError(host, port, exc.strerror, "TICKER_HUB_PORT"))
        return None
    log.info("Ticker hub listening on ws://%s:%s", host, server.port)
    return server.start()


def proxy_settings(settings) -> dict:
    """waitress reads the client's address from X-Forwarded-For only when it comes from TRUSTED_PROXY.
    Without one, forwarding headers are left for the gateway to see (and refuse on a loopback call:
    gateway/addresses.py); waitress would otherwise drop them, and a proxy nobody named would go unseen."""
    if not settings.trusted_proxy:
        return {"clear_untrusted_proxy_headers": False}
    return {
        "trusted_proxy": settings.trusted_proxy,
        "trusted_proxy_count": 1,
        # Not x-forwarded-host: the proxy passes Host itself (the README's nginx recipe), and a
        # forwarded host would let any client past the Host allow-list.
        "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
        "clear_untrusted_proxy_headers": True,
    }


def _allow_open_files(count: int) -> None:
    """Raise this process's soft limit on open files towards `count` (Linux starts it at 1,024)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def print_totp(sandbox_dir: Path | None) -> int:
    """Print the current 6-digit code for the person typing it into Kite's login page."""
    try:
        if sandbox_dir is not None:
            path = sandbox_dir / "login_credentials.json"
        else:
            path = load_settings().credentials_file
        twofa_key = load_credentials(path).twofa_key
    except ConfigError as exc:
        print(f"kite_app: {exc}", file=sys.stderr)
        return 2
    if not twofa_key:
        print(f"kite_app: {path} has no twofa_key; add your base32 TOTP secret to use --totp.", file=sys.stderr)
        return 2
    totp = pyotp.TOTP(twofa_key)
    print(f"{totp.now()}  (valid for {totp.interval - int(time.time()) % totp.interval} s)")
    return 0


def _exit_on_signal(_signum, _frame):
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
