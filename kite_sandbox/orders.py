"""The sandbox's order engine: orders walk Kite's statuses and fills move the whole account.

State advances lazily: every API request first calls `advance()`, which triggers, fills and
expires what the moving price (or the fill delay of market orders) allows by now; a sandbox on
the real clock also runs `advance()` in the background (matcher.py), so fills, postbacks and
order updates happen when the price crosses, not at the next request. One lock guards all of it,
so orders, trades, positions, holdings and margins are always consistent with each other.
"""

import itertools
import threading
from datetime import datetime, timedelta

from .charges import order_charges
from .error_responses import InputError, NotFoundError
from .market import Market
from .market_hours import MarketHours
from .order_limits import OrderLimits
from .order_record import HISTORY_FIELDS, new_order, stamp
from .order_rules import (
    LIVE_STATUSES,
    MARKET_ORDER_TYPES,
    ORDER_TYPES,
    PRODUCTS,
    VALIDITIES,
    check_order,
    choice,
    order_fields,
    positive_int,
    price_value,
    protection,
    whole_number,
)
from .portfolio import Portfolio

PARTIAL_FILL_FROM_QUANTITY = 100
MARKET_FILL_DELAY = timedelta(seconds=2)


def _clock_moves(order: dict) -> bool:
    """The clock alone can move this order: an after-market order's opening, a TTL's end."""
    return order["status"] == "AMO REQ RECEIVED" or order["validity"] == "TTL"


class OrderBook:
    """All trading state of the demo account."""

    def __init__(
        self, market: Market, user_id: str, clock, on_update=None, caps: OrderLimits = None, hours=None, portfolio=None
    ):
        """`portfolio`: the account's money and positions (default: the demo user's, with its holdings)."""
        self._market = market
        self._hours = hours or MarketHours()  # when after-market orders go to the exchange
        self._user_id = user_id
        self._clock = clock
        self._on_update = on_update or (lambda order: None)
        self._caps = caps or OrderLimits()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(10000001)
        self.orders: dict = {}
        self._live: dict = {}  # order_id -> order, for the orders advance() must look at
        self._history: dict = {}
        self._placed_at: dict = {}  # order_id -> when it went to the exchange
        self._opens_at: dict = {}  # order_id -> when an after-market order goes to the exchange
        self._resting: set = set()  # limit orders that were not marketable when first checked
        self._blocked: dict = {}  # order_id -> margin held for the order's whole quantity
        self._prices = None  # inside advance(): the price of each instrument for this pass
        self.trades: list = []
        self.portfolio = portfolio or Portfolio(market)

    # -- placing, modifying, cancelling -------------------------------------------------------

    def place(self, variety: str, params: dict, caps: bool = True, day_orders: int = 1, **fields) -> str:
        """Place an order; `fields` set more of it (meta, parent_order_id, auction_number, tags).
        caps=False for the legs Kite itself places (iceberg legs after the first, cover stops);
        `day_orders`: the orders this request counts toward the day's cap (an iceberg's legs)."""
        with self._lock:
            now = self._clock()
            if caps:
                # counted like Kite's gateway counts requests: before any check
                self._caps.take_placement(now, day_orders)
            self.advance(now)
            expired = self._market.expired_contract(params.get("exchange"), params.get("tradingsymbol"))
            find = (lambda *_: None) if expired else self._market.by_symbol
            instrument, order_values = order_fields(variety, params, find)
            extra = dict(fields)
            order = new_order(self.new_order_id(), self._user_id, variety, instrument, order_values, now)
            order["tags"] += extra.pop("tags", [])
            order.update(extra)
            check_order(order, instrument, self._market.price(instrument), self._market.circuit_limits(instrument))
            order_id = order["order_id"]
            self.orders[order_id] = order
            self._history[order_id] = []
            self._placed_at[order_id] = now
            self._record(order, "PUT ORDER REQ RECEIVED", now)
            self._record(order, "VALIDATION PENDING", now)
            refusal = self._risk_check(order, instrument)
            if refusal:
                order["status_message"], order["status_message_raw"] = refusal
                order["cancelled_quantity"], order["pending_quantity"] = order["quantity"], 0
                self._record(order, "REJECTED", now)
                return order_id
            self._blocked[order_id] = self._margin_needed(order, instrument)
            self._live[order_id] = order
            if variety == "amo":
                self._record(order, "AMO REQ RECEIVED", now)  # rests until the next session opens
                self._opens_at[order_id] = self._hours.next_open(now)
                return order_id
            self._to_exchange(order, now)
            self.advance(now)
            return order_id

    def _to_exchange(self, order: dict, now: datetime) -> None:
        self._placed_at[order["order_id"]] = now
        self._record(order, "OPEN PENDING", now)
        order["exchange_order_id"] = f"{1100000000000000 + int(order['order_id'][-9:])}"
        order["exchange_timestamp"] = stamp(now)
        self._record(order, "TRIGGER PENDING" if order["order_type"] in ("SL", "SL-M") else "OPEN", now)
        if order["validity"] == "IOC":
            self._fill_or_kill(order, now)

    def modify(self, variety: str, order_id: str, params: dict) -> str:
        with self._lock:
            now = self._clock()
            self.advance(now)
            order = self._live_order(order_id, variety, "modified")
            changed = dict(order)
            for name in ("quantity", "disclosed_quantity"):
                if params.get(name) not in (None, ""):
                    changed[name] = (positive_int if name == "quantity" else whole_number)(params[name], name)
            for name in ("price", "trigger_price"):
                if params.get(name) not in (None, ""):
                    changed[name] = price_value(params[name], name)
            if params.get("order_type"):
                changed["order_type"] = choice(params["order_type"], ORDER_TYPES, "order_type")
            if params.get("validity"):
                changed["validity"] = choice(params["validity"], VALIDITIES, "validity")
            if params.get("market_protection") not in (None, ""):
                changed["market_protection"] = protection(params["market_protection"])
            if changed["quantity"] < order["filled_quantity"]:
                raise InputError("Quantity cannot be less than the filled quantity.")
            instrument = self._market.by_token(order["instrument_token"])
            if changed["quantity"] % instrument.lot_size:
                raise InputError(f"Quantity should be a multiple of the lot size {instrument.lot_size}.")
            check_order(changed, instrument, self._market.price(instrument), self._market.circuit_limits(instrument))
            self._caps.take_modification(order_id)
            resume = order["status"]
            self._record(order, "MODIFY VALIDATION PENDING", now)
            self._record(order, "MODIFY PENDING", now)
            order.update({k: v for k, v in changed.items() if k != "status"}, modified=True)
            order["pending_quantity"] = order["quantity"] - order["filled_quantity"]
            self._blocked[order_id] = self._margin_needed(order, instrument)
            self._resting.discard(order_id)  # a modified order is checked afresh
            self._record(order, "MODIFIED", now)
            self._record(order, resume, now)
            self.advance(now)
            return order_id

    def new_order_id(self) -> str:
        return f"{self._clock():%y%m%d}{next(self._ids):09d}"

    def exit_to_market(self, order_id: str) -> str:
        """A cover order's exit: its pending stop becomes a MARKET order, filled at the next pass."""
        with self._lock:
            now = self._clock()
            self.advance(now)
            order = self._live_order(order_id, "co", "exited")
            order.update(order_type="MARKET", trigger_price=0, market_protection=-1)
            self._placed_at[order_id] = now - MARKET_FILL_DELAY  # at the market now, not in 2 s
            self._record(order, "OPEN", now)
            self.advance(now)
            return order_id

    def cancel(self, variety: str, order_id: str) -> str:
        with self._lock:
            now = self._clock()
            self.advance(now)
            order = self._live_order(order_id, variety, "cancelled")
            self._record(order, "CANCEL PENDING", now)
            self._close(order, "CANCELLED", now)
            return order_id

    def history(self, order_id: str) -> list:
        with self._lock:
            self.advance(self._clock())
            if order_id not in self._history:
                raise NotFoundError("Couldn't find that order.")
            return [dict(entry) for entry in self._history[order_id]]

    def order_trades(self, order_id: str) -> list:
        with self._lock:
            self.advance(self._clock())
            if order_id not in self.orders:
                raise NotFoundError("Couldn't find that order.")
            return [dict(t) for t in self.trades if t["order_id"] == order_id]

    # -- risk checks ----------------------------------------------------------------------------

    def _risk_check(self, order, instrument) -> tuple | None:
        """Kite's RMS: (status_message, status_message_raw) of a rejection, or None."""
        entity = f"for entity account-{self._user_id} across exchange across segment across product "
        if order["product"] == "CNC" and order["transaction_type"] == "SELL":
            pending_sells = sum(
                o["pending_quantity"]
                for o in self._live.values()
                if o["instrument_token"] == instrument.token
                and o["product"] == "CNC"
                and o["transaction_type"] == "SELL"
            )
            sellable = self.portfolio.sellable_cnc(instrument) - pending_sells
            if order["quantity"] > sellable:
                # Kite's readable wording is not known; the raw form is its RMS rule name.
                return (
                    f"Insufficient holdings: {max(sellable, 0)} shares of {instrument.tradingsymbol} can be sold "
                    "today. Check your holdings and open sell orders.",
                    f"RMS:Rule: Check holdings {entity}",
                )
        required, available = self._margin_needed(order, instrument), self.available_cash()
        if required > available:
            return (
                f"Insufficient funds. Required margin is {required:.2f} but available margin is {available:.2f}. "
                "Check the orderbook for open orders.",
                f"RMS:Margin Exceeds,Required:{required:.2f}, Available:{available:.2f} {entity}",
            )
        return None

    def _margin_needed(self, order, instrument) -> float:
        price = order["price"] if order["order_type"] in ("LIMIT", "SL") else self._market.price(instrument)
        quantity = order["pending_quantity"]
        return self.portfolio.order_margin(instrument, order["product"], order["transaction_type"], quantity, price)

    def available_cash(self) -> float:
        return self.portfolio.available(self._blocked_now())

    def _blocked_now(self) -> float:
        return sum(self._blocked.get(order_id, 0.0) for order_id in self._live)

    # -- the passage of time ----------------------------------------------------------------

    def advance(self, now: datetime | None = None, tokens=None) -> None:
        """Trigger, fill and expire whatever the price and the clock allow by `now`; with `tokens`,
        only the orders on those instruments (whose prices moved) and those the clock alone moves
        (after-market orders, TTL)."""
        with self._lock:
            now = now or self._clock()
            self._prices = {}  # one price per instrument per pass: thousands of orders may rest on one
            try:
                for order in list(self._live.values()):
                    if tokens is not None and order["instrument_token"] not in tokens and not _clock_moves(order):
                        continue
                    if order["status"] == "AMO REQ RECEIVED" and now >= self._opens_at[order["order_id"]]:
                        self._to_exchange(order, self._opens_at.pop(order["order_id"]))
                    if order["status"] == "TRIGGER PENDING" and self._triggered(order):
                        self._record(order, "OPEN", now)
                    if order["status"] == "OPEN":
                        self._try_fill(order, now)
                    if order["order_id"] in self._live and order["validity"] == "TTL":
                        if now >= self._placed_at[order["order_id"]] + timedelta(minutes=order["validity_ttl"]):
                            self._close(order, "CANCELLED", now)
            finally:
                self._prices = None

    def _last_price(self, order) -> float:
        if self._prices is None:
            return self._market.price(self._instrument(order))
        token = order["instrument_token"]
        if token not in self._prices:
            self._prices[token] = self._market.price(self._instrument(order))
        return self._prices[token]

    def _triggered(self, order) -> bool:
        last = self._last_price(order)
        trigger = order["trigger_price"]
        return last >= trigger if order["transaction_type"] == "BUY" else last <= trigger

    def _fill_price(self, order, now, immediate=False) -> float | None:
        """The price this order fills at now, or None if it cannot fill yet."""
        last = self._last_price(order)
        if order["order_type"] in MARKET_ORDER_TYPES:
            waited = now - self._placed_at[order["order_id"]] >= MARKET_FILL_DELAY
            return last if waited or immediate else None
        buying = order["transaction_type"] == "BUY"
        if (last <= order["price"]) if buying else (last >= order["price"]):
            # Marketable on arrival: fills at the market, never worse than the limit. A resting
            # order is reached when the price comes to it: it fills at its limit.
            return order["price"] if order["order_id"] in self._resting else last
        self._resting.add(order["order_id"])
        return None

    def _try_fill(self, order, now, immediate=False) -> None:
        price = self._fill_price(order, now, immediate)
        if price is None:
            return
        instrument = self._instrument(order)
        quantity = order["pending_quantity"]
        if order["filled_quantity"] == 0 and order["quantity"] >= PARTIAL_FILL_FROM_QUANTITY:
            half = order["quantity"] // 2
            quantity = max(half - half % instrument.lot_size, instrument.lot_size)
        self._fill(order, instrument, quantity, price, now)

    def _fill_or_kill(self, order, now) -> None:
        """IOC: whatever can fill at once fills; the rest is cancelled by the exchange."""
        if order["status"] == "OPEN":
            self._try_fill(order, now, immediate=True)
        if order["order_id"] in self._live:
            self._close(order, "CANCELLED", now)

    def _fill(self, order, instrument, quantity, price, now) -> None:
        filled_before = order["filled_quantity"]
        order["filled_quantity"] += quantity
        order["pending_quantity"] -= quantity
        order["average_price"] = round(
            (order["average_price"] * filled_before + price * quantity) / order["filled_quantity"], 2
        )
        order["exchange_update_timestamp"] = stamp(now)
        self.trades.append(
            {
                "trade_id": str(next(self._trade_ids)),
                "order_id": order["order_id"],
                "exchange": order["exchange"],
                "tradingsymbol": order["tradingsymbol"],
                "instrument_token": order["instrument_token"],
                "product": order["product"],
                "average_price": price,
                "quantity": quantity,
                "exchange_order_id": order["exchange_order_id"],
                "transaction_type": order["transaction_type"],
                "fill_timestamp": stamp(now),
                "order_timestamp": f"{now:%H:%M:%S}",
                "exchange_timestamp": stamp(now),
            }
        )
        self.portfolio.book_fill(instrument, order["product"], order["transaction_type"], quantity, price)
        if order["pending_quantity"] == 0:
            self._close(order, "COMPLETE", now)
        else:
            self._blocked[order["order_id"]] = self._margin_needed(order, instrument)
            self._record(order, "OPEN", now)

    def _close(self, order, status, now) -> None:
        """End an order: COMPLETE, or CANCELLED with its pending quantity; its margin is released."""
        if status == "CANCELLED":
            order["cancelled_quantity"] += order["pending_quantity"]
            order["pending_quantity"] = 0
        if order["filled_quantity"]:  # an executed order pays its charges (charges.py)
            instrument = self._instrument(order)
            side, filled, price = order["transaction_type"], order["filled_quantity"], order["average_price"]
            self.portfolio.charges += order_charges(instrument, order["product"], side, filled, price)["total"]
        for pending in (self._live, self._blocked, self._opens_at):
            pending.pop(order["order_id"], None)
        self._resting.discard(order["order_id"])
        self._record(order, status, now)

    # -- account ----------------------------------------------------------------------------

    def reading(self, work):
        """work(portfolio) under the book's lock once it has caught up with the clock: the account's views."""
        with self._lock:
            self.advance(self._clock())
            return work(self.portfolio)

    def convert_position(self, params: dict) -> bool:
        with self._lock:
            self.advance(self._clock())
            exchange, symbol = params.get("exchange"), params.get("tradingsymbol")
            old = choice(params.get("old_product"), PRODUCTS, "old_product")
            new = choice(params.get("new_product"), PRODUCTS, "new_product")
            quantity = positive_int(params.get("quantity") or 0, "quantity")
            position = self.portfolio.positions.get((exchange, symbol, old))
            if position is None or position.net == 0:
                raise InputError("No open position to convert.")
            if quantity > abs(position.net):
                raise InputError(f"Quantity to convert is more than the open quantity {abs(position.net)}.")
            self.portfolio.convert(exchange, symbol, old, new, quantity)
            return True

    def margins(self, segment: str | None = None):
        with self._lock:
            self.advance(self._clock())
            both = self.portfolio.margin_rows(self._blocked_now())
            if segment is None:
                return both
            if segment not in both:
                raise InputError(f"Invalid segment: {segment}. Use equity or commodity.")
            return both[segment]

    # -- helpers ---------------------------------------------------------------------------

    def all_trades(self) -> list:
        with self._lock:
            self.advance(self._clock())
            return [dict(trade) for trade in self.trades]

    def all_orders(self) -> list:
        with self._lock:
            self.advance(self._clock())
            return [dict(order) for order in self.orders.values()]

    def _instrument(self, order):
        return self._market.by_token(order["instrument_token"])

    def _live_order(self, order_id: str, variety: str, action: str) -> dict:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFoundError("Couldn't find that order.")
        if order["variety"] != variety:
            # Ours: Kite's wording for a variety that is not the order's is not known.
            raise InputError(f"Order {order_id} is a {order['variety']} order: use the variety {order['variety']}.")
        if order["status"] not in LIVE_STATUSES:
            raise InputError(f"Order cannot be {action} as it is {order['status'].lower()}.")
        return order

    def _record(self, order: dict, status: str, now: datetime) -> None:
        order["status"] = status
        self._history[order["order_id"]].append({name: order[name] for name in HISTORY_FIELDS})
        self._on_update(dict(order))
