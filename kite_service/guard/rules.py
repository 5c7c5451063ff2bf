"""What the guard checks of one call, from its method, path and form: pure functions, no I/O.

The gateway and KiteAPI classify a call the same way (gateway/kite_routes.py's KiteCall) and hand
its form here. Placements and modifications are checked against the per-order limits (quantity,
value, exchange, product; an iceberg or autoslice by its whole quantity, a GTT by the orders it
would place); cancellations never are.
"""

import json

from kite_service.config.guard import GuardSettings
from kite_service.kite.sdk import kite_errors

PLACE, MODIFY, CANCEL = "place", "modify", "cancel"
GTT_PLACE, GTT_MODIFY, GTT_DELETE = "gtt place", "gtt modify", "gtt delete"
MF = "mutual fund order"
# What the kill switch's latch stops: whatever could open or grow a position. Cancels, GTT deletes,
# conversions and alerts go on.
LATCHED = (PLACE, MODIFY, GTT_PLACE, GTT_MODIFY, MF)
PROTECTED = ("MARKET", "SL-M")  # orders without a price of their own: valued at the last price


class GuardRefusal(kite_errors.InputException):
    """An order the guard's limits refuse (Kite's InputException, HTTP 400): nothing was sent."""


class KillSwitchOn(kite_errors.PermissionException):
    """The kill switch is on (Kite's PermissionException, HTTP 403): nothing was sent."""


def kind_of(method: str, path: str) -> str | None:
    """What a call to Kite is to the guard, or None for one it does not look at."""
    parts = path.strip("/").split("/")
    if parts[0] == "orders" and len(parts) in (2, 3):
        return (
            {"POST": PLACE, "PUT": MODIFY, "DELETE": CANCEL}.get(method)
            if len(parts) == 3 or method == "POST"
            else None
        )
    if parts[:2] == ["gtt", "triggers"]:
        return {"POST": GTT_PLACE, "PUT": GTT_MODIFY, "DELETE": GTT_DELETE}.get(method)
    if parts[0] == "mf" and method in ("POST", "PUT") and len(parts) >= 2 and parts[1] in ("orders", "sips"):
        return MF
    return None


def orders_of(kind: str, form: dict) -> list:
    """The orders a call would make, each a dict with exchange, product, quantity, price, order_type
    (what is known): one for a placement or modification, a GTT's legs for a GTT."""
    if kind in (PLACE, MODIFY):
        return [form]
    if kind in (GTT_PLACE, GTT_MODIFY):
        try:
            condition = json.loads(form.get("condition") or "{}")
            legs = json.loads(form.get("orders") or "[]")
        except ValueError:
            return []  # Kite refuses it
        if not isinstance(condition, dict) or not isinstance(legs, list):
            return []
        known = {"exchange": condition.get("exchange"), "tradingsymbol": condition.get("tradingsymbol")}
        return [{**known, **leg} for leg in legs if isinstance(leg, dict)]
    return []


def order_problem(order: dict, limits: GuardSettings, last_price) -> str | None:
    """Why one order breaks a per-order limit, naming the limit, the figure and the setting; or None.
    `last_price(exchange, tradingsymbol)`: for the value of a MARKET or SL-M order (None: unknown)."""
    exchange, product = str(order.get("exchange") or "").upper(), str(order.get("product") or "").upper()
    if limits.allowed_exchanges and exchange and exchange not in limits.allowed_exchanges:
        allowed = ",".join(sorted(limits.allowed_exchanges))
        return f"exchange {exchange} is not in ALLOWED_EXCHANGES ({allowed})"
    if limits.allowed_products and product and product not in limits.allowed_products:
        return f"product {product} is not in ALLOWED_PRODUCTS ({','.join(sorted(limits.allowed_products))})"
    quantity = _number(order.get("quantity"))
    if limits.max_order_quantity and quantity and quantity > limits.max_order_quantity:
        return f"quantity {quantity:,.0f} is above MAX_ORDER_QUANTITY ({limits.max_order_quantity:,})"
    if limits.max_order_value and quantity:
        price = _number(order.get("price"))
        if not price or str(order.get("order_type") or "").upper() in PROTECTED:
            price = _number(order.get("trigger_price")) or None
            if order.get("tradingsymbol"):
                price = last_price(exchange, str(order["tradingsymbol"])) or price
        if price is None:
            if order.get("tradingsymbol"):
                return (
                    f"no price to value {exchange}:{order['tradingsymbol']} against MAX_ORDER_VALUE "
                    f"({limits.max_order_value:,.0f}): its last price is not known; send a LIMIT order"
                )
            return None  # a modification naming no price: the order keeps its own, checked when placed
        value = price * quantity
        if value > limits.max_order_value:
            return (
                f"value {value:,.2f} ({quantity:,.0f} x {price:,.2f}) is above MAX_ORDER_VALUE "
                f"({limits.max_order_value:,.0f})"
            )
    return None


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
