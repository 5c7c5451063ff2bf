"""The paper desk: every paper client's account, the ticks that fill them, and their order updates.

The desk is one client of the ticker hub, in full mode (the depth), for every instrument a paper
account holds a live order or an open position in. The hub hands it frames on its own loop, where
the desk only queues them (PaperFeed); the desk's own thread takes each queued frame's quotes and
lets each account's orders on those instruments trigger and fill, and once a second lets the clock
act on all of them (TTL, after-market orders, a price grown stale). Every call and every pass ends
with the account's changes stored, and only then are its order updates sent to that client's
ticker connections, and to nobody else's (TickerHub.send_to).

`clients paper-reset NAME` starts an account afresh by giving it a new `paper_book` in the
clients file: the desk sees the client's epoch change at its next call and begins an empty book
(the old epoch's rows are deleted then).
"""

import json
import logging
import threading

from kite_service.paper.account import PaperAccount, PaperFeed, new_secret
from kite_service.paper.app import create_paper_app
from kite_service.paper.square_off import flatten

log = logging.getLogger("kite_app.paper")

CLOCK_PASS_SECONDS = 1.0  # how often every account is looked at without a tick (TTL, AMO, stale prices)


class PaperDesk:
    """`hub`: the ticker hub (None: no ticks, only quotes at each call); `hours`: the market's."""

    def __init__(self, market, store, hub, hours, clock, max_loss=lambda name: None, pull=None):
        """`max_loss(name)`: a paper client's --max-loss (None: none); `pull(name, reason)`: the kill
        switch for that client, pulled once a day when its P&L reaches minus it."""
        self.market, self._store, self._hub, self._hours, self._clock = market, store, hub, hours, clock
        self._max_loss, self._pull = max_loss, pull
        self._tripped: dict = {}  # client name -> the day its --max-loss pulled the kill switch
        self._lock = threading.Lock()
        self._accounts: dict = {}  # client name -> PaperAccount
        self._secret = new_secret()
        self._wake = threading.Event()
        self._feed = PaperFeed(self._wake)
        self._joined = False
        self._subscribed: set = set()
        self._stop = threading.Event()
        self._thread = None
        self.app = create_paper_app(self)  # what answers paper clients' calls (app.py)

    # -- accounts -------------------------------------------------------------------------------

    def account(self, client) -> PaperAccount:
        """The paper account of gateway client `client` (made, or rebuilt from the store, on first use)."""
        key = f"{client.name}@{client.paper_book}"
        with self._lock:
            account = self._accounts.get(client.name)
            if account is not None and account.key == key:
                return account
            account = PaperAccount(
                client.name, key, client.paper_capital, self.market, self._clock, self._hours, self._store, self._secret
            )
            account.restore()
            self._store.prune(client.name, keep=key)
            self._accounts[client.name] = account
        return account

    def call(self, client, work):
        """`work(account)` under the account's lock, after the prices have acted; its changes stored
        and their order updates sent before the answer goes back."""
        account = self.account(client)
        with account.lock:
            try:
                account.advance()
                return work(account)
            finally:
                self._send(account, account.flush())
                self._follow()

    # -- ticks ----------------------------------------------------------------------------------

    def start(self) -> None:
        """The matching thread (started by the entry point, never at import or twice)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="paper-desk", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._joined and self._hub is not None:
            self._hub.remove(self._feed)
            self._joined = False
        self._store.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(CLOCK_PASS_SECONDS)
            self._wake.clear()
            try:
                self.pass_frames()
            except Exception:  # logged; the next frame or second tries again
                log.exception("Paper desk: a pass over the prices failed")

    def pass_frames(self) -> None:
        """Take the queued frames' quotes, and let each account act on the instruments they moved
        (all accounts, on everything, when no frame came: the clock's pass)."""
        moved = set()
        while self._feed.frames:
            moved |= self.market.on_frame(self._feed.frames.popleft())
        with self._lock:
            accounts = list(self._accounts.values())
        for account in accounts:
            if moved and not (account.tokens() & moved):
                continue
            with account.lock:
                try:
                    account.advance(tokens=moved or None)
                    self._watch_loss(account)
                finally:
                    self._send(account, account.flush())
        self._follow()

    def _watch_loss(self, account: PaperAccount) -> None:
        """A paper client's --max-loss: its day's P&L (Kite's formula at the live prices) at or under
        minus it pulls the kill switch for it, once a day (lock held)."""
        most = self._max_loss(account.name)
        if not most or self._pull is None or self._tripped.get(account.name) == account.day:
            return
        total = round(sum(row["pnl"] for row in account.book.portfolio.position_rows()), 2)
        if total <= -most:
            self._tripped[account.name] = account.day
            reason = f"paper client {account.name!r}'s P&L {total:,.2f} reached minus its --max-loss ({most:,.0f})"
            log.error("Paper: %s: pulling the kill switch for it", reason)
            threading.Thread(target=self._pull, args=(account.name, reason), name="paper-trip", daemon=True).start()

    def _send(self, account: PaperAccount, updates: list) -> None:
        if updates and self._hub is not None:
            self._hub.send_to(account.name, updates)

    def _follow(self) -> None:
        """Subscribe at the hub what the accounts need now, in full mode; let go of the rest."""
        if self._hub is None:
            return
        with self._lock:
            accounts = list(self._accounts.values())
        wanted = set().union(*(account.tokens() for account in accounts)) if accounts else set()
        with self._lock:
            new, gone = wanted - self._subscribed, self._subscribed - wanted
            self._subscribed = wanted
            if (new or gone) and not self._joined:
                self._hub.add(self._feed)
                self._joined = True
        if new:
            self._hub.handle(self._feed, json.dumps({"a": "subscribe", "v": sorted(new)}))
            self._hub.handle(self._feed, json.dumps({"a": "mode", "v": ["full", sorted(new)]}))
        if gone:
            self._hub.handle(self._feed, json.dumps({"a": "unsubscribe", "v": sorted(gone)}))

    def flatten(self, client) -> str:
        """The kill switch for paper client `client`: its open orders cancelled and its open positions
        exited at the market in its paper account (never at Kite); what was done."""
        account = self.account(client)
        with account.lock:
            try:
                return flatten(account.book, self._clock())
            finally:
                self._send(account, account.flush())
                self._follow()

    def summaries(self, clients: list) -> list:
        """For the /day page: each paper client's capital, P&L (Kite's formula at live prices), cash
        available, orders today, open orders and open positions."""
        rows = []
        for client in clients:
            account = self.account(client)
            with account.lock:
                book = account.book
                positions = book.portfolio.position_rows()
                rows.append(
                    {
                        "name": client.name,
                        "capital": account.capital,
                        "pnl": round(sum(row["pnl"] for row in positions), 2),
                        "available": book.available_cash(),
                        "orders": len(book.orders),
                        "open_orders": len(book._live),
                        "positions": sum(1 for row in positions if row["quantity"]),
                    }
                )
        return rows

    def status(self) -> dict:
        """For /api/status: the paper accounts in memory and the instruments the desk follows."""
        with self._lock:
            return {"accounts": sorted(self._accounts), "instruments": len(self._subscribed)}
