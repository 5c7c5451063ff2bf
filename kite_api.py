"""KiteAPI: the class scripts import to call Kite with the session the service saved.

    from kite_api import KiteAPI
    kite = KiteAPI()
    print(kite.get_positions())

From another folder or a notebook, after one standard step with the Python that runs it:
`python -m pip install -e /path/to/kite-app`. KiteAPI then finds the project's settings,
credentials and session.json (or the sandbox's while `kite_app.py --sandbox` runs).

It re-reads session.json whenever the service writes a new one, refuses to call Kite with
a session that expired at 06:00 IST or that Kite rejected, throttles to Kite's rate limits,
and retries failed reads (never orders). `kite.kite` is the underlying KiteConnect.
"""

import logging
import sys
import threading
from pathlib import Path

try:
    from kite_service.clock import now_ist
    from kite_service.config.running_sandbox import script_values
    from kite_service.config.settings import Settings, load_credentials, load_settings
    from kite_service.data.script_helpers import DataHelpers
    from kite_service.errors import ConfigError, KiteAppError, NoSessionError, SessionError, SessionExpiredError
    from kite_service.gateway.local_client import running_gateway
    from kite_service.guard.guard import Guard
    from kite_service.guard.latch import KillLatches
    from kite_service.guard.rules import GuardRefusal, KillSwitchOn  # noqa: F401 (for scripts to catch)
    from kite_service.kite.client import DEFAULT_RETRY, KiteClient
    from kite_service.kite.rate_limit import NoOrderCaps, unlimited_limiters
    from kite_service.kite.sdk import kite_errors
    from kite_service.login.session_store import Session, SessionStore
    from kite_service.ticker.script_ticker import ScriptTicker
except ModuleNotFoundError as missing:  # a Python without Kite App's packages: say which, and what to do
    project = Path(__file__).resolve().parent
    raise ModuleNotFoundError(
        f"KiteAPI needs the Python package {missing.name!r}, which {sys.executable} does not have. Run your "
        f"script with Kite App's own Python ({project / '.venv' / 'bin' / 'python'}), or install Kite App "
        f"into this one: {sys.executable} -m pip install -e {project}",
        name=missing.name,
    ) from None

log = logging.getLogger(__name__)

VARIETY_REGULAR = "regular"
# Since April 2026 Kite refuses these order types from the API unless they carry market_protection.
PROTECTED_ORDER_TYPES = ("MARKET", "SL-M")


class _SessionBoundClient(KiteClient):
    """KiteClient that checks the session before each call and types Kite's token errors.

    Each call sends the token of the session it checked (kept per thread), and a TokenException
    marks that token as rejected, not whichever token the client holds by the time Kite answers:
    a postback look-up failing with yesterday's token must not mark a fresh login's token."""

    def __init__(self, owner: "KiteAPI", *args, **kwargs):
        self._call = threading.local()  # the token of the call this thread is making
        self._shared_access_token = None
        super().__init__(*args, **kwargs)
        self._owner = owner

    @property
    def access_token(self):
        return getattr(self._call, "access_token", None) or self._shared_access_token

    @access_token.setter
    def access_token(self, value):
        self._shared_access_token = value

    def _request(self, route, method, *args, **kwargs):
        session = self._owner.ensure_session()
        outer = getattr(self._call, "access_token", None)
        self._call.access_token = session.access_token
        try:
            return super()._request(route, method, *args, **kwargs)
        except kite_errors.TokenException:
            self._owner.token_rejected(session.access_token)
            raise SessionExpiredError(
                "Kite rejected the access token (logged out, or logged in elsewhere)", self._owner.login_url
            ) from None
        finally:
            self._call.access_token = outer


class _GatewayBoundClient(_SessionBoundClient):
    """The same checks, with every call sent through the running service's gateway under its local
    client's credentials: Kite's real token stays in the service."""

    def __init__(self, owner: "KiteAPI", gateway: dict, **kwargs):
        super().__init__(owner, gateway["api_key"], root=gateway["root"], **kwargs)
        self._gateway_token = gateway["access_token"]

    @property
    def access_token(self):
        return self._gateway_token

    @access_token.setter
    def access_token(self, _value):
        pass  # the session's token is the gateway's business

    def _request(self, route, method, *args, **kwargs):
        self._owner.ensure_session()  # a clear error before any request: no session, or past 06:00
        try:
            return KiteClient._request(self, route, method, *args, **kwargs)
        except kite_errors.TokenException as exc:  # the gateway's word: no session for today, or revoked
            raise SessionExpiredError(str(exc), self._owner.login_url) from None


class KiteAPI(DataHelpers):
    """Kite calls for scripts, bound to the session in session.json.

    While Kite App serves on this machine, calls go through its gateway, counted with every other
    program's against the account's limits and checked by its guard; `through_gateway=False` calls
    Kite directly, and the guard (risk limits, the kill switch's latch) is checked here unless
    `guarded=False` (the service's own calls: its kill switch's cancels and exits are never checked)."""

    _warned_alone = False  # the "counting only this process" warning, once per process
    _warned_ticker_alone = False  # the "ticker straight to Kite" warning, once per process

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock=now_ist,
        retry=DEFAULT_RETRY,
        limiters=None,
        order_caps=None,
        through_gateway: bool | None = None,
        guarded: bool = True,
        client: tuple | None = None,
    ):
        if settings is None:
            values, sandbox_env = script_values()
            settings = load_settings(values)
            if sandbox_env is not None:
                log.warning(
                    "KiteAPI is using the Kite sandbox (kite_app.py --sandbox is running): %s; "
                    "stop it, or set KITE_APP_ENV_FILE=.env, to use your Kite account",
                    sandbox_env,
                )
        self.settings = settings
        credentials = load_credentials(self.settings.credentials_file)
        self._store = SessionStore(self.settings.session_file)
        self._clock = clock
        self._lock = threading.Lock()
        self._order_book_memo = {}  # the last order book's bytes (get_raw_orders(if_changed=True))
        self._session: Session | None = None
        self._session_version = None
        self._session_expires = None
        self._rejected_token: str | None = None
        self._candles = self._instrument_store = None  # the data helpers' files, opened on first use
        self._api_key = credentials.api_key
        if not self.settings.rate_limits:  # RATE_LIMITS=off: a sandbox started without Kite's limits
            limiters = limiters if limiters is not None else unlimited_limiters()
            order_caps = order_caps if order_caps is not None else NoOrderCaps()
        client_settings = {"timeout": self.settings.kite_timeout, "limiters": limiters, "order_caps": order_caps}
        gateway = running_gateway(self.settings.data_dir) if through_gateway is not False else None
        if client is not None:  # a gateway client's own credentials (a paper client's, say): the gateway's
            if gateway is None:
                raise ConfigError(
                    "KiteAPI(client=...) goes through Kite App's gateway, and Kite App is not serving from "
                    f"{self.settings.data_dir}: start it (python kite_app.py), then try again."
                )
            gateway = {**gateway, "api_key": client[0], "access_token": client[1]}
        self._gateway = gateway
        if gateway is not None:
            self.kite = _GatewayBoundClient(self, gateway, retry=retry, **client_settings)
        else:
            if through_gateway is None and not KiteAPI._warned_alone:
                KiteAPI._warned_alone = True
                log.warning(
                    "Kite App is not serving on this machine: KiteAPI counts Kite's rate limits and order caps "
                    "for this process only; other programs' calls are not counted"
                )
            self.kite = _SessionBoundClient(
                self, credentials.api_key, root=self.settings.kite_api_root, retry=retry, **client_settings
            )
        self.kite.orders_of = self.placement_orders
        if gateway is None and guarded:  # through the gateway, the gateway's guard checks every call
            latches = KillLatches(self.settings.data_dir, clock)
            self.kite.guard = Guard(
                self.settings.guard, latches, clock, last_price=self._last_price, seed=self._orders_today
            )
        try:
            self.ensure_session()  # so kite.kite.access_token is set before any direct call
        except SessionError:
            pass  # reported on the first call instead

    # -- session -------------------------------------------------------------------------

    def ensure_session(self) -> Session:
        """The current session, re-read if the file changed; raises a SessionError if unusable."""
        with self._lock:
            version = self._store.version()
            if version != self._session_version:
                self._session = self._store.load()
                self._session_version = version
                if self._session is not None:
                    self.kite.set_access_token(self._session.access_token)
                    self._session_expires = self._session.expires.timestamp()  # parsed once per file
            session = self._session
            if session is None:
                raise NoSessionError(self._store.path, self.login_url)
            if session.api_key != self._api_key:
                raise SessionError(
                    f"{self._store.path} belongs to another api_key than {self.settings.credentials_file}; "
                    "log in again with this app."
                )
            if self._clock().timestamp() >= self._session_expires:
                raise SessionExpiredError(f"it ended at {session.expires:%Y-%m-%d %H:%M} IST", self.login_url)
            if session.access_token == self._rejected_token:
                raise SessionExpiredError(
                    "Kite rejected the access token (logged out, or logged in elsewhere)", self.login_url
                )
            return session

    def ticker(self, tokens=(), mode: str = "quote", on_ticks=None, on_order_update=None) -> ScriptTicker:
        """A ticker (not started) subscribed to `tokens` in `mode`: through Kite App's ticker hub while the
        service serves on this machine, else straight to Kite (one of the api_key's 3 connections).
        Use it with callbacks and start()/stop(), or iterate it: `for ticks in api.ticker([408065]): ...`."""
        hub = self._gateway.get("ticker_root") if self._gateway else ""
        if hub:
            ticker = ScriptTicker(
                hub, self._gateway["api_key"], self._gateway["access_token"], on_ticks, on_order_update
            )
        else:
            if not KiteAPI._warned_ticker_alone:
                KiteAPI._warned_ticker_alone = True
                log.warning(
                    "Kite App's ticker hub is not serving on this machine: this ticker connects to Kite itself, "
                    "one of the api_key's 3 connections"
                )
            session = self.ensure_session()
            url = self.settings.kite_ticker_url
            ticker = ScriptTicker(url, self._api_key, session.access_token, on_ticks, on_order_update)
        return ticker.subscribe(tokens, mode) if tokens else ticker

    @property
    def login_url(self) -> str:
        """Where the owner logs in with one click: the service's /login page."""
        return f"{self.settings.service_url}/login"

    @property
    def session(self) -> Session:
        """The session in use (see ensure_session)."""
        return self.ensure_session()

    def logout(self) -> bool:
        """Log out: invalidate the access token at Kite, then remove session.json, which ends the
        session for every script and the service (its order check and stream pause at once).

        A token Kite no longer knows counts as logged out. When Kite cannot be reached the file is
        kept (the token still works at Kite) and KiteUnavailableError says so: call it again."""
        session = self.ensure_session()
        log.info("Logging out %s at Kite", session.user_id)
        kite = self.kite
        if isinstance(kite, _GatewayBoundClient):  # the gateway refuses session calls: this one goes to Kite
            kite = _SessionBoundClient(self, self._api_key, root=self.settings.kite_api_root, timeout=kite.timeout)
        try:
            kite.invalidate_access_token(session.access_token)
        except SessionExpiredError:
            pass  # Kite refused the token: it is dead already
        self._store.clear(session.access_token)
        log.info("Logged out %s; %s removed", session.user_id, self._store.path)
        return True

    def token_rejected(self, access_token: str) -> None:
        """Kite refused `access_token`: calls with it stop until a session with another token is saved."""
        with self._lock:
            if self._rejected_token == access_token:
                return
            self._rejected_token = access_token
            current = self._session is not None and self._session.access_token == access_token
        if current:
            log.warning("Kite rejected the access token of the current session; a new login is needed.")
        else:
            log.warning("Kite rejected the access token of an earlier session; the current one is unaffected.")

    # -- account -------------------------------------------------------------------------

    def get_profile(self) -> dict:
        """The user's profile."""
        return self.kite.profile()

    def get_margins(self, segment: str | None = None) -> dict:
        """Funds and margins, for all segments or one ('equity', 'commodity')."""
        return self.kite.margins(segment)

    # -- orders and trades -----------------------------------------------------------------

    def get_orders(self) -> list:
        """Today's orders, open and executed."""
        return self.kite.orders()

    def get_raw_orders(self, if_changed: bool = False) -> list | None:
        """Today's orders as Kite sends them, timestamps left as strings.

        One request, like get_orders(), without kiteconnect turning every timestamp into a
        datetime (for 5,000 orders that costs ten times more than the request). With
        if_changed=True, None means Kite's answer is byte-identical to the previous one.
        """
        if not if_changed:
            return self.kite._get("orders")
        with self.kite.unless_unchanged(self._order_book_memo):
            return self.kite._get("orders")

    def forget_raw_orders(self) -> None:
        """Make the next get_raw_orders(if_changed=True) return the full order book."""
        self._order_book_memo.clear()

    def get_order_history(self, order_id: str) -> list:
        """Every state one order went through; the last entry is the current one."""
        return self.kite.order_history(order_id)

    def get_trades(self, order_id: str | None = None) -> list:
        """Today's trades, or those of one order."""
        return self.kite.order_trades(order_id) if order_id else self.kite.trades()

    def place_order(self, *, variety: str = VARIETY_REGULAR, **params) -> str:
        """Place an order (kiteconnect's place_order parameters); returns the order_id. Never retried.

        MARKET and SL-M orders get market_protection=MARKET_PROTECTION (default -1, Kite's automatic
        protection) unless you pass your own: Kite refuses them without it. Beyond Kite's caps of
        400 orders a minute or 5,000 a day, raises OrderCapError and sends nothing. A price off the
        tick size, an F&O quantity not in whole lots or above the freeze quantity raises
        OrderMisfitError naming the nearest valid values, and nothing is sent."""
        params = self._with_market_protection(params)
        self._check_fit(params)
        log.info("Placing %s order: %s", variety, _order_summary(params))
        try:
            order_id = self.kite.place_order(variety=variety, **params)
        except kite_errors.InputException as refused:
            self.learn_from_refusal(params, str(refused))  # a freeze quantity the table did not know
            raise
        log.info("Order %s accepted by Kite", order_id)
        return order_id

    def place_autoslice_order(self, *, variety: str = VARIETY_REGULAR, **params) -> dict:
        """An F&O order of at least one order's most (the freeze quantity's whole lots), split by Kite
        into up to 10 orders; returns Kite's {"order_id", "children"}. Checked and never retried as
        place_order: below Kite's slicing minimum or above 10 orders raises OrderMisfitError."""
        params = self._with_market_protection(params)
        self._check_fit(params, autoslice=True)
        log.info("Placing %s autoslice order: %s", variety, _order_summary(params))
        return self.kite.place_autoslice_order(variety=variety, **params)

    def modify_order(self, order_id: str, *, variety: str = VARIETY_REGULAR, **changes) -> str:
        """Modify an open order; returns the order_id. Never retried.

        A change to MARKET or SL-M gets market_protection as place_order does."""
        changes = self._with_market_protection(changes)
        log.info("Modifying order %s: %s", order_id, changes)
        return self.kite.modify_order(variety=variety, order_id=order_id, **changes)

    def cancel_order(self, order_id: str, *, variety: str = VARIETY_REGULAR, parent_order_id=None) -> str:
        """Cancel an open order; returns the order_id. Never retried."""
        log.info("Cancelling order %s", order_id)
        return self.kite.cancel_order(variety=variety, order_id=order_id, parent_order_id=parent_order_id)

    def _last_price(self, exchange: str, symbol: str) -> float | None:
        key = f"{exchange}:{symbol}"
        try:
            return float(self.kite.ltp(key)[key]["last_price"])
        except (kite_errors.KiteException, KiteAppError, KeyError, TypeError, ValueError):
            return None

    def _orders_today(self) -> int:
        return len(self.get_raw_orders())

    def _with_market_protection(self, params: dict) -> dict:
        if params.get("order_type") in PROTECTED_ORDER_TYPES and params.get("market_protection") is None:
            return {**params, "market_protection": self.settings.market_protection}
        return params

    # -- portfolio -----------------------------------------------------------------------

    def get_positions(self) -> dict:
        """Positions: {'net': [...], 'day': [...]}."""
        return self.kite.positions()

    def get_holdings(self) -> list:
        """Long-term equity holdings."""
        return self.kite.holdings()

    # -- market data ---------------------------------------------------------------------

    def ltp(self, *instruments: str) -> dict:
        """Last traded prices, e.g. ltp('NSE:INFY', 'NSE:TCS')."""
        return self.kite.ltp(*instruments)

    def quote(self, *instruments: str) -> dict:
        """Full quotes with market depth."""
        return self.kite.quote(*instruments)


def _order_summary(params: dict) -> str:
    keys = (
        "transaction_type",
        "quantity",
        "exchange",
        "tradingsymbol",
        "order_type",
        "price",
        "trigger_price",
        "product",
        "market_protection",
    )
    return " ".join(f"{k}={params[k]}" for k in keys if params.get(k) is not None)
