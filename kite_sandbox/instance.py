"""One sandbox instance: its parts (accounts, market, order book, ...), how time acts on them, and
where each order update goes (postbacks, the ticker)."""

import logging
import threading
from dataclasses import dataclass, field

from .accounts import Accounts, DemoCredentials
from .alerts import Alerts
from .faults import Faults
from .gtt import Triggers
from .market import Market
from .matcher import Matcher
from .mutual_funds import MutualFunds
from .order_record import FINAL_STATUSES
from .orders import OrderBook
from .postbacks import PostbackSender, postback_payload, postback_status
from .varieties import OrderDesk

log = logging.getLogger("kite_sandbox")


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


class OrderUpdates:
    """Told every order update by the book: the desk follows its legs, and what Kite would post
    (a final status, or an UPDATE) goes to the postback URL and the ticker's connections."""

    def __init__(self, credentials: DemoCredentials, sender: PostbackSender | None):
        self._credentials, self._sender = credentials, sender
        self.sandbox: Sandbox | None = None  # set once the sandbox is built (the book needs this first)
        self._last_seen: dict = {}  # order_id -> (status, filled quantity) at its last update

    def __call__(self, order: dict) -> None:
        sandbox = self.sandbox
        sandbox.desk.on_update(order)
        previous = self._last_seen.get(order["order_id"])
        self._last_seen[order["order_id"]] = (order["status"], order["filled_quantity"])
        if order["status"] in FINAL_STATUSES:
            del self._last_seen[order["order_id"]]  # nothing follows a final status
        status = postback_status(order, previous)
        if status is None or not (self._sender or sandbox.order_listeners):
            return
        creds = self._credentials
        payload = postback_payload(order, status, creds.user_id, creds.api_key, creds.api_secret)
        if self._sender and sandbox.posting["on"]:
            self._sender.send(payload)
        for listener in sandbox.order_listeners:
            listener(payload)
