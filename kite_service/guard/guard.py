"""The guard: one check that every order path runs before anything is sent to Kite.

`Guard.check(method, path, form, client)` raises KillSwitchOn while the kill switch's latch stops the
caller, GuardRefusal when a per-order limit or a day's order count would be broken, and returns
otherwise (a placement is then counted). The gateway runs it for every program's call; KiteAPI on
its own (no service serving) runs it in the script's process; the kill switch's own cancels and
exits never pass through it.

`with guard.sending(): check, then send` holds a shared lock across the check and the send; the kill
switch writes its latch under the same lock held alone (`latched()`), so no placement that passed
the check before the latch can reach Kite after it.

The day's placements are counted in memory per trading day (06:00 to 06:00 IST), starting from
`seed()` (the number of orders Kite's order book holds today) at the day's first check, and from
`seed_clients()` (each client's placements in today's audit) for the clients' own limits.
"""

import logging
import threading
from collections import Counter
from contextlib import contextmanager

from kite_service.clock import trading_day
from kite_service.config.guard import GuardSettings
from kite_service.guard.latch import KillLatches
from kite_service.guard.rules import LATCHED, PLACE, GuardRefusal, KillSwitchOn, kind_of, order_problem, orders_of

log = logging.getLogger("kite_app.guard")
ACCOUNT_COUNT = ""  # the account's key in the day's counts (client names are never empty)


class SharedLock:
    """Many holders at once (order sends), or one alone (the kill switch writing its latch)."""

    def __init__(self):
        self._condition = threading.Condition()
        self._shared = 0
        self._alone = False

    @contextmanager
    def shared(self):
        with self._condition:
            self._condition.wait_for(lambda: not self._alone)
            self._shared += 1
        try:
            yield
        finally:
            with self._condition:
                self._shared -= 1
                self._condition.notify_all()

    @contextmanager
    def alone(self):
        with self._condition:
            self._condition.wait_for(lambda: not self._alone)
            self._alone = True
            self._condition.wait_for(lambda: self._shared == 0)
        try:
            yield
        finally:
            with self._condition:
                self._alone = False
                self._condition.notify_all()


class Guard:
    def __init__(
        self,
        limits: GuardSettings,
        latches: KillLatches,
        clock,
        last_price=lambda exchange, symbol: None,
        seed=lambda: 0,
        seed_clients=lambda: {},
        on_refusal=None,
    ):
        self.limits = limits
        self.latches = latches
        self._clock = clock
        self._last_price = last_price
        self._seed, self._seed_clients = seed, seed_clients
        self._on_refusal = on_refusal  # (client, message): the audit and a notification, throttled
        self._lock = threading.Lock()
        self._send = SharedLock()
        self._day = None
        self._seeded = False
        self._counts: Counter = Counter()

    @contextmanager
    def sending(self):
        """Hold across check() and the send: the kill switch's latch waits for it (module docstring)."""
        with self._send.shared():
            yield

    @contextmanager
    def latched(self):
        """Held alone: no check-and-send is under way while the kill switch writes its latch."""
        with self._send.alone():
            yield

    def check(self, method: str, path: str, form: dict, client: str | None = None, client_limits=None) -> None:
        """Raise KillSwitchOn or GuardRefusal for a call that may not go to Kite; count a placement.
        `client_limits`: the gateway client's own (its max_orders_per_day)."""
        kind = kind_of(method, path)
        if kind not in LATCHED:
            return
        latch = self.latches.blocking(client)
        if latch is not None:
            self._refuse(client, latch.message(), KillSwitchOn)
        for order in orders_of(kind, form):
            problem = order_problem(order, self.limits, self._last_price)
            if problem:
                self._refuse(client, f"Refused by Kite App's guard: {problem}. Nothing was sent to Kite.")
        if kind == PLACE:
            paper = getattr(client_limits, "paper", False)  # a paper client's orders are not the account's
            self._count_placement(client, getattr(client_limits, "max_orders_per_day", None), paper)

    def orders_today(self) -> dict:
        """{"account": placements today, client: its placements} as counted here."""
        with self._lock:
            self._roll(seed=False)  # a status read never calls Kite
            return {(name or "account"): count for name, count in self._counts.items()}

    def _count_placement(self, client: str | None, client_most: int | None, paper: bool = False) -> None:
        most = None if paper else self.limits.max_orders_per_day
        with self._lock:
            self._roll()
            if most and self._counts[ACCOUNT_COUNT] >= most:
                message = f"the account's placements today reached MAX_ORDERS_PER_DAY ({most:,})"
            elif client and client_most and self._counts[client] >= client_most:
                message = (
                    f"client {client!r} placed {client_most:,} orders today, its --max-orders-per-day "
                    f"(kite_app.py clients limits {client} --max-orders-per-day N)"
                )
            else:
                self._counts[ACCOUNT_COUNT] += 0 if paper else 1
                if client:
                    self._counts[client] += 1
                return
        self._refuse(client, f"Refused by Kite App's guard: {message}. Nothing was sent to Kite.")

    def _roll(self, seed: bool = True) -> None:
        """A new trading day: the counts start again, from the audit for the clients (lock held); with
        `seed`, the account's from Kite's order book once (again at the next check if that failed)."""
        day = trading_day(self._clock())
        if day != self._day:
            self._day, self._counts, self._seeded = day, Counter(), False
            self._counts.update(self._seed_clients())
        if seed and not self._seeded and self.limits.max_orders_per_day:
            try:
                at_kite = int(self._seed())
            except Exception as exc:  # noqa: BLE001 (any failure: counted from here, seeded at the next check)
                log.warning("Guard: today's orders at Kite not counted yet (%s)", exc)
                return
            self._counts[ACCOUNT_COUNT] = max(self._counts[ACCOUNT_COUNT], at_kite)
            self._seeded = True

    def _refuse(self, client, message: str, kind=GuardRefusal):
        log.warning("Guard: refused %s: %s", client or "a script", message)
        if self._on_refusal is not None:
            self._on_refusal(client, message)
        raise kind(message)
