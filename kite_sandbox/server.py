"""The sandbox's HTTP face: Kite Connect v3 routes, envelopes, auth, rate limits, login page."""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask, Response, redirect, request
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from waitress.server import create_server
from werkzeug.exceptions import HTTPException

from clock import IST, now_ist

from .accounts import DEMO_USER_NAME, Accounts, DemoCredentials
from .faults import FAULT_KINDS, Faults
from .kite_errors import InputError, KiteError, PermissionDeniedError, RateLimitedError, TokenError, failure, success
from .login_page import error_page, landing_page, login_form
from .market import DEFAULT_SEED, Market
from .matcher import Matcher
from .order_caps import OrderCaps
from .orders import OrderBook
from .postbacks import POSTBACK_STATUSES, PostbackSender, postback_payload

log = logging.getLogger("kite_sandbox")

# Kite's per-api_key limits (requests per second) and which endpoints count against which; order
# placement's 10 a second is counted with the other order caps (order_caps.py).
RATE_LIMITS = {"quote": 1, "historical": 3, "other": 10}
ENDPOINT_LIMIT_CLASS = {"quote": "quote", "ohlc": "quote", "ltp": "quote", "historical": "historical"}
BROWSER_ENDPOINTS = {"login_page", "landing", "static", "control"}  # not Kite API calls: no protocol checks
SESSION_ENDPOINT = "session_token"  # a Kite API call, but made before there is an access token
ORDER_CALLS = {("orders_by_segment", "POST"), ("order_item", "PUT"), ("order_item", "DELETE")}
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
    postbacks: PostbackSender | None
    delays: dict  # path -> seconds to wait before answering (set through /sandbox/control/delay)
    faults: Faults  # injected failures (set through /sandbox/control/fault)
    matcher: Matcher  # fills orders as the price moves (started by whoever serves the app)
    order_listeners: list  # more receivers of each order update's payload (the ticker)
    posting: dict  # {"on": bool}: whether postbacks go out (set through /sandbox/control/postbacks)


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
) -> Flask:
    """The sandbox as a Flask app (serve it with waitress). Rate limits run on real time.

    `seed` fixes the market's price walk; `order_ip`, if set, is the one address order calls are
    accepted from (Kite's registered static IP); `enforce_rate_limits=False` turns off the
    per-second limits and the order caps per minute and day (not the 25 modifications);
    `sessions_file` keeps access tokens across restarts (until 06:00 IST, as Kite's)."""
    app = Flask(__name__)
    market = Market(clock, seed)
    sender = PostbackSender(postback_url) if postback_url else None
    accounts = Accounts(credentials, clock=clock, sessions_file=sessions_file)

    listeners = []
    posting = {"on": True}  # sandbox control: postbacks can be turned off, as for an app without a public URL

    def on_update(order):
        if order["status"] not in POSTBACK_STATUSES or not (sender or listeners):
            return
        payload = postback_payload(order, credentials.user_id, credentials.api_key, credentials.api_secret)
        if sender and posting["on"]:
            sender.send(payload)
        for listener in listeners:
            listener(payload)

    book = OrderBook(market, credentials.user_id, clock, on_update, OrderCaps(enforce_rate_limits))
    sandbox = Sandbox(credentials, accounts, market, book, sender, {}, Faults(), Matcher(book), listeners, posting)
    app.extensions["kite_sandbox"] = sandbox
    limiter = MovingWindowRateLimiter(MemoryStorage())
    limits = {name: RateLimitItemPerSecond(rate) for name, rate in RATE_LIMITS.items()}

    @app.before_request
    def check_protocol():
        if request.endpoint in BROWSER_ENDPOINTS or request.endpoint is None:
            return None
        if request.path in sandbox.delays:
            time.sleep(sandbox.delays[request.path])
        fault = sandbox.faults.take(request.path)
        if fault is not None:
            return fault
        if request.headers.get("X-Kite-Version") != "3":
            raise InputError("Invalid or missing X-Kite-Version header: send X-Kite-Version: 3.")
        if request.endpoint == SESSION_ENDPOINT:
            return None
        api_key, _, access_token = request.headers.get("Authorization", "").removeprefix("token ").partition(":")
        if api_key != credentials.api_key or accounts.session_for(access_token) is None:
            raise TokenError("Incorrect `api_key` or `access_token`.")
        if order_ip and (request.endpoint, request.method) in ORDER_CALLS and request.remote_addr != order_ip:
            raise PermissionDeniedError(
                f"IP ({request.remote_addr}) is not allowed to place orders for this app. Update allowed IPs on "
                f"the Kite developer console. Learn more - {STATIC_IP_HELP}"
            )
        limit_class = _limit_class(request.endpoint, request.method)
        if limit_class is None:
            return None
        if enforce_rate_limits and not limiter.hit(limits[limit_class], api_key, limit_class):
            raise RateLimitedError("Too many requests")
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

    _add_login_routes(app, sandbox, exchange_command)
    _add_api_routes(app, sandbox)
    return app


def _limit_class(endpoint: str, method: str) -> str | None:
    if endpoint == "orders_by_segment" and method == "POST":
        return None  # counted by the order caps
    return ENDPOINT_LIMIT_CLASS.get(endpoint, "other")


def _add_login_routes(app: Flask, sandbox: Sandbox, exchange_command: str) -> None:
    creds = sandbox.credentials

    @app.route("/connect/login", methods=["GET", "POST"], endpoint="login_page")
    def login_page():
        if request.args.get("api_key") != creds.api_key:
            return _html(error_page("Invalid api_key: this app is not registered with the sandbox."), 400)
        if request.method == "GET":
            return _html(login_form())
        user_id = request.form.get("user_id", "")
        if not sandbox.accounts.password_ok(user_id, request.form.get("password", "")):
            return _html(login_form("Invalid user ID or password.", user_id), 401)
        if not creds.totp_ok(request.form.get("twofa_value", "")):
            return _html(login_form("Invalid TOTP.", user_id), 401)
        params = dict(parse_qsl(request.args.get("redirect_params", ""), keep_blank_values=True))
        params.update(
            request_token=sandbox.accounts.issue_request_token(), action="login", type="login", status="success"
        )
        target = creds.redirect_url or request.host_url.rstrip("/") + "/sandbox/landing"
        return redirect(_with_query(target, params), code=302)

    @app.get("/sandbox/landing", endpoint="landing")
    def landing():
        return _html(landing_page(exchange_command))

    @app.post("/sandbox/control/<action>", endpoint="control")
    def control(action):
        """Test hooks: pin a price, end all sessions as 06:00 IST would, slow down or break one path.

        Needs the api_secret."""
        body = request.get_json(silent=True) or {}
        if body.get("api_secret") != creds.api_secret:
            raise TokenError("Sandbox control needs the sandbox api_secret.")
        if action == "price":
            instrument = sandbox.market.find(str(body.get("instrument", "")))
            if instrument is None:
                raise InputError("Unknown instrument.")
            sandbox.market.pin_price(instrument, body.get("price"))
            return success(True)
        if action == "postbacks":
            sandbox.posting["on"] = bool(body.get("enabled"))
            return success(True)
        if action == "expire-sessions":
            return success(sandbox.accounts.expire_all())
        if action == "delay":
            seconds = body.get("seconds")
            if not isinstance(seconds, (int, float)) or not 0 <= seconds <= 60:
                raise InputError("delay needs 'path' and 'seconds' between 0 and 60.")
            sandbox.delays[str(body.get("path"))] = seconds
            return success(True)
        if action == "fault":
            kind, times = body.get("kind"), body.get("times", 1)
            if (kind is not None and kind not in FAULT_KINDS) or not isinstance(times, int):
                raise InputError(f"fault needs 'path', 'kind' (one of {', '.join(FAULT_KINDS)} or null) and 'times'.")
            sandbox.faults.set(str(body.get("path")), kind, times)
            return success(True)
        raise InputError(f"Unknown control action: {action}")


def _add_api_routes(app: Flask, sandbox: Sandbox) -> None:
    creds, accounts, market, book = sandbox.credentials, sandbox.accounts, sandbox.market, sandbox.book

    @app.route("/session/token", methods=["POST", "DELETE"], endpoint="session_token")
    def session_token():
        params = request.form if request.method == "POST" else request.args
        if params.get("api_key") != creds.api_key:
            raise InputError("Invalid `api_key`.")
        if request.method == "DELETE":
            if not params.get("access_token"):
                raise InputError("Missing `access_token`.")
            if not accounts.close_session(params["access_token"]):
                raise TokenError("Incorrect `api_key` or `access_token`.")
            return success(True)
        request_token = params.get("request_token", "")
        if not accounts.checksum_ok(creds.api_key, request_token, params.get("checksum", "")):
            raise TokenError("Invalid `checksum`.")  # Kite answers a bad checksum as a TokenException
        if not accounts.redeem_request_token(request_token):
            raise TokenError("Token is invalid or has expired.")
        session = accounts.open_session()
        return success(
            {
                **_profile(creds),
                "avatar_url": "",
                "api_key": creds.api_key,
                "access_token": session.access_token,
                "public_token": session.public_token,
                "enctoken": session.enctoken,
                "refresh_token": "",
                "silo": "",
                "login_time": session.login_time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )

    @app.get("/user/profile", endpoint="profile")
    def profile():
        return success(_profile(creds))

    @app.get("/user/margins", endpoint="margins")
    def margins():
        return success(book.margins())

    @app.get("/user/margins/<segment>", endpoint="margins_segment")
    def margins_segment(segment):
        return success(book.margins(segment))

    @app.get("/orders", endpoint="orders")
    def orders():
        return success(book.all_orders())

    @app.route("/orders/<segment>", methods=["GET", "POST"], endpoint="orders_by_segment")
    def orders_by_segment(segment):
        if request.method == "GET":
            return success(book.history(segment))
        return success({"order_id": book.place(segment, request.form.to_dict())})

    @app.route("/orders/<first>/<second>", methods=["GET", "PUT", "DELETE"], endpoint="order_item")
    def order_item(first, second):
        if request.method == "GET":
            if second != "trades":
                raise InputError("Route not found")
            return success(book.order_trades(first))
        if request.method == "PUT":
            return success({"order_id": book.modify(first, second, request.form.to_dict())})
        return success({"order_id": book.cancel(first, second)})

    @app.get("/trades", endpoint="trades")
    def trades():
        return success(book.all_trades())

    @app.route("/portfolio/positions", methods=["GET", "PUT"], endpoint="positions")
    def positions():
        if request.method == "PUT":
            return success(book.convert_position(request.form.to_dict()))
        return success(book.positions())

    @app.get("/portfolio/holdings", endpoint="holdings")
    def holdings():
        return success(book.holdings_now())

    def instruments_in_query():
        keys = request.args.getlist("i")
        if not keys:
            raise InputError("No instruments given: pass i=EXCHANGE:TRADINGSYMBOL.")
        found = {}
        for key in keys:
            instrument = market.find(key)
            if instrument is not None:
                found[key] = instrument
        return found

    @app.get("/quote", endpoint="quote")
    def quote():
        return success({key: market.quote(i) for key, i in instruments_in_query().items()})

    @app.get("/quote/ohlc", endpoint="ohlc")
    def ohlc():
        return success({key: market.ohlc(i) for key, i in instruments_in_query().items()})

    @app.get("/quote/ltp", endpoint="ltp")
    def ltp():
        return success({key: market.ltp(i) for key, i in instruments_in_query().items()})

    @app.get("/instruments", endpoint="instruments")
    @app.get("/instruments/<exchange>", endpoint="instruments")
    def instruments(exchange=None):
        body = market.instruments_csv_gz(exchange)
        return Response(body, headers={"Content-Type": "text/csv", "Content-Encoding": "gzip"})

    @app.get("/instruments/historical/<int:token>/<interval>", endpoint="historical")
    def historical(token, interval):
        instrument = market.by_token(token)
        if instrument is None:
            raise InputError("invalid token")
        start, end = _parse_time(request.args.get("from"), "from"), _parse_time(request.args.get("to"), "to")
        candles = market.candles(instrument, interval, start, end, request.args.get("oi") == "1")
        return success({"candles": candles})


def _profile(creds: DemoCredentials) -> dict:
    """The demo user as /user/profile shows it; the session answer adds the tokens."""
    return {
        "user_id": creds.user_id,
        "user_type": "individual",
        "email": "sandbox@example.com",
        "user_name": DEMO_USER_NAME,
        "user_shortname": "Sandbox",
        "broker": "ZERODHA",
        "exchanges": ["NSE", "BSE", "NFO"],
        "products": ["CNC", "NRML", "MIS", "BO", "CO"],
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "avatar_url": None,
        "meta": {"demat_consent": "physical"},
    }


def _parse_time(value, name) -> datetime:
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value or "", pattern).replace(tzinfo=IST)
        except ValueError:
            continue
    raise InputError(f"invalid `{name}`: use yyyy-mm-dd hh:mm:ss")


def _with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return urlunsplit(parts._replace(query=query))


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/html")


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
