"""The sandbox's GTT (good till triggered) orders, /gtt/triggers: single and two-leg triggers on the price walk.

When the price reaches a trigger, its LIMIT order goes through the order book like any other
(the book, fills, postbacks and the ticker follow), and the trigger records the result as Kite
does (`orders[].result`, recorded in gtt_get_orders.json). Rules, with their sources:
- a single trigger fires when the price reaches it from the side of the `last_price` sent; a
  two-leg (OCO) trigger has a stop-loss below the last price and a target above it, and fires the
  leg whose value is reached, leaving the other dormant (Kite's GTT docs; forum answers 27153, 7265);
- LIMIT orders only, CNC on NSE and BSE, NRML on NFO (zerodha.com/tos/gtt; forum answer 51475);
- a trigger within 0.25 % of the last price (9 paise under Rs 50) is disabled, not refused
  (support.zerodha.com, "GTTs disabled, cancelled, expired");
- valid for a year, an F&O contract's until its expiry; 250 active per account (support.zerodha.com);
- modify and delete work on active triggers only (Kite's GTT docs).
Error texts are Kite's where the forum quotes them (answers 45755, 37878); the others are ours.
"""

import itertools
import json
import threading
from datetime import timedelta

from .error_responses import InputError, KiteError, NotFoundError
from .order_record import stamp
from .order_rules import on_tick_grid, positive_int, price_value

TYPES = ("single", "two-leg")
STATUSES = ("active", "triggered", "disabled", "expired", "cancelled", "rejected", "deleted")
MAX_ACTIVE = 250
VALIDITY = timedelta(days=365)
MIN_DISTANCE_SHARE = 0.0025
MIN_DISTANCE_LOW_PRICE = 0.09  # rupees, for prices under Rs 50
GTT_PRODUCTS = {"NSE": ("CNC",), "BSE": ("CNC",), "NFO": ("NRML",)}
APP_ID = 1  # the app id Kite writes into a fired order's meta


class Triggers:
    """Every GTT of the demo account; advance() fires what the price has reached."""

    def __init__(self, market, book, user_id: str, clock):
        self._market, self._book, self._user_id, self._clock = market, book, user_id, clock
        self._lock = threading.RLock()
        self._ids = itertools.count(100001)
        self._triggers: dict = {}  # id -> trigger as Kite shows it

    def state(self) -> dict:
        """Every trigger, as JSON can keep it (a paper account's, stored across restarts)."""
        with self._lock:
            return {"triggers": {str(trigger_id): trigger for trigger_id, trigger in self._triggers.items()}}

    def restore(self, state: dict) -> None:
        with self._lock:
            self._triggers = {int(trigger_id): trigger for trigger_id, trigger in state["triggers"].items()}
            self._ids = itertools.count(max(self._triggers, default=100000) + 1)

    # -- the API ------------------------------------------------------------------------------

    def place(self, params: dict) -> int:
        with self._lock:
            self.advance()
            kind, condition, orders, instrument = self._parse(params)
            if sum(t["status"] == "active" for t in self._triggers.values()) >= MAX_ACTIVE:
                raise InputError(f"You can have at most {MAX_ACTIVE} active GTTs. Delete one to place another.")
            now = self._clock()
            expiry = now + VALIDITY
            if instrument.expiry:
                expiry = min(expiry, instrument.expires_at())
            trigger_id = next(self._ids)
            self._triggers[trigger_id] = {
                "id": trigger_id,
                "user_id": self._user_id,
                "parent_trigger": None,
                "type": kind,
                "created_at": stamp(now),
                "updated_at": stamp(now),
                "expires_at": stamp(expiry),
                "status": "active",
                "condition": condition,
                "orders": orders,
                "meta": {},
            }
            self._check_distance(self._triggers[trigger_id], instrument)
            return trigger_id

    def modify(self, trigger_id: int, params: dict) -> int:
        with self._lock:
            self.advance()
            trigger = self._changeable(trigger_id, "modified")
            kind, condition, orders, instrument = self._parse(params)
            if instrument.token != trigger["condition"]["instrument_token"]:
                raise InputError("A GTT's instrument cannot be changed: delete it and place a new one.")
            trigger.update(type=kind, condition=condition, orders=orders, status="active", meta={})
            trigger["updated_at"] = stamp(self._clock())
            self._check_distance(trigger, instrument)
            return trigger_id

    def delete(self, trigger_id: int) -> int:
        with self._lock:
            self.advance()
            trigger = self._changeable(trigger_id, "deleted")
            trigger.update(status="deleted", updated_at=stamp(self._clock()))
            return trigger_id

    def get(self, trigger_id: int) -> dict:
        with self._lock:
            self.advance()
            if trigger_id not in self._triggers:
                raise NotFoundError("Invalid trigger ID.")  # ours
            return json.loads(json.dumps(self._triggers[trigger_id]))

    def all(self) -> list:
        """The GTT book: every trigger but the deleted ones, newest first."""
        with self._lock:
            self.advance()
            shown = [t for t in self._triggers.values() if t["status"] != "deleted"]
            return json.loads(json.dumps(shown[::-1]))

    # -- the passage of time ----------------------------------------------------------------

    def advance(self) -> None:
        """Expire what is past its date and fire what the price has reached."""
        with self._lock:
            now = self._clock()
            for trigger in self._triggers.values():
                if trigger["status"] != "active":
                    continue
                if stamp(now) >= trigger["expires_at"]:
                    trigger.update(status="expired", updated_at=stamp(now))
                    continue
                last = self._market.price(self._market.by_token(trigger["condition"]["instrument_token"]))
                leg = _leg_reached(trigger, last)
                if leg is not None:
                    self._fire(trigger, leg, last, now)

    def _fire(self, trigger: dict, leg: int, last: float, now) -> None:
        order = trigger["orders"][leg]
        params = {name: order[name] for name in ("exchange", "tradingsymbol", "transaction_type", "product")}
        params.update(order_type="LIMIT", quantity=str(order["quantity"]), price=str(order["price"]), validity="DAY")
        try:  # Kite places it, not the user's request: it does not count against the user's caps
            order_id = self._book.place("regular", params, caps=False)
            placed = self._book.orders[order_id]
            if placed["status"] == "REJECTED":
                outcome = {"status": "failed", "rejection_reason": placed["status_message"]}
            else:
                outcome = {"status": "success", "rejection_reason": ""}
        except KiteError as refused:
            order_id, outcome = "", {"status": "failed", "rejection_reason": refused.message}
        order["result"] = {
            "account_id": self._user_id,
            **{name: order[name] for name in ("exchange", "tradingsymbol", "product", "transaction_type")},
            "validity": "DAY",
            "order_type": "LIMIT",
            "quantity": order["quantity"],
            "price": order["price"],
            "meta": json.dumps({"app_id": APP_ID, "gtt": trigger["id"]}, separators=(",", ":")),
            "timestamp": stamp(now),
            "triggered_at": last,
            "order_result": {
                "status": outcome["status"],
                "order_id": order_id,
                "rejection_reason": outcome["rejection_reason"],
            },
        }
        trigger.update(status="triggered", updated_at=stamp(now), meta=None)

    # -- checks -------------------------------------------------------------------------------

    def _parse(self, params: dict) -> tuple:
        """(type, condition, orders, instrument) of a place or modify request, as Kite checks them."""
        kind = params.get("type")
        if kind not in TYPES:
            raise InputError("Invalid `type`: use single or two-leg.")
        condition, orders = _json_field(params, "condition", dict), _json_field(params, "orders", list)
        instrument = self._market.by_symbol(condition.get("exchange"), condition.get("tradingsymbol"))
        if (
            instrument is None
            or instrument.is_index
            or self._market.expired_contract(instrument.exchange, instrument.tradingsymbol)
        ):
            raise InputError("The instrument you are placing a GTT for has either expired or does not exist.")
        values = condition.get("trigger_values")
        if not isinstance(values, list) or len(values) != (1 if kind == "single" else 2):
            raise InputError(f"Invalid `trigger_values`: a {kind} GTT takes {1 if kind == 'single' else 2}.")
        values = [price_value(v, "trigger_values") for v in values]
        last = price_value(condition.get("last_price"), "last_price")
        if last in values:
            raise InputError("Trigger cannot be created with one of the trigger values equal to the last price.")
        if kind == "two-leg" and values[1] < last:
            raise InputError("Trigger cannot be created with the second trigger price less than the last price.")
        if kind == "two-leg" and values[0] > last:  # ours, by symmetry with Kite's message above
            raise InputError("Trigger cannot be created with the first trigger price more than the last price.")
        if len(orders) != len(values) or not all(isinstance(o, dict) for o in orders):
            raise InputError(f"Invalid `orders`: a {kind} GTT takes {len(values)}.")
        legs = [self._leg(order, instrument) for order in orders]
        condition = {
            "exchange": instrument.exchange,
            "last_price": last,
            "tradingsymbol": instrument.tradingsymbol,
            "trigger_values": values,
            "instrument_token": instrument.token,
        }
        if _leg_reached({"type": kind, "condition": condition}, self._market.price(instrument)) is not None:
            raise InputError("Trigger already met.")
        return kind, condition, legs, instrument

    def _leg(self, order: dict, instrument) -> dict:
        for name in ("transaction_type", "quantity", "order_type", "product", "price"):
            if order.get(name) in (None, ""):
                raise InputError(f"`{name}` missing inside orders")  # the official client's own wording
        if order["transaction_type"] not in ("BUY", "SELL"):
            raise InputError("Invalid `transaction_type` inside orders.")
        if order["order_type"] != "LIMIT":
            raise InputError("Only LIMIT orders can be placed with a GTT.")
        if order["product"] not in GTT_PRODUCTS.get(instrument.exchange, ()):
            allowed = " or ".join(GTT_PRODUCTS.get(instrument.exchange, ())) or "no product"
            raise InputError(f"GTT on {instrument.exchange} takes {allowed}.")
        quantity = positive_int(order["quantity"], "quantity")
        if quantity % instrument.lot_size:
            raise InputError(f"Quantity should be a multiple of the lot size {instrument.lot_size}.")
        price = price_value(order["price"], "price")
        if price <= 0 or not on_tick_grid(price, instrument.tick_size):
            raise InputError(f"Invalid `price` inside orders: a multiple of the tick size {instrument.tick_size:g}.")
        return {
            "exchange": instrument.exchange,
            "tradingsymbol": instrument.tradingsymbol,
            "product": order["product"],
            "order_type": "LIMIT",
            "transaction_type": order["transaction_type"],
            "quantity": quantity,
            "price": price,
            "result": None,
        }

    def _check_distance(self, trigger: dict, instrument) -> None:
        """Kite disables a trigger placed within 0.25 % of the last price (9 paise under Rs 50)."""
        last = self._market.price(instrument)
        nearest = min(abs(value - last) for value in trigger["condition"]["trigger_values"])
        if nearest < (MIN_DISTANCE_LOW_PRICE if last < 50 else last * MIN_DISTANCE_SHARE):
            trigger.update(
                status="disabled",
                meta={"rejection_reason": "Trigger is less than 0.25% away from the last price."},  # ours
            )

    def _changeable(self, trigger_id: int, action: str) -> dict:
        """An active or disabled trigger: the ones Kite lets the user modify or delete."""
        trigger = self._triggers.get(trigger_id)
        if trigger is None or trigger["status"] == "deleted":
            raise NotFoundError("Invalid trigger ID.")  # ours
        if trigger["status"] not in ("active", "disabled"):
            raise InputError(f"Trigger cannot be {action} as it is {trigger['status']}.")  # ours
        return trigger


def _leg_reached(trigger: dict, price: float) -> int | None:
    """The index of the leg whose trigger value the price has reached, or None."""
    values, last = trigger["condition"]["trigger_values"], trigger["condition"]["last_price"]
    if trigger["type"] == "single":
        rising = values[0] > last
        return 0 if (price >= values[0] if rising else price <= values[0]) else None
    if price <= values[0]:
        return 0
    return 1 if price >= values[1] else None


def _json_field(params: dict, name: str, kind: type):
    try:
        value = json.loads(params.get(name) or "")
    except ValueError:
        raise InputError(f"Invalid `{name}`: send it as JSON.") from None
    if not isinstance(value, kind):
        raise InputError(f"Invalid `{name}`.")
    return value
