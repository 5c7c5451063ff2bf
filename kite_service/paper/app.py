"""The answers to a paper client's calls: a WSGI app of Kite's routes over its paper account.

The gateway hands every call of a paper client here, whole (gateway/forward.py). What a paper client
reads of the market goes to Kite through `read_from_kite`, the one function of the gateway's this
module is given, which sends market reads only (MARKET_READS); everything else is answered from the
paper account with the sandbox's views (kite_sandbox/routes.py), in Kite's envelopes and with Kite's
refusals. So no order, GTT, alert, conversion or mutual fund call of a paper client has any code
path to Kite.
"""

import io
import re

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from kite_sandbox.error_responses import KiteError, failure, success
from kite_sandbox.routes import ROUTES

# Reads of the market, sent to Kite (with the gateway's limits): quotes, instruments and candles,
# the margin and charges calculators (Kite's own numbers for an order, read-only), the profile.
MARKET_READS = re.compile(
    r"(GET /quote(/ohlc|/ltp)?|GET /instruments(/.*)?|GET /mf/instruments|GET /user/profile(/full)?"
    r"|POST /margins/(orders|basket)|POST /charges/orders)"
)
# The sandbox's views a paper account answers with: orders, trades, positions, holdings, margins, GTTs, alerts.
ACCOUNT_ROUTES = {
    "user.margins",
    "user.margins.segment",
    "orders",
    "order.info",
    "order.place",
    "order.modify",
    "order.cancel",
    "order.trades",
    "trades",
    "portfolio.positions",
    "portfolio.positions.convert",
    "portfolio.holdings",
    "portfolio.holdings.summary",
    "portfolio.holdings.compact",
    "portfolio.holdings.auction",
    "gtt",
    "gtt.place",
    "gtt.info",
    "gtt.modify",
    "gtt.delete",
    "alerts",
    "alerts.create",
    "alerts.delete",
    "alerts.info",
    "alerts.modify",
    "alerts.history",
}
MUTUAL_FUNDS_REFUSED = (
    "Mutual fund orders and SIPs are not paper-traded: this is a paper client, and nothing was sent to "
    "Kite. Use a live client (kite_app.py clients add NAME --trade) for mutual funds."
)
CLIENT_KEY = "kite_app.paper_client"  # the WSGI environ's key of the calling client
NOT_PAPER_TRADED = "This call has no paper version: this is a paper client, and nothing was sent to Kite."


def is_market_read(method: str, path: str) -> bool:
    return MARKET_READS.fullmatch(f"{method} {path}") is not None


def create_paper_app(desk) -> Flask:
    """The Flask app answering paper clients' calls; `desk` (desk.py) holds their accounts."""
    app = Flask(__name__)

    @app.errorhandler(KiteError)
    def kite_error(exc: KiteError):
        return failure(exc.status, exc.error_type, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 404:  # a route of Kite's the paper account has no version of
            return failure(400, "InputException", NOT_PAPER_TRADED)
        return failure(exc.code or 500, "GeneralException", exc.description or exc.name)

    for name, methods, rule, view in ROUTES:
        if name in ACCOUNT_ROUTES:
            app.add_url_rule(rule, name, _answering(desk, view), methods=methods.split())
        elif name.startswith("mf.") and name != "mf.instruments":
            reads = [method for method in methods.split() if method == "GET"]
            if reads:  # a paper account holds no mutual funds
                app.add_url_rule(rule, name, _empty(rule), methods=reads)
            else:
                app.add_url_rule(rule, name, _refused_mutual_funds, methods=methods.split())
    return app


def _answering(desk, view):
    def answer(**values):
        data = desk.call(request.environ[CLIENT_KEY], lambda account: view(account, **values))
        return data if isinstance(data, Response) else success(data)

    return answer


def _empty(rule: str):
    def answer(**_values):
        if "<" in rule:  # one order or SIP by id: none exists
            return failure(404, "GeneralException", "Couldn't find that order.")
        return success([])

    return answer


def _refused_mutual_funds(**_values):
    return failure(403, "PermissionException", MUTUAL_FUNDS_REFUSED)


def answer_paper_call(paper_app: Flask, gateway_request, client, read_from_kite, call) -> Response:
    """The answer to paper client `client`'s `call` (the gateway's werkzeug request): Kite's for a
    market read, the paper account's for everything else."""
    if is_market_read(call.method, call.path):
        return read_from_kite(call)
    body = gateway_request.get_data()
    environ = dict(gateway_request.environ)
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
    environ[CLIENT_KEY] = client
    return Response.from_app(paper_app, environ)
