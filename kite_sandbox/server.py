"""The sandbox as a Flask app: its parts built, the routes table mounted, Kite's envelopes and errors.

The routes are in routes.py, the checks before each request in request_checks.py, serving in
serving.py.
"""

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .accounts import Accounts, DemoCredentials
from .alerts import Alerts
from .clock import now_ist
from .error_responses import KiteError, failure, success
from .gtt import Triggers
from .instance import OrderUpdates, Sandbox
from .market import DEFAULT_SEED, Market
from .matcher import Matcher
from .mutual_funds import MutualFunds
from .order_limits import OrderLimits
from .orders import OrderBook
from .postbacks import PostbackSender
from .request_checks import install_request_checks
from .routes import ROUTES
from .varieties import OrderDesk

log = logging.getLogger("kite_sandbox")

DEFAULT_EXCHANGE_COMMAND = 'curl "http://127.0.0.1:5001/api/token?code=YOUR_CODE&request_token=PASTE_IT_HERE"'


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
    """The sandbox as a Flask app (serve it with serving.py). Rate limits run on real time.

    `seed` fixes the market's price walk; `order_ip`, if set, is the one address order calls are
    accepted from (Kite's registered static IP); `enforce_rate_limits=False` turns off the
    per-second limits and the order caps per minute and day (not the 25 modifications);
    `sessions_file` keeps access tokens across restarts (until 06:00 IST, as Kite's); `market_hours`
    (market_hours.MarketHours; default always open) says when after-market orders go in."""
    app = Flask(__name__)
    market = Market(clock, seed)
    sender = PostbackSender(postback_url) if postback_url else None
    updates = OrderUpdates(credentials, sender)
    book = OrderBook(market, credentials.user_id, clock, updates, OrderLimits(enforce_rate_limits), market_hours)
    desk = OrderDesk(book, market)
    sandbox = Sandbox(
        credentials,
        Accounts(credentials, clock=clock, sessions_file=sessions_file),
        market,
        book,
        desk,
        Triggers(market, book, credentials.user_id, clock),
        Alerts(market, desk, credentials.user_id, clock),
        MutualFunds(clock, seed, credentials.user_id),
        sender,
        exchange_command,
    )
    updates.sandbox = sandbox
    sandbox.matcher = Matcher(sandbox.advance)
    app.extensions["kite_sandbox"] = sandbox
    install_request_checks(app, sandbox, order_ip=order_ip, enforce_rate_limits=enforce_rate_limits)

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
