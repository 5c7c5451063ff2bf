"""`python kite_app.py clients add NAME | list | revoke NAME`: the programs that use the gateway.

    python kite_app.py clients add my-bot --trade --json   a client allowed to trade; JSON for set-up scripts
    python kite_app.py clients add notebook                a read-only client (order calls refused)
    python kite_app.py clients list
    python kite_app.py clients revoke my-bot               refused at once, its hub connections closed
    python kite_app.py clients limits my-bot --instruments 500   its share of the ticker hub's instruments
    python kite_app.py clients add bot --trade --max-orders-per-day 200 --max-loss 5000   the guard's limits
    python kite_app.py clients add rehearsal --paper --capital 500000   orders on a paper account, live prices
    python kite_app.py clients paper-reset rehearsal       its paper account started afresh

With --sandbox (and --sandbox-dir), before or after the command, the clients are the sandbox's: a
running `kite_app.py --sandbox` fronts the sandbox with them. `root` and `ticker_root` are those of
the service serving from the clients' folder when one runs (its real ports), else the settings'.
"""

import argparse
import json
from pathlib import Path

from kite_service.config.running_sandbox import SANDBOX_DIR
from kite_service.config.settings import Settings
from kite_service.gateway.clients import CLIENTS_FILE_NAME, ClientError, ClientRegistry
from kite_service.gateway.local_client import running_gateway

PAPER_CAPITAL = 1_000_000.0  # rupees: a paper client's opening cash unless --capital says otherwise


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python kite_app.py clients",
        description="Credentials for programs that reach Kite through Kite App's gateway (root=this service).",
    )
    # Taken before the command or after it; after it, absent ones leave what came before (SUPPRESS)
    where = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    where.add_argument("--sandbox", action="store_true", help="the clients of `kite_app.py --sandbox`")
    where.add_argument("--sandbox-dir", type=Path, help="sandbox data folder (default sandbox_data/)")
    parser.add_argument("--sandbox", action="store_true", help="the clients of `kite_app.py --sandbox`")
    parser.add_argument("--sandbox-dir", type=Path, help="sandbox data folder (default sandbox_data/)")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a client; its access token is shown once", parents=[where])
    add.add_argument("name", help="1-20 letters, digits, '.', '_' or '-': it tags the client's orders")
    add.add_argument("--trade", action="store_true", help="allow order calls (default: read-only)")
    add.add_argument("--json", action="store_true", help="print one JSON object: api_key, access_token, root, ...")
    add.add_argument("--paper", action="store_true", help="a paper client: its orders never reach Kite")
    add.add_argument("--capital", type=_rupees, help=f"a paper client's opening cash (default {PAPER_CAPITAL:,.0f})")
    _limit_options(add)
    reset = actions.add_parser("paper-reset", help="start a paper client's account afresh", parents=[where])
    reset.add_argument("name")
    actions.add_parser("list", help="the clients, without their tokens", parents=[where])
    revoke = actions.add_parser("revoke", help="remove a client: its calls are refused at once", parents=[where])
    revoke.add_argument("name")
    limits = actions.add_parser("limits", help="change a client's limits", parents=[where])
    limits.add_argument("name")
    _limit_options(limits)
    return parser.parse_args(argv)


def _limit_options(parser) -> None:
    parser.add_argument("--instruments", type=_positive, help="its share of the ticker hub's instruments")
    parser.add_argument("--max-orders-per-day", type=_count, help="the guard refuses its placements past this many")
    parser.add_argument("--max-loss", type=_rupees, help="rupees: its P&L at minus this stops it (kill switch)")


def _limits(args) -> dict:
    """The limits given on the command line, by the names GatewayClient has."""
    names = ("instruments", "max_orders_per_day", "max_loss")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return int(text)


def _rupees(text: str) -> float:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of rupees above 0")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 9000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of instruments from 1 to 9000")
    return value


def root_of(settings: Settings, folder: Path) -> str:
    """Where a program's KiteConnect connects: PUBLIC_URL when set; else the service serving from
    `folder` (its real port); else this machine's HOST:PORT from the settings."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    serving = running_gateway(folder)
    return serving["root"].rstrip("/") if serving is not None else settings.service_url.rstrip("/")


def ticker_root_of(settings: Settings, folder: Path) -> str:
    """Where a program's KiteTicker connects: PUBLIC_URL's /ws behind an HTTPS proxy; else the hub of
    the service serving from `folder`; else this machine's TICKER_HUB_PORT."""
    if settings.public_url.startswith("https://"):
        return "wss://" + settings.public_url.removeprefix("https://").rstrip("/") + "/ws"
    serving = running_gateway(folder)
    if serving is not None and serving["ticker_root"]:
        return serving["ticker_root"]
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host  # noqa: S104 (a name)
    return f"ws://[{host}]:{settings.ticker_hub_port}" if ":" in host else f"ws://{host}:{settings.ticker_hub_port}"


def main(argv: list, settings: Settings) -> int:
    """Run one clients command; the exit code."""
    args = parse_args(argv)
    folder = (args.sandbox_dir or SANDBOX_DIR) if args.sandbox else settings.data_dir
    registry = ClientRegistry(Path(folder) / CLIENTS_FILE_NAME)
    root = root_of(settings, Path(folder))
    try:
        if args.action == "add":
            if getattr(args, "capital", None) and not args.paper:
                print("kite_app: --capital is a paper client's: add --paper")
                return 2
            capital = (getattr(args, "capital", None) or PAPER_CAPITAL) if args.paper else None
            client, access_token = registry.add(args.name, can_trade=args.trade, paper_capital=capital, **_limits(args))
            ticker_root = ticker_root_of(settings, Path(folder))
            answer = {
                "name": client.name,
                "api_key": client.api_key,
                "access_token": access_token,
                "root": root,
                "ticker_root": ticker_root,
                "can_trade": client.can_trade,
                "paper": client.paper,
            }
            if args.json:
                print(json.dumps(answer))
            else:
                print(_instructions(answer))
        elif args.action == "list":
            for client in registry.all():
                rights = "paper" if client.paper else "trade" if client.can_trade else "read-only"
                if client.paper:
                    rights += f" ({client.paper_capital:,.0f} since {client.paper_since})"
                limits = "".join(f"  {k}={v}" for k, v in _limits(client).items())
                print(f"{client.name:20}  {client.api_key}  {rights:9}  since {client.created_at}{limits}")
        elif args.action == "paper-reset":
            client = registry.paper_reset(args.name)
            print(
                f"{args.name!r}: a new paper account of {client.paper_capital:,.0f} from now "
                "(the old one's orders and positions are gone)."
            )
        elif args.action == "limits":
            if not _limits(args):
                print("kite_app: name a limit to change: --instruments N, --max-orders-per-day N, --max-loss RUPEES")
                return 2
            client = registry.set_limits(args.name, **_limits(args))
            print(f"{args.name!r} now: {json.dumps({k: v for k, v in client.public().items() if k != 'api_key'})}")
        elif not registry.revoke(args.name):
            print(f"kite_app: no client named {args.name!r}")
            return 1
        else:
            print(f"Revoked {args.name!r}: its calls are refused from now on.")
    except ClientError as exc:
        print(f"kite_app: {exc}")
        return 1
    return 0


def _instructions(answer: dict) -> str:
    rights = "may place, modify and cancel orders" if answer["can_trade"] else "is read-only (order calls refused)"
    if answer["paper"]:
        rights = "trades on a paper account at live prices (its orders never reach Kite)"
    return "\n".join(
        [
            f"Client {answer['name']!r} added; it {rights}. Its access token is shown only now:",
            f"  api_key       {answer['api_key']}",
            f"  access_token  {answer['access_token']}",
            f"  root          {answer['root']}",
            f"  ticker_root   {answer['ticker_root']}",
            "Python:      KiteConnect(api_key, access_token=access_token, root=root)",
            "             KiteTicker(api_key, access_token, root=ticker_root)",
            "JavaScript:  new KiteConnect({api_key, access_token, root})",
            "             new KiteTicker({api_key, access_token, root: ticker_root})",
            "It stays valid across Kite's daily login; `clients revoke NAME` ends it.",
        ]
    )
