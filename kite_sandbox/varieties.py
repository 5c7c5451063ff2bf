"""Kite's order varieties beyond a single order: cover orders, iceberg legs, autoslice children and auction
sales, and the exchanges' freeze quantity that sends large F&O orders to them.

What Kite does, with sources (forum answers are Zerodha staff's on kite.trade/forum):
- Cover order (variety `co`): a MARKET or LIMIT entry with a compulsory stop-loss; once the entry
  executes, Kite places the stop as an SL-M second leg in TRIGGER PENDING whose parent_order_id is
  the entry (answers 7897, 8488). The stop must lie within the trigger range. exit_order on the
  second leg with its parent_order_id turns the stop into a MARKET order that squares off the
  position (answer 2319); without parent_order_id it is cancelled like any order.
- Iceberg (variety `iceberg`): 2 to 50 legs (answer 51724), `iceberg_quantity` = quantity / legs
  with the first legs rounded up (answer 51625); one leg is placed at a time, the next when it
  completes (answers 39106, 39111); each leg carries meta.iceberg (recorded orders.json).
- Iceberg legs each count toward the 5,000 orders a day, the request once toward the 10 a second
  (answer 51724): all legs are counted when the iceberg is placed.
- Autoslice (`autoslice=true`): an F&O order of at least one order's most (the freeze quantity's
  whole lots) is split into children of at most that, each placed on its own; below it Kite answers
  "Quantity should be greater than or equal to 3510 for order slicing" (NIFTY, answers 53037 and
  53057); at most 10 children (answer 52316). The answer lists each child's order_id or error
  (recorded autoslice_response.json); each child is tagged `autoslice` (answer 51301).
- Freeze quantity: without iceberg or autoslice, an F&O order above it is refused (answer 42709).
  NSE's index freeze quantities by date (exchange_numbers.py); a stock's is the sandbox's own.
- Auction (variety `auction`): sells settled holdings into an exchange auction, LIMIT and CNC, no
  modifications (support.zerodha.com, "Participation in the auction").
"""

import logging
import threading

from .error_responses import InputError, KiteError
from .exchange_numbers import AUTOSLICE_MOST_ORDERS, FREEZE_QUANTITIES, autoslice_minimum, most_per_order
from .order_record import FINAL_STATUSES
from .order_rules import positive_int

log = logging.getLogger("kite_sandbox")

ICEBERG_LEGS = (2, 50)
CO_TRIGGER_RANGE = 0.03  # a stop within 3 % of the last price (ours; Kite's range is per instrument)
STOCK_FREEZE_LOTS = 20  # ours: NSE sets one per stock from its traded volume, published with no table
AUTOSLICE_VALUES = ("true", "True", "1")


def freeze_quantity(instrument, day) -> int | None:
    """The most an exchange takes in one F&O order on `day` (whole lots within the freeze quantity),
    or None for instruments without one."""
    if instrument.underlying is None:
        return None
    found = FREEZE_QUANTITIES.on_or_oldest(instrument.name, day)
    if found is None:  # a stock's: NSE sets one per stock
        return STOCK_FREEZE_LOTS * instrument.lot_size
    return most_per_order(found.value, instrument.lot_size)


def trigger_range(market, instrument) -> tuple:
    """(lower, upper): where a cover order's stop may lie (the legacy /instruments/trigger_range)."""
    last = market.price(instrument)
    return round(last * (1 - CO_TRIGGER_RANGE), 4), round(last * (1 + CO_TRIGGER_RANGE), 4)


class OrderDesk:
    """Places, modifies and cancels orders of every variety through the order book."""

    def __init__(self, book, market):
        self._book, self._market = book, market
        self._lock = threading.Lock()
        self._icebergs: dict = {}  # current leg's order_id -> {"legs": [quantities], "next": index, ...}
        self._cover_stops: dict = {}  # entry order_id -> stop trigger price
        self._due: list = []  # order updates to act on at the next advance()

    def state(self) -> dict:
        """The orders it follows (iceberg plans, cover orders' stops), as JSON can keep them."""
        with self._lock:
            return {"icebergs": self._icebergs, "cover_stops": self._cover_stops}

    def restore(self, state: dict) -> None:
        with self._lock:
            self._icebergs, self._cover_stops = dict(state["icebergs"]), dict(state["cover_stops"])

    # -- the API ------------------------------------------------------------------------------

    def place(self, variety: str, params: dict):
        """The order_id, or for autoslice Kite's {"order_id", "children"}."""
        variety = variety.lower()  # Kite redirects /orders/CO to /orders/co
        instrument = self._market.by_symbol(params.get("exchange"), params.get("tradingsymbol"))
        if params.get("autoslice") in AUTOSLICE_VALUES:
            return self._autoslice(variety, params, instrument)
        if variety == "iceberg":
            return self._iceberg(params, instrument)
        if variety == "co":
            return self._cover(params, instrument)
        if variety == "auction":
            return self._auction(params, instrument)
        self._check_freeze(params, instrument)
        return self._book.place(variety, params)

    def modify(self, variety: str, order_id: str, params: dict) -> str:
        variety = variety.lower()
        if variety == "auction":
            raise InputError("Auction orders cannot be modified: cancel the order and place it again.")
        return self._book.modify(variety, order_id, params)

    def cancel(self, variety: str, order_id: str, parent_order_id: str | None = None) -> str:
        variety = variety.lower()
        order = self._book.orders.get(order_id)
        if variety == "co" and parent_order_id and order is not None and order["parent_order_id"] == parent_order_id:
            return self._book.exit_to_market(order_id)  # exit_order: the stop becomes a MARKET order
        return self._book.cancel(variety, order_id)

    # -- following orders ---------------------------------------------------------------------

    def on_update(self, order: dict) -> None:
        """Told every order update (under the book's lock): remember what to act on."""
        if order["order_id"] in self._icebergs or order["order_id"] in self._cover_stops:
            if order["status"] in FINAL_STATUSES:
                with self._lock:
                    self._due.append(order)

    def advance(self) -> None:
        """Place the next iceberg legs and the second legs of executed cover orders."""
        while True:  # a leg that fills at once makes the next one due at once
            with self._lock:
                due, self._due = self._due, []
            if not due:
                return
            for order in due:
                if order["order_id"] in self._icebergs:
                    self._next_leg(order)
                elif order["order_id"] in self._cover_stops:
                    self._second_leg(order)

    # -- cover orders ---------------------------------------------------------------------------

    def _cover(self, params: dict, instrument) -> str:
        if params.get("product") not in ("CO", "MIS"):
            raise InputError("Cover orders take the product CO.")
        if params.get("order_type") not in ("MARKET", "LIMIT"):
            raise InputError("Cover orders can be MARKET or LIMIT orders.")
        if instrument is None:
            return self._book.place("co", params)  # the book refuses it with Kite's words
        try:
            stop = float(params.get("trigger_price") or 0)
        except ValueError:
            stop = 0.0
        if stop <= 0:
            raise InputError("Invalid trigger price entered")  # Kite's, quoted on the forum (8488)
        lower, upper = trigger_range(self._market, instrument)
        last = self._market.price(instrument)
        below = params.get("transaction_type") == "BUY"
        if not (lower <= stop < last if below else last < stop <= upper):
            side = f"between {lower:g} and {last:g}" if below else f"between {last:g} and {upper:g}"
            raise InputError(f"Trigger price for the cover order's stop-loss should be {side}.")  # ours
        self._check_freeze(params, instrument)
        entry = {**params, "product": "CO", "trigger_price": "0"}
        order_id = self._book.place("co", entry)
        self._cover_stops[order_id] = stop
        if self._book.orders[order_id]["status"] == "COMPLETE":  # filled at once: the update came first
            self.on_update(self._book.orders[order_id])
        return order_id

    def _second_leg(self, entry: dict) -> None:
        stop = self._cover_stops.pop(entry["order_id"], None)
        if stop is None or (entry["status"] != "COMPLETE" and not entry["filled_quantity"]):
            return  # already handled (an update can be told twice), or nothing executed
        leg = {
            "exchange": entry["exchange"],
            "tradingsymbol": entry["tradingsymbol"],
            "transaction_type": "SELL" if entry["transaction_type"] == "BUY" else "BUY",
            "quantity": str(entry["filled_quantity"]),
            "product": "CO",
            "order_type": "SL-M",
            "trigger_price": str(stop),
            "market_protection": "-1",
        }
        try:
            self._book.place("co", leg, parent_order_id=entry["order_id"], caps=False)
        except KiteError:  # the price is already through the stop: square off at the market
            leg.update(order_type="MARKET", trigger_price="0")
            try:
                self._book.place("co", leg, parent_order_id=entry["order_id"], caps=False)
            except KiteError:
                log.exception("Cover order %s: its stop-loss leg could not be placed", entry["order_id"])

    # -- iceberg --------------------------------------------------------------------------------

    def _iceberg(self, params: dict, instrument) -> str:
        if instrument is None:
            return self._book.place("iceberg", params)  # refused by the book with Kite's words
        legs = positive_int(params.get("iceberg_legs") or 0, "iceberg_legs")
        if not ICEBERG_LEGS[0] <= legs <= ICEBERG_LEGS[1]:
            raise InputError(f"Invalid `iceberg_legs`: between {ICEBERG_LEGS[0]} and {ICEBERG_LEGS[1]}.")
        quantity = positive_int(params.get("quantity") or 0, "quantity")
        lot = instrument.lot_size
        if quantity % lot:
            raise InputError(f"Quantity should be a multiple of the lot size {lot}.")
        lots = quantity // lot
        if lots < legs:
            raise InputError("Invalid `iceberg_legs`: more legs than lots in the quantity.")
        sizes = [(lots // legs + (1 if n < lots % legs else 0)) * lot for n in range(legs)]
        if str(params.get("iceberg_quantity")) != str(sizes[0]):
            raise InputError("Invalid `iceberg_quantity`.")  # Kite's words (forum 51625)
        plan = {"legs": sizes, "next": 0, "params": dict(params), "total": quantity}
        return self._place_leg(plan, day_orders=legs)

    def _place_leg(self, plan: dict, day_orders: int = 0) -> str:
        index = plan["next"]
        size = plan["legs"][index]
        placed = sum(plan["legs"][: index + 1])
        meta = {
            "iceberg": {
                "leg": index + 1,
                "legs": len(plan["legs"]),
                "leg_quantity": size,
                "total_quantity": plan["total"],
                "remaining_quantity": plan["total"] - placed,
            }
        }
        params = {**plan["params"], "quantity": str(size)}
        order_id = self._book.place("iceberg", params, meta=meta, caps=index == 0, day_orders=day_orders or 1)
        plan["next"] = index + 1
        self._icebergs[order_id] = plan
        if self._book.orders[order_id]["status"] in FINAL_STATUSES:
            self.on_update(self._book.orders[order_id])
        return order_id

    def _next_leg(self, leg: dict) -> None:
        plan = self._icebergs.pop(leg["order_id"], None)
        if plan is not None and leg["status"] == "COMPLETE" and plan["next"] < len(plan["legs"]):
            try:
                self._place_leg(plan)
            except KiteError:
                pass  # the leg is refused; the iceberg ends there, as Kite's would

    # -- autoslice and freeze quantities ---------------------------------------------------------

    def _autoslice(self, variety: str, params: dict, instrument) -> dict:
        if variety not in ("regular", "amo"):
            raise InputError("Autoslice is for regular and AMO orders.")  # ours
        freeze = freeze_quantity(instrument, self._market.now().date()) if instrument is not None else None
        if freeze is None:
            raise InputError("Autoslice is for F&O orders above the exchange's freeze quantity.")  # ours
        quantity = positive_int(params.get("quantity") or 0, "quantity")
        least = autoslice_minimum(freeze, instrument.lot_size)
        if quantity < least:
            raise InputError(f"Quantity should be greater than or equal to {least} for order slicing.")
        if quantity > freeze * AUTOSLICE_MOST_ORDERS:  # ours: no live wording found
            raise InputError(
                f"Quantity can be at most {freeze * AUTOSLICE_MOST_ORDERS} for order slicing: "
                f"{AUTOSLICE_MOST_ORDERS} orders of {freeze}."
            )
        parent = self._book.new_order_id()
        children = []
        left = quantity
        while left:
            size = min(left, freeze)
            left -= size
            try:
                tags = ["autoslice", f"autoslice:{parent}"]  # one request: counted once against the caps
                child = self._book.place(variety, {**params, "quantity": str(size)}, caps=not children, tags=tags)
                children.append({"order_id": child})
            except KiteError as refused:
                error = {
                    "code": refused.status,
                    "error_type": refused.error_type,
                    "message": refused.message,
                    "data": None,
                }
                children.append({"error": error})
        return {"order_id": parent, "children": children}

    def _check_freeze(self, params: dict, instrument) -> None:
        freeze = freeze_quantity(instrument, self._market.now().date()) if instrument is not None else None
        try:
            quantity = int(params.get("quantity") or 0)
        except ValueError:
            return  # the book refuses it with Kite's words
        if freeze is not None and quantity > freeze:
            lot = instrument.lot_size
            raise InputError(
                f"The order quantity {quantity} ({quantity // lot} lots) is higher than the maximum quantity of "
                f"{freeze} ({freeze // lot} lots) allowed by the exchanges. Please reduce the order quantity or "
                "use iceberg orders."
            )

    # -- auctions -------------------------------------------------------------------------------

    def _auction(self, params: dict, instrument) -> str:
        listed = {row["tradingsymbol"]: row for row in self._book.reading(lambda portfolio: portfolio.auction_rows())}
        number = str(params.get("auction_number") or "")
        row = listed.get(params.get("tradingsymbol")) if instrument is not None else None
        if row is None or row["auction_number"] != number:
            raise InputError("Invalid `auction_number`: see /portfolio/holdings/auctions.")  # ours
        if params.get("transaction_type") != "SELL":
            raise InputError("Auction orders can only sell: the exchange buys in an auction.")  # ours
        if params.get("product") != "CNC" or params.get("order_type") != "LIMIT":
            raise InputError("Auction orders are LIMIT orders for the product CNC.")  # ours
        return self._book.place("auction", params, auction_number=number)
