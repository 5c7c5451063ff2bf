"""Run the sandbox alone: python -m kite_sandbox --port 5002 --data-dir DIR (the ticker on --port + 1)."""

import argparse
import signal
import sys
import threading
from pathlib import Path

import pyotp

from .accounts import DemoCredentials
from .market import DEFAULT_SEED
from .market_hours import KINDS, MarketHours
from .server import create_sandbox_app
from .serving import PortBusyError, RunningSandbox

DEFAULT_PORT = 5002  # Kite App's `--sandbox` default too (its own constant: the sandbox imports nothing of it)


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
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
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
    stopping = threading.Event()  # set by SIGTERM or SIGINT, even one that comes while starting up
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT explicitly: `... &` starts it ignored
        signal.signal(signum, lambda *_: stopping.set())
    try:
        running = RunningSandbox(app, args.host, args.port, args.data_dir, args.ticker_port)
    except PortBusyError as busy:
        option = "--port" if busy.what == "API" else "--ticker-port"
        print(f"kite_sandbox: cannot listen on {busy.host}:{busy.port} ({busy.reason}); use {option}", file=sys.stderr)
        return 1
    ticker = running.ticker
    print(describe(credentials, running.root))
    print(f"  ticker       {ticker.url}  (KiteTicker(api_key, access_token, root={ticker.url!r}))")
    print(f"  market seed  {args.seed}")
    print(f"  market hours {hours.describe()}")
    if args.order_ip:
        print(f"  order IP     {args.order_ip}  (order calls from any other address are refused)")
    if args.no_rate_limits:
        print("  rate limits  OFF (--no-rate-limits): a real Kite account would refuse some calls")
    print(f"Credentials written to {args.data_dir / 'credentials.json'}", flush=True)
    while not stopping.wait(1):  # a timed wait, so the signal handler runs promptly
        pass
    running.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
