"""Run the sandbox alone: python -m kite_sandbox --port 5002 --data-dir DIR"""

import argparse
import signal
import sys
from pathlib import Path

import pyotp
from waitress.server import create_server

from .accounts import DemoCredentials
from .market import DEFAULT_SEED
from .market_hours import KINDS, MarketHours
from .server import WAITRESS_SETTINGS, create_sandbox_app
from .ticker import TickerServer


def describe(credentials: DemoCredentials, root: str) -> str:
    totp = pyotp.TOTP(credentials.totp_secret)
    return "\n".join(
        [
            f"Kite sandbox on {root}  (point any Kite client at it with root={root!r})",
            f"  api_key      {credentials.api_key}",
            f"  api_secret   {credentials.api_secret}",
            f"  login page   {root}/connect/login?api_key={credentials.api_key}&v=3",
            f"  user id      {credentials.user_id}",
            f"  password     {credentials.password}",
            f"  TOTP secret  {credentials.totp_secret}  (code now: {totp.now()})",
            f"  redirect URL {credentials.redirect_url or root + '/sandbox/landing'}",
        ]
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kite_sandbox", description="A local Kite Connect v3 server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    parser.add_argument("--data-dir", type=Path, default=Path("sandbox_data"))
    parser.add_argument("--redirect-url", help="where a successful login is redirected (the app's redirect URL)")
    parser.add_argument("--postback-url", help="where order updates are POSTed, signed like Kite's")
    parser.add_argument("--ticker-port", type=int, help="the WebSocket ticker's port (default: --port + 1)")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="the market's price walk (same seed, same history)"
    )
    parser.add_argument(
        "--order-ip", help="accept order calls only from this address, like Kite's registered static IP (default: any)"
    )
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="turn off Kite's rate limits and order caps per minute and day (for fast test suites)",
    )
    parser.add_argument(
        "--market-hours",
        choices=KINDS,
        default="always",
        help="always: open at every moment, after-market orders go in at the next minute (default); "
        "nse: 09:15-15:30 IST on weekdays but --holidays, after-market orders go in at the next opening",
    )
    parser.add_argument("--holidays", default="", help="with --market-hours nse: dates like 2026-12-25,2027-01-26")
    args = parser.parse_args(argv)
    try:
        hours = MarketHours.parse(args.market_hours, args.holidays)
    except ValueError:
        parser.error(f"--holidays must list dates like 2026-12-25, separated by commas, not {args.holidays!r}")

    credentials = DemoCredentials.load_or_create(args.data_dir, args.redirect_url)
    app = create_sandbox_app(
        credentials,
        postback_url=args.postback_url,
        seed=args.seed,
        order_ip=args.order_ip,
        enforce_rate_limits=not args.no_rate_limits,
        sessions_file=args.data_dir / "sessions.json",
        market_hours=hours,
    )
    try:
        server = create_server(app, host=args.host, port=args.port, **WAITRESS_SETTINGS)
    except OSError as exc:
        print(f"kite_sandbox: cannot listen on {args.host}:{args.port} ({exc.strerror}); use --port", file=sys.stderr)
        return 1
    ticker_port = args.ticker_port if args.ticker_port is not None else (args.port + 1 if args.port else 0)
    try:
        ticker = TickerServer(app.extensions["kite_sandbox"], args.host, ticker_port)
    except OSError as exc:
        print(
            f"kite_sandbox: cannot listen on {args.host}:{ticker_port} ({exc.strerror}); use --ticker-port",
            file=sys.stderr,
        )
        return 1
    credentials.record_ticker_url(args.data_dir, ticker.url)
    print(describe(credentials, f"http://{args.host}:{args.port}"))
    print(f"  ticker       {ticker.url}  (KiteTicker(api_key, access_token, root={ticker.url!r}))")
    print(f"  market seed  {args.seed}")
    print(f"  market hours {hours.describe()}")
    if args.order_ip:
        print(f"  order IP     {args.order_ip}  (order calls from any other address are refused)")
    if args.no_rate_limits:
        print("  rate limits  OFF (--no-rate-limits): a real Kite account would refuse some calls")
    print(f"Credentials written to {args.data_dir / 'credentials.json'}", flush=True)
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT explicitly: `... &` starts it ignored
        signal.signal(signum, lambda *_: sys.exit(0))
    app.extensions["kite_sandbox"].matcher.start()
    ticker.start()
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
