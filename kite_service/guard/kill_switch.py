"""The kill switch: latch, cancel, square off, verify. Kite has no such call; this leaves the account flat.

1. **Latch** (guard/latch.py), written under the guard's send lock held alone: from then on every
   order path refuses placements and modifications, and no call that passed its check earlier is
   still on its way.
2. **Cancel** every order that is not final, once each: a cover order's stop leg with variety `co`
   and its parent_order_id, an AMO as `amo` while Kite still holds it as a request and as `regular`
   once it reached the exchange, every iceberg leg with `iceberg`. Active GTTs are deleted
   (KILL_DELETES_GTT=on) or listed in the report.
3. **Square off** open positions (MIS; every product with KILL_SQUARES_OFF=all), side by side with
   the cancels (Kite limits placements and cancels apart), with MARKET orders carrying market
   protection, in whole lots of at most one order's most (the freeze quantity). An exit's size is
   the position minus the exits still pending, so an exit is never doubled.
4. **Verify and sweep**: orders and positions read again every SWEEP_EVERY_SECONDS until the account
   is flat and nothing is pending, at most KILL_SWEEP_SECONDS. An order that appeared meanwhile (from
   Kite's web or mobile app) is cancelled; a cancel or exit Kite refused is reported, with what it
   left, and never tried again.

With `client`, only that client's orders (those the gateway's audit says it placed) are cancelled,
only the positions its own trades built are squared off, and only that client is blocked. Every
step is a line in the report (`report()`: /api/status, `kill` on the command line), in the log, and
a notification. These are the only orders the service places by itself; the guard never checks them.
"""

import logging
import math
import threading
import time

from kite_service.clock import as_ist
from kite_service.guard.latch import ACCOUNT
from kite_service.kite.rate_limit import calls_first

log = logging.getLogger("kite_app.kill_switch")

FINAL = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})
CANCELLING = frozenset({"CANCEL PENDING"})
SWEEP_EVERY_SECONDS = 2.0
EXIT_TAG = "killswitch"


class KillSwitch:
    """`api`: the service's own KiteAPI (unguarded); `guard`: whose latch and send lock it uses;
    `owned(client)`: ({order_ids}, {trigger_ids}) the gateway's audit gives the client today."""

    def __init__(self, api, guard, settings, owned=lambda client: (set(), set()), publish=None, clock=None, paper=None):
        """`paper(client)`: flattens a paper client's account and says what it did, or None when the
        client is not a paper one (nothing of a paper client's is ever sent to Kite)."""
        self._api = api
        self._paper = paper or (lambda client: None)
        self._guard = guard
        self._settings = settings  # the Settings: guard limits and market protection
        self._owned = owned
        self._publish = publish
        self._clock = clock or api._clock
        self._lock = threading.Lock()
        self._runs: dict = {}  # scope -> {"latch", "steps", "done", "left"}
        self._sleep = time.sleep

    # -- the doors ---------------------------------------------------------------------------

    def pull(self, pulled_by: str, reason: str = "", client: str | None = None, wait: bool = False) -> dict:
        """Latch now, then cancel, square off and sweep on a thread of its own (or in this call with
        `wait`); the report so far. Pulled already: nothing is done twice."""
        scope = client or ACCOUNT
        with self._guard.latched():
            latch, newly = self._guard.latches.pull(scope, pulled_by, reason)
        if not newly:
            with self._lock:
                run = self._runs.get(scope)
            earlier = self._copy(run) if run else {"steps": [], "done": True, "left": {}}
            return {**earlier, "latch": latch.__dict__, "already_on": True}
        run = {"latch": latch.__dict__, "steps": [], "done": False, "left": {}}
        with self._lock:
            self._runs[scope] = run
        self._step(run, "latch", True, latch.message().replace(" Nothing was sent to Kite.", ""))
        if wait:
            self._flatten(run, client)
        else:
            threading.Thread(target=self._flatten, args=(run, client), name=f"kill-{scope}", daemon=True).start()
        return self.report(scope)

    def reset(self, client: str | None = None) -> bool:
        return self._guard.latches.reset(client or ACCOUNT)

    def report(self, scope: str = ACCOUNT) -> dict:
        with self._lock:
            run = self._runs.get(scope)
            return self._copy(run) if run else {}

    def reports(self) -> dict:
        with self._lock:
            return {scope: self._copy(run) for scope, run in self._runs.items()}

    # -- the steps ---------------------------------------------------------------------------

    def _flatten(self, run: dict, client: str | None) -> None:
        if client is not None:
            try:
                done = self._paper(client)
            except Exception as exc:
                log.exception("Kill switch: a paper account was not flattened")
                done = f"stopped by an unexpected error: {exc}; check the paper account"
                self._step(run, "error", False, done)
                with self._lock:
                    run["done"] = True
                return
            if done is not None:  # a paper client: its paper account, nothing at Kite
                self._step(run, "flat", True, done)
                with self._lock:
                    run["done"] = True
                return
        with calls_first():  # the account's limits are shared, and the switch's calls go first
            self._flatten_now(run, client)

    def _flatten_now(self, run: dict, client: str | None) -> None:
        try:
            cancelled, failed = set(), set()
            exits: dict = {}  # (exchange, symbol, product) -> order ids of our exits
            refused_exits: set = set()  # positions whose exit Kite refused: reported, never tried again
            # Cancels and exits side by side: Kite counts them in different limits (10 a second each),
            # so the account is flat in about the time of the longer of the two (bench section 14)
            squaring = threading.Thread(
                target=self._reported, args=(run, self._square_off, client, exits, refused_exits), daemon=True
            )
            squaring.start()
            self._cancel(run, client, cancelled, failed)
            self._gtts(run, client)
            squaring.join()
            self._sweep(run, client, cancelled, failed, exits, refused_exits)
        except Exception as exc:
            log.exception("Kill switch: stopped by an unexpected error")
            self._step(run, "error", False, f"stopped by an unexpected error: {exc}; check the account by hand")
        finally:
            with self._lock:
                run["done"] = True

    def _reported(self, run, step, *args) -> None:
        """`step(run, *args)` on a thread of its own: an unexpected error is a loud line, not a lost one."""
        try:
            with calls_first():
                step(run, *args)
        except Exception as exc:
            log.exception("Kill switch: a step stopped on an unexpected error")
            self._step(run, "error", False, f"stopped by an unexpected error: {exc}; the sweep goes on")

    def _cancel(self, run, client, cancelled: set, failed: set, orders: list | None = None) -> tuple:
        """Cancel each order not final (and not cancelled or failed here before); (orders not final,
        of them those Kite would not cancel)."""
        owned = self._owned(client)[0] if client else None
        pending = stuck = 0
        for order in self._api.get_raw_orders() if orders is None else orders:
            order_id, status = str(order.get("order_id")), str(order.get("status") or "")
            if status in FINAL or status in CANCELLING or order.get("tag") == EXIT_TAG:
                continue
            if owned is not None and order_id not in owned:
                continue
            if order_id in cancelled or order_id in failed:
                pending += 1
                stuck += order_id in failed
                continue
            variety = _cancel_variety(order)
            try:
                self._api.kite.cancel_order(
                    variety=variety, order_id=order_id, parent_order_id=order.get("parent_order_id") or None
                )
                cancelled.add(order_id)
                self._step(run, "cancel", True, f"cancelled {_describe(order)} ({variety})")
            except Exception as exc:  # noqa: BLE001 (each failure reported, never tried again)
                failed.add(order_id)
                stuck += 1
                self._step(run, "cancel", False, f"FAILED to cancel {_describe(order)} ({variety}): {exc}")
            pending += 1
        return pending, stuck

    def _gtts(self, run, client) -> None:
        owned = self._owned(client)[1] if client else None
        try:
            active = [g for g in self._api.kite.get_gtts() if g.get("status") == "active"]
        except Exception as exc:  # noqa: BLE001
            self._step(run, "gtt", False, f"FAILED to read the GTTs: {exc}; check them by hand")
            return
        if owned is not None:
            active = [g for g in active if str(g.get("id")) in owned]
        for gtt in active:
            what = f"GTT {gtt.get('id')} on {gtt.get('condition', {}).get('tradingsymbol', '?')}"
            if not self._settings.guard.kill_deletes_gtt:
                self._step(run, "gtt", True, f"left {what} active (KILL_DELETES_GTT=off)")
                continue
            try:
                self._api.kite.delete_gtt(gtt["id"])
                self._step(run, "gtt", True, f"deleted {what}")
            except Exception as exc:  # noqa: BLE001
                self._step(run, "gtt", False, f"FAILED to delete {what}: {exc}")

    def _square_off(self, run, client, exits: dict, refused: set, orders: list | None = None) -> int:
        """Exit what each position holds beyond its pending exits; how many positions are not flat."""
        open_positions = 0
        pending = self._pending_exits(orders)
        for key, quantity in self._positions(client, exits).items():
            if quantity == 0:
                continue
            open_positions += 1
            if key in refused:
                continue
            left = abs(quantity) - pending.get(key, 0)
            if left <= 0:
                continue
            exchange, symbol, product = key
            side = "SELL" if quantity > 0 else "BUY"
            for size in self._slices(exchange, symbol, left):
                order = {"exchange": exchange, "tradingsymbol": symbol, "transaction_type": side, "quantity": size}
                order |= {"product": product, "order_type": "MARKET", "tag": EXIT_TAG}
                order["market_protection"] = self._settings.market_protection
                try:
                    order_id = self._api.kite.place_order(variety="regular", **order)
                    exits.setdefault(key, []).append(order_id)
                    self._step(run, "exit", True, f"{side} {size} {exchange}:{symbol} {product} at market ({order_id})")
                except Exception as exc:  # noqa: BLE001 (the position is reported as left, never retried)
                    refused.add(key)
                    self._step(run, "exit", False, f"FAILED to exit {side} {size} {exchange}:{symbol} {product}: {exc}")
                    break
        return open_positions

    def _sweep(self, run, client, cancelled, failed, exits, refused) -> None:
        deadline = time.monotonic() + self._settings.guard.kill_sweep_seconds
        first = True
        while True:
            if not first:  # the first look at once: on Kite a MARKET exit has filled by then
                self._sleep(SWEEP_EVERY_SECONDS)
            first = False
            orders = self._api.get_raw_orders()  # one read of the order book a pass, shared by each step
            for key in self._refused_exits(exits, orders) - refused:
                refused.add(key)
                self._step(run, "exit", False, f"Kite did not fill the exit of {':'.join(key)}: the position is left")
            pending, stuck_orders = self._cancel(run, client, cancelled, failed, orders)
            self._square_off(run, client, exits, refused, orders)
            left = {key: quantity for key, quantity in self._positions(client, exits).items() if quantity}
            waiting = sum(self._pending_exits(orders).values())
            if not left and not pending and not waiting:
                whose = "the account is" if not client else f"client {client!r}'s positions are"
                self._step(run, "flat", True, f"{whose} flat and nothing is pending")
                return
            only_failures = pending == stuck_orders and not waiting and set(left) <= refused
            if only_failures or time.monotonic() >= deadline:
                shown = {":".join(key): quantity for key, quantity in left.items()}
                with self._lock:
                    run["left"] = shown
                self._step(
                    run,
                    "left",
                    False,
                    f"NOT FLAT: positions left {shown or 'none'}, {pending} order(s) not final "
                    f"({stuck_orders} that Kite would not cancel); act by hand",
                )
                return

    # -- what the account holds ---------------------------------------------------------------

    def _positions(self, client, exits: dict) -> dict:
        """{(exchange, symbol, product): net quantity} to flatten: the account's (its intraday ones
        unless KILL_SQUARES_OFF=all), or what the client's own trades built and this run's exits
        (`exits`) have not undone yet, within the account's."""
        every = self._settings.guard.kill_squares_off_all
        account = {}
        for row in self._api.kite.positions()["net"]:
            if row.get("product") in ("CO", "BO"):
                continue  # a cover order's position is exited by cancelling its stop leg
            if every or row.get("product") == "MIS":
                key = (row["exchange"], row["tradingsymbol"], row["product"])
                account[key] = account.get(key, 0) + int(row.get("quantity") or 0)
        if not client:
            return account
        owned = self._owned(client)[0] | {str(order_id) for ids in exits.values() for order_id in ids}
        built: dict = {}
        for trade in self._api.kite.trades():
            if str(trade.get("order_id")) in owned:
                key = (trade["exchange"], trade["tradingsymbol"], trade["product"])
                sign = 1 if trade["transaction_type"] == "BUY" else -1
                built[key] = built.get(key, 0) + sign * int(trade["quantity"])
        # Its own, but never more than the account holds the same way
        return {
            k: (min(q, account[k]) if q > 0 else max(q, account[k]))
            for k, q in built.items()
            if k in account and q * account[k] > 0
        }

    def _pending_exits(self, orders: list | None = None) -> dict:
        """{(exchange, symbol, product): quantity} of our exits not final yet."""
        pending: dict = {}
        for order in self._api.get_raw_orders() if orders is None else orders:
            if order.get("tag") == EXIT_TAG and order.get("status") not in FINAL:
                key = (order["exchange"], order["tradingsymbol"], order["product"])
                pending[key] = pending.get(key, 0) + int(order.get("pending_quantity") or order.get("quantity") or 0)
        return pending

    def _refused_exits(self, exits: dict, orders: list) -> set:
        ours = {order_id: key for key, ids in exits.items() for order_id in ids}
        return {
            ours[str(o.get("order_id"))]
            for o in orders
            if str(o.get("order_id")) in ours and o.get("status") in ("REJECTED", "CANCELLED")
        }

    def _slices(self, exchange: str, symbol: str, quantity: int) -> list:
        """`quantity` in orders of at most one order's most (whole lots within the freeze quantity)."""
        most = None
        try:
            most = self._api.most_per_order(f"{exchange}:{symbol}")
        except Exception as exc:  # noqa: BLE001 (unknown: one order, and Kite's refusal is reported)
            log.warning("Kill switch: no freeze quantity for %s:%s (%s)", exchange, symbol, exc)
        if not most or quantity <= most:
            return [quantity]
        count = math.ceil(quantity / most)
        return [most] * (count - 1) + [quantity - most * (count - 1)]

    # -- the report --------------------------------------------------------------------------

    def _step(self, run: dict, step: str, ok: bool, text: str) -> None:
        now = as_ist(self._clock()).isoformat(timespec="milliseconds")
        with self._lock:
            run["steps"].append({"at": now, "step": step, "ok": ok, "text": text})
        scope = run["latch"]["scope"]
        (log.info if ok else log.error)("Kill switch (%s): %s", scope, text)
        if self._publish is not None:
            number = len(run["steps"])
            self._publish(
                {
                    "event": "kill_switch",
                    "id": f"kill:{run['latch']['pulled_at']}:{scope}:{number}",
                    "text": f"Kill switch ({scope}): {text}",
                    "ok": ok,
                    "at": now,
                }
            )

    @staticmethod
    def _copy(run: dict) -> dict:
        return {**run, "steps": [dict(step) for step in run["steps"]], "left": dict(run["left"])}


def _cancel_variety(order: dict) -> str:
    """The variety a cancel of `order` must name (Kite's order book says it)."""
    variety = str(order.get("variety") or "regular")
    if variety == "amo" and order.get("status") != "AMO REQ RECEIVED":
        return "regular"  # an AMO at the exchange since the open is a regular order there
    return variety


def _describe(order: dict) -> str:
    side, quantity = order.get("transaction_type"), order.get("pending_quantity") or order.get("quantity")
    return f"order {order.get('order_id')} ({side} {quantity} {order.get('exchange')}:{order.get('tradingsymbol')})"
