"""The sandbox's HTTP face: one table of Kite Connect v3's routes, and the envelopes, auth and rate limits around them.

Route names follow the official Python client's routes table (kiteconnect/connect.py); the Go
client's extra routes (full profile, holdings summary and compact, alerts) are named alike.
"""

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

from flask import Flask, Response, request
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from waitress.server import create_server
from werkzeug.exceptions import HTTPException

from . import control, margins, quotes, sessions
from .accounts import Accounts, DemoCredentials
from .alerts import Alerts
from .clock import now_ist
from .faults import Faults
from .gtt import Triggers
from .kite_errors import InputError, KiteError, PermissionDeniedError, RateLimitedError, TokenError, failure, success
from .market import DEFAULT_SEED, Market
from .matcher import Matcher
from .mutual_funds import MutualFunds
from .order_caps import OrderCaps
from .order_record import FINAL_STATUSES
from .orders import OrderBook
from .portfolio import Portfolio
from .postbacks import PostbackSender, postback_payload, postback_status
from .varieties import OrderDesk

log = logging.getLogger("kite_sandbox")


def _form() -> dict:
    return request.form.to_dict()


# (route name, method, URL rule, view(sandbox, **URL values) -> data for Kite's envelope, or a Response)
ROUTES = [
    ("api.login", "GET POST", "/connect/login", sessions.login_page),
    ("sandbox.landing", "GET", "/sandbox/landing", sessions.landing),
    ("sandbox.control", "POST", "/sandbox/control/<action>", control.control),
    ("api.token", "POST", "/session/token", sessions.open_session),
    ("api.token.invalidate", "DELETE", "/session/token", sessions.close_session),
    ("api.token.renew", "POST", "/session/refresh_token", sessions.refresh_refused),
    ("api.token.refresh.invalidate", "DELETE", "/session/refresh_token", sessions.refresh_refused),
    ("user.profile", "GET", "/user/profile", lambda s: sessions.profile(s.credentials)),
    ("user.profile.full", "GET", "/user/profile/full", lambda s: sessions.full_profile(s.credentials)),
    ("user.margins", "GET", "/user/margins", lambda s: s.book.margins()),
    ("user.margins.segment", "GET", "/user/margins/<segment>", lambda s, segment: s.book.margins(segment)),
    ("orders", "GET", "/orders", lambda s: s.book.all_orders()),
    ("order.info", "GET", "/orders/<order_id>", lambda s, order_id: s.book.history(order_id)),
    ("order.place", "POST", "/orders/<variety>", lambda s, variety: _placed(s.desk.place(variety, _form()))),
    (
        "order.modify",
        "PUT",
        "/orders/<variety>/<order_id>",
        lambda s, variety, order_id: {"order_id": s.desk.modify(variety, order_id, _form())},
    ),
    (
        "order.cancel",
        "DELETE",
        "/orders/<variety>/<order_id>",
        lambda s, variety, order_id: {
            "order_id": s.desk.cancel(variety, order_id, request.args.get("parent_order_id"))
        },
    ),
    ("order.trades", "GET", "/orders/<order_id>/trades", lambda s, order_id: s.book.order_trades(order_id)),
    ("trades", "GET", "/trades", lambda s: s.book.all_trades()),
    ("portfolio.positions", "GET", "/portfolio/positions", lambda s: s.book.reading(Portfolio.positions_answer)),
    ("portfolio.positions.convert", "PUT", "/portfolio/positions", lambda s: s.book.convert_position(_form())),
    ("portfolio.holdings", "GET", "/portfolio/holdings", lambda s: s.book.reading(Portfolio.holding_rows)),
    (
        "portfolio.holdings.summary",
        "GET",
        "/portfolio/holdings/summary",
        lambda s: s.book.reading(Portfolio.holdings_summary),
    ),
    (
        "portfolio.holdings.compact",
        "GET",
        "/portfolio/holdings/compact",
        lambda s: s.book.reading(Portfolio.holdings_compact),
    ),
    (
        "portfolio.holdings.auction",
        "GET",
        "/portfolio/holdings/auctions",
        lambda s: s.book.reading(Portfolio.auction_rows),
    ),
    (
        "portfolio.holdings.authorise",  # the Go client's: starts a CDSL authorisation of holdings for selling
        "POST",
        "/portfolio/holdings/authorise",
        lambda s: {"request_id": secrets.token_urlsafe(24)},
    ),
    ("market.instruments.all", "GET", "/instruments", quotes.instruments),
    ("market.instruments", "GET", "/instruments/<exchange>", quotes.instruments),
    ("market.historical", "GET", "/instruments/historical/<int:token>/<interval>", quotes.historical),
    ("market.trigger_range", "GET", "/instruments/trigger_range/<transaction_type>", quotes.trigger_range),
    (
        "market.trigger_range.instrument",  # as the Go client names the same call
        "GET",
        "/instruments/<exchange>/<tradingsymbol>/trigger_range",
        quotes.instrument_trigger_range,
    ),
    ("market.quote", "GET", "/quote", quotes.quote),
    ("market.quote.ohlc", "GET", "/quote/ohlc", quotes.ohlc),
    ("market.quote.ltp", "GET", "/quote/ltp", quotes.ltp),
    ("order.margins", "POST", "/margins/orders", margins.orders_route),
    ("order.margins.basket", "POST", "/margins/basket", margins.basket_route),
    ("order.contract_note", "POST", "/charges/orders", margins.contract_note_route),
    ("gtt", "GET", "/gtt/triggers", lambda s: s.triggers.all()),
    ("gtt.place", "POST", "/gtt/triggers", lambda s: {"trigger_id": s.triggers.place(_form())}),
    ("gtt.info", "GET", "/gtt/triggers/<int:trigger_id>", lambda s, trigger_id: s.triggers.get(trigger_id)),
    (
        "gtt.modify",
        "PUT",
        "/gtt/triggers/<int:trigger_id>",
        lambda s, trigger_id: {"trigger_id": s.triggers.modify(trigger_id, _form())},
    ),
    (
        "gtt.delete",
        "DELETE",
        "/gtt/triggers/<int:trigger_id>",
        lambda s, trigger_id: {"trigger_id": s.triggers.delete(trigger_id)},
    ),
    ("mf.orders", "GET", "/mf/orders", lambda s: s.funds.orders()),
    ("mf.order.info", "GET", "/mf/orders/<order_id>", lambda s, order_id: s.funds.orders(order_id)),
    ("mf.order.place", "POST", "/mf/orders", lambda s: {"order_id": s.funds.place_order(_form())}),
    (
        "mf.order.cancel",
        "DELETE",
        "/mf/orders/<order_id>",
        lambda s, order_id: {"order_id": s.funds.cancel_order(order_id)},
    ),
    ("mf.sips", "GET", "/mf/sips", lambda s: s.funds.sips()),
    ("mf.sip.info", "GET", "/mf/sips/<sip_id>", lambda s, sip_id: s.funds.sips(sip_id)),
    ("mf.sip.place", "POST", "/mf/sips", lambda s: {"sip_id": s.funds.place_sip(_form())}),
    ("mf.sip.modify", "PUT", "/mf/sips/<sip_id>", lambda s, sip_id: {"sip_id": s.funds.modify_sip(sip_id, _form())}),
    ("mf.sip.cancel", "DELETE", "/mf/sips/<sip_id>", lambda s, sip_id: {"sip_id": s.funds.cancel_sip(sip_id)}),
    ("mf.holdings", "GET", "/mf/holdings", lambda s: s.funds.holdings()),
    ("mf.instruments", "GET", "/mf/instruments", quotes.mf_instruments),
    ("alerts", "GET", "/alerts", lambda s: s.alerts.all(request.args.get("status"))),
    ("alerts.create", "POST", "/alerts", lambda s: s.alerts.create(_form())),
    ("alerts.delete", "DELETE", "/alerts", lambda s: s.alerts.delete(request.args.getlist("uuid"))),
    ("alerts.info", "GET", "/alerts/<alert_id>", lambda s, alert_id: s.alerts.get(alert_id)),
    ("alerts.modify", "PUT", "/alerts/<alert_id>", lambda s, alert_id: s.alerts.modify(alert_id, _form())),
    ("alerts.history", "GET", "/alerts/<alert_id>/history", lambda s, alert_id: s.alerts.history(alert_id)),
]

# Kite's per-api_key limits (requests per second) and which routes count against which; order
# placement's 10 a second is counted with the other order caps (order_caps.py).
RATE_LIMITS = {"quote": 1, "historical": 3, "other": 10}
ROUTE_LIMIT_CLASS = {
    "market.quote": "quote",
    "market.quote.ohlc": "quote",
    "market.quote.ltp": "quote",
    "market.historical": "historical",
    "order.place": None,
}
BROWSER_ROUTES = {"api.login", "sandbox.landing", "sandbox.control", "static"}  # not API calls: no protocol checks
SESSION_ROUTES = {"api.token", "api.token.renew", "api.token.refresh.invalidate"}  # made without an access token
ORDER_ROUTES = {"order.place", "order.modify", "order.cancel", "gtt.place", "gtt.modify", "gtt.delete"}
# Like the service's (kite_app.py): bodies beyond 1 MB refused unread, slow clients cost a socket.
WAITRESS_SETTINGS = {
    "threads": 8,
    "max_request_body_size": 1024 * 1024,
    "connection_limit": 1000,
    "channel_timeout": 30,
    "asyncore_use_poll": True,
}
STATIC_IP_HELP = "https://support.zerodha.com/category/trading-and-markets/general-kite/kite-api/articles/static-ip"
DEFAULT_EXCHANGE_COMMAND = 'curl "http://127.0.0.1:5001/api/token?code=YOUR_CODE&request_token=PASTE_IT_HERE"'


@dataclass
class Sandbox:
    """Everything one sandbox instance holds."""

    credentials: DemoCredentials
    accounts: Accounts
    market: Market
    book: OrderBook
    desk: OrderDesk  # every order variety, through the book
    triggers: Triggers  # GTTs
    alerts: Alerts
    funds: MutualFunds
    postbacks: PostbackSender | None
    exchange_command: str  # what the landing page tells the user to run with the request_token
    delays: dict = field(default_factory=dict)  # path -> seconds to wait before answering (control/delay)
    faults: Faults = field(default_factory=Faults)  # injected failures (control/fault)
    order_listeners: list = field(default_factory=list)  # more receivers of each order update (the ticker)
    posting: dict = field(default_factory=lambda: {"on": True})  # whether postbacks go out (control/postbacks)
    matcher: Matcher | None = None  # fills and fires as the price moves (started by whoever serves the app)
    advancing: threading.Lock = field(default_factory=threading.Lock)  # one pass at a time, seen whole

    def advance(self) -> None:
        """Let time act: fills, next legs, GTTs, alerts, mutual fund cut-offs. A fault in one part is
        logged and leaves the others running (and the API answering). The matcher's pass and a request's
        never interleave: a request answered mid-pass would show a filled cover order without its stop."""
        with self.advancing:
            for part in (self.book, self.desk, self.triggers, self.alerts, self.funds):
                try:
                    part.advance()
                except Exception:
                    log.exception("Sandbox: %s.advance failed", type(part).__name__)


def create_sandbox_app(
    credentials: DemoCredentials,
    *,
    clock=now_ist,
    postback_url=None,
    exchange_command=DEFAULT_EXCHANGE_COMMAND,
    enforce_rate_limits=True,
    seed=DEFAULT_SEED,
    order_ip=None,
    sessions_file=None,
    market_hours=None,
) -> Flask:
    """The sandbox as a Flask app (serve it with waitress). Rate limits run on real time.

    `seed` fixes the market's price walk; `order_ip`, if set, is the one address order calls are
    accepted from (Kite's registered static IP); `enforce_rate_limits=False` turns off the
    per-second limits and the order caps per minute and day (not the 25 modifications);
    `sessions_file` keeps access tokens across restarts (until 06:00 IST, as Kite's); `market_hours`
    (market_hours.MarketHours; default always open) says when after-market orders go in."""
    app = Flask(__name__)
    market = Market(clock, seed)
    sender = PostbackSender(postback_url) if postback_url else None
    accounts = Accounts(credentials, clock=clock, sessions_file=sessions_file)
    last_seen: dict = {}  # order_id -> (status, filled quantity) at its last update

    def on_update(order):
        sandbox.desk.on_update(order)
        previous = last_seen.get(order["order_id"])
        last_seen[order["order_id"]] = (order["status"], order["filled_quantity"])
        if order["status"] in FINAL_STATUSES:
            del last_seen[order["order_id"]]  # nothing follows a final status
        status = postback_status(order, previous)
        if status is None or not (sender or sandbox.order_listeners):
            return
        payload = postback_payload(order, status, credentials.user_id, credentials.api_key, credentials.api_secret)
        if sender and sandbox.posting["on"]:
            sender.send(payload)
        for listener in sandbox.order_listeners:
            listener(payload)

    book = OrderBook(market, credentials.user_id, clock, on_update, OrderCaps(enforce_rate_limits), market_hours)
    desk = OrderDesk(book, market)
    sandbox = Sandbox(
        credentials,
        accounts,
        market,
        book,
        desk,
        Triggers(market, book, credentials.user_id, clock),
        Alerts(market, desk, credentials.user_id, clock),
        MutualFunds(clock, seed, credentials.user_id),
        sender,
        exchange_command,
    )
    sandbox.matcher = Matcher(sandbox.advance)
    app.extensions["kite_sandbox"] = sandbox
    limiter = MovingWindowRateLimiter(MemoryStorage())
    limits = {name: RateLimitItemPerSecond(rate) for name, rate in RATE_LIMITS.items()}

    @app.before_request
    def check_protocol():
        if request.endpoint in BROWSER_ROUTES or request.endpoint is None:
            return None
        if request.path in sandbox.delays:
            time.sleep(sandbox.delays[request.path])
        fault = sandbox.faults.take(request.path)
        if fault is not None:
            return fault
        if request.headers.get("X-Kite-Version") != "3":
            raise InputError("Invalid or missing X-Kite-Version header: send X-Kite-Version: 3.")
        if request.endpoint in SESSION_ROUTES:
            return None
        api_key, _, access_token = request.headers.get("Authorization", "").removeprefix("token ").partition(":")
        if api_key != credentials.api_key or accounts.session_for(access_token) is None:
            raise TokenError("Incorrect `api_key` or `access_token`.")
        if order_ip and request.endpoint in ORDER_ROUTES and request.remote_addr != order_ip:
            raise PermissionDeniedError(
                f"IP ({request.remote_addr}) is not allowed to place orders for this app. Update allowed IPs on "
                f"the Kite developer console. Learn more - {STATIC_IP_HELP}"
            )
        limit_class = ROUTE_LIMIT_CLASS.get(request.endpoint, "other")
        if limit_class and enforce_rate_limits and not limiter.hit(limits[limit_class], api_key, limit_class):
            raise RateLimitedError("Too many requests")
        sandbox.advance()
        return None

    @app.errorhandler(KiteError)
    def kite_error(exc: KiteError):
        return failure(exc.status, exc.error_type, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        messages = {404: "Route not found", 405: "Method not allowed"}
        return failure(exc.code or 500, "GeneralException", messages.get(exc.code, exc.description or exc.name))

    @app.errorhandler(Exception)
    def unexpected(_exc):
        log.exception("Sandbox error in %s %s", request.method, request.path)
        return failure(500, "GeneralException", "Unexpected sandbox error")

    for name, methods, rule, view in ROUTES:
        app.add_url_rule(rule, name, _answering(sandbox, view), methods=methods.split())
    return app


def _answering(sandbox: Sandbox, view):
    """A Flask view: `view`'s data in Kite's success envelope (a Response passes through)."""

    def answer(**values):
        data = view(sandbox, **values)
        return data if isinstance(data, Response) else success(data)

    return answer


def _placed(result):
    """order.place answers {"order_id"}; an autoslice answers Kite's {"order_id", "children"}."""
    return result if isinstance(result, dict) else {"order_id": result}


class BackgroundServer:
    """The sandbox served by waitress on a daemon thread, with its matcher; close() stops both."""

    def __init__(self, app, host: str, port: int):
        self._server = create_server(app, host=host, port=port, **WAITRESS_SETTINGS)
        self.effective_port = self._server.effective_port
        self._matcher = app.extensions["kite_sandbox"].matcher
        self._closing = False
        self._matcher.start()
        threading.Thread(target=self._serve, name="kite-sandbox", daemon=True).start()

    def _serve(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            if not self._closing:  # closed from another thread: waitress's loop sees a dead socket
                raise

    def close(self) -> None:
        self._closing = True
        self._matcher.stop()
        self._server.close()


def start_in_background(app, host: str, port: int) -> BackgroundServer:
    """Serve `app` with waitress on a daemon thread; returns the server (call .close() to stop)."""
    return BackgroundServer(app, host, port)
