"""The sandbox's order engine: orders walk Kite's statuses and fills move the whole account.

State advances lazily: every API request first calls `advance()`, which fills what the moving
price (or the fill delay of market orders) allows by now. One lock guards all of it, so orders,
trades, positions, holdings and margins are always consistent with each other.
"""

import itertools
import threading
from datetime import datetime, timedelta

from .kite_errors import InputError, NotFoundError
from .market import Instrument, Market

VARIETIES = ("regular", "amo", "co", "iceberg")
PRODUCTS = ("CNC", "MIS", "NRML", "CO")
ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
VALIDITIES = ("DAY", "IOC", "TTL")
LIVE_STATUSES = ("OPEN", "TRIGGER PENDING", "AMO REQ RECEIVED")
OPENING_CASH = 500000.0
MIS_MARGIN_RATE = 0.2
PARTIAL_FILL_FROM_QUANTITY = 100
MARKET_FILL_DELAY = timedelta(seconds=2)
HISTORY_FIELDS = (
    "average_price",
    "cancelled_quantity",
    "disclosed_quantity",
    "exchange",
    "exchange_order_id",
    "exchange_timestamp",
    "filled_quantity",
    "instrument_token",
    "order_id",
    "order_timestamp",
    "order_type",
    "parent_order_id",
    "pending_quantity",
    "placed_by",
    "price",
    "product",
    "quantity",
    "status",
    "status_message",
    "tag",
    "tradingsymbol",
    "transaction_type",
    "trigger_price",
    "validity",
    "variety",
    "modified",
)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class OrderBook:
    """All trading state of the demo account."""

    def __init__(self, market: Market, user_id: str, clock, on_update=None):
        self._market = market
        self._user_id = user_id
        self._clock = clock
        self._on_update = on_update or (lambda order: None)
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(10000001)
        self.orders: dict = {}
        self._history: dict = {}
        self._placed_at: dict = {}
        self._blocked: dict = {}  # order_id -> margin held while the order is live
        self.trades: list = []
        self._positions: dict = {}
        self._debits = 0.0
        self._realised = 0.0
        self.holdings = self._seed_holdings()

    # -- placing, modifying, cancelling -------------------------------------------------------

    def place(self, variety: str, params: dict) -> str:
        with self._lock:
            now = self._clock()
            self.advance(now)
            instrument, fields = self._validate(variety, params)
            order_id = f"{now:%y%m%d}{next(self._ids):09d}"
            order = self._new_order(order_id, variety, instrument, fields, now)
            self.orders[order_id] = order
            self._history[order_id] = []
            self._placed_at[order_id] = now
            self._record(order, "PUT ORDER REQ RECEIVED", now)
            self._record(order, "VALIDATION PENDING", now)
            required = self._required_margin(order, instrument)
            available = self.available_cash()
            if order["transaction_type"] == "BUY" and required > available:
                message = (
                    f"Insufficient funds. Required margin is {required:.2f} but available margin is "
                    f"{available:.2f}. Check the orderbook for open orders."
                )
                order["status_message"] = order["status_message_raw"] = message
                order["cancelled_quantity"], order["pending_quantity"] = order["quantity"], 0
                self._record(order, "REJECTED", now)
                return order_id
            if variety == "amo":
                self._record(order, "AMO REQ RECEIVED", now)  # rests until the next session opens
                return order_id
            self._blocked[order_id] = required if order["transaction_type"] == "BUY" else 0.0
            self._record(order, "OPEN PENDING", now)
            order["exchange_order_id"] = f"{1100000000000000 + int(order_id[-9:])}"
            order["exchange_timestamp"] = stamp(now)
            self._record(order, "TRIGGER PENDING" if order["order_type"] in ("SL", "SL-M") else "OPEN", now)
            self.advance(now)
            return order_id

    def modify(self, variety: str, order_id: str, params: dict) -> str:
        with self._lock:
            now = self._clock()
            self.advance(now)
            order = self._live_order(order_id, "modified")
            changes = {}
            for name in ("quantity", "disclosed_quantity"):
                if params.get(name) not in (None, ""):
                    changes[name] = _positive_int(params[name], name)
            for name in ("price", "trigger_price"):
                if params.get(name) not in (None, ""):
                    changes[name] = _price(params[name], name)
            if params.get("order_type"):
                changes["order_type"] = _choice(params["order_type"], ORDER_TYPES, "order_type")
            if params.get("validity"):
                changes["validity"] = _choice(params["validity"], VALIDITIES, "validity")
            if changes.get("quantity", order["quantity"]) < order["filled_quantity"]:
                raise InputError("Quantity cannot be less than the filled quantity.")
            resume = order["status"]
            self._record(order, "MODIFY VALIDATION PENDING", now)
            self._record(order, "MODIFY PENDING", now)
            order.update(changes, modified=True)
            order["pending_quantity"] = order["quantity"] - order["filled_quantity"]
            self._record(order, "MODIFIED", now)
            self._record(order, resume, now)
            self.advance(now)
            return order_id

    def cancel(self, variety: str, order_id: str) -> str:
        with self._lock:
            now = self._clock()
            self.advance(now)
            order = self._live_order(order_id, "cancelled")
            self._record(order, "CANCEL PENDING", now)
            order["cancelled_quantity"] = order["pending_quantity"]
            order["pending_quantity"] = 0
            self._blocked.pop(order_id, None)
            self._record(order, "CANCELLED", now)
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

    # -- the passage of time ----------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Trigger and fill whatever the price allows by `now`."""
        with self._lock:
            for order in list(self.orders.values()):
                if order["status"] == "TRIGGER PENDING" and self._triggered(order):
                    self._record(order, "OPEN", now)
                if order["status"] == "OPEN":
                    self._try_fill(order, now)

    def _triggered(self, order) -> bool:
        last = self._market.price(self._instrument(order))
        trigger = order["trigger_price"]
        return last >= trigger if order["transaction_type"] == "BUY" else last <= trigger

    def _try_fill(self, order, now) -> None:
        instrument = self._instrument(order)
        last = self._market.price(instrument)
        if order["order_type"] in ("MARKET", "SL-M"):
            if now - self._placed_at[order["order_id"]] < MARKET_FILL_DELAY:
                return
            fill_price = last
        else:
            crossed = last <= order["price"] if order["transaction_type"] == "BUY" else last >= order["price"]
            if not crossed:
                return
            fill_price = order["price"]
        pending = order["pending_quantity"]
        if order["filled_quantity"] == 0 and order["quantity"] >= PARTIAL_FILL_FROM_QUANTITY:
            pending = order["quantity"] // 2
        self._fill(order, instrument, pending, fill_price, now)

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
        self._book_position(order, instrument, quantity, price)
        if order["pending_quantity"] == 0:
            self._blocked.pop(order["order_id"], None)
            self._record(order, "COMPLETE", now)
        else:
            self._record(order, "OPEN", now)

    # -- account ----------------------------------------------------------------------------

    def _book_position(self, order, instrument: Instrument, quantity: int, price: float) -> None:
        key = (order["exchange"], order["tradingsymbol"], order["product"])
        position = self._positions.setdefault(
            key, {"buy_quantity": 0, "buy_value": 0.0, "sell_quantity": 0, "sell_value": 0.0, "instrument": instrument}
        )
        value = quantity * price
        rate = MIS_MARGIN_RATE if order["product"] == "MIS" else 1.0
        if order["transaction_type"] == "BUY":
            position["buy_quantity"] += quantity
            position["buy_value"] += value
            self._debits += value * rate
        else:
            position["sell_quantity"] += quantity
            position["sell_value"] += value
            self._debits -= value * rate
            if order["product"] == "CNC":
                self._use_holding(order["tradingsymbol"], quantity)

    def positions(self) -> dict:
        with self._lock:
            self.advance(self._clock())
            net = [self._position_row(key, p) for key, p in self._positions.items()]
            return {"net": net, "day": [dict(row) for row in net]}

    def _position_row(self, key, p) -> dict:
        exchange, symbol, product = key
        instrument = p["instrument"]
        last = self._market.price(instrument)
        quantity = p["buy_quantity"] - p["sell_quantity"]
        buy_price = p["buy_value"] / p["buy_quantity"] if p["buy_quantity"] else 0
        sell_price = p["sell_value"] / p["sell_quantity"] if p["sell_quantity"] else 0
        average = buy_price if quantity > 0 else sell_price if quantity < 0 else 0
        value = p["sell_value"] - p["buy_value"]
        pnl = round(value + quantity * last, 2)
        closed = min(p["buy_quantity"], p["sell_quantity"])
        realised = round(closed * (sell_price - buy_price), 2)
        return {
            "tradingsymbol": symbol,
            "exchange": exchange,
            "instrument_token": instrument.token,
            "product": product,
            "quantity": quantity,
            "overnight_quantity": 0,
            "multiplier": 1,
            "average_price": round(average, 2),
            "close_price": self._market.previous_close(instrument),
            "last_price": last,
            "value": round(value, 2),
            "pnl": pnl,
            "m2m": pnl,
            "unrealised": round(pnl - realised, 2),
            "realised": realised,
            "buy_quantity": p["buy_quantity"],
            "buy_price": round(buy_price, 2),
            "buy_value": round(p["buy_value"], 2),
            "buy_m2m": round(p["buy_value"], 2),
            "sell_quantity": p["sell_quantity"],
            "sell_price": round(sell_price, 2),
            "sell_value": round(p["sell_value"], 2),
            "sell_m2m": round(p["sell_value"], 2),
            "day_buy_quantity": p["buy_quantity"],
            "day_buy_price": round(buy_price, 2),
            "day_buy_value": round(p["buy_value"], 2),
            "day_sell_quantity": p["sell_quantity"],
            "day_sell_price": round(sell_price, 2),
            "day_sell_value": round(p["sell_value"], 2),
        }

    def convert_position(self, params: dict) -> bool:
        with self._lock:
            self.advance(self._clock())
            exchange, symbol = params.get("exchange"), params.get("tradingsymbol")
            old = params.get("old_product")
            new = _choice(params.get("new_product"), PRODUCTS, "new_product")
            position = self._positions.get((exchange, symbol, old))
            if position is None:
                raise InputError("No open position to convert.")
            if (exchange, symbol, new) in self._positions:
                raise InputError("A position with the new product already exists.")
            self._positions[(exchange, symbol, new)] = self._positions.pop((exchange, symbol, old))
            return True

    def available_cash(self) -> float:
        return OPENING_CASH - self._debits - sum(self._blocked.values())

    def margins(self, segment: str | None = None):
        with self._lock:
            self.advance(self._clock())
            utilised = self._debits + sum(self._blocked.values())
            equity = _segment_margins(True, OPENING_CASH, utilised, self._realised)
            commodity = _segment_margins(False, 0.0, 0.0, 0.0)
            both = {"equity": equity, "commodity": commodity}
            if segment is None:
                return both
            if segment not in both:
                raise InputError(f"Invalid segment: {segment}. Use equity or commodity.")
            return both[segment]

    def _seed_holdings(self) -> list:
        rows = []
        for symbol, isin, quantity, average in (("INFY", "INE009A01021", 10, 1400), ("TCS", "INE467B01029", 5, 3200)):
            instrument = self._market.by_symbol("NSE", symbol)
            rows.append(
                {
                    "tradingsymbol": symbol,
                    "exchange": "NSE",
                    "instrument_token": instrument.token,
                    "isin": isin,
                    "product": "CNC",
                    "price": 0,
                    "quantity": quantity,
                    "used_quantity": 0,
                    "t1_quantity": 0,
                    "realised_quantity": quantity,
                    "authorised_quantity": 0,
                    "authorised_date": "2026-01-01 00:00:00",
                    "authorisation": {},
                    "opening_quantity": quantity,
                    "short_quantity": 0,
                    "collateral_quantity": 0,
                    "collateral_type": "",
                    "discrepancy": False,
                    "average_price": average,
                    "last_price": 0.0,
                    "close_price": 0.0,
                    "pnl": 0.0,
                    "day_change": 0.0,
                    "day_change_percentage": 0.0,
                    "mtf": {"quantity": 0, "used_quantity": 0, "average_price": 0, "value": 0, "initial_margin": 0},
                }
            )
        return rows

    def holdings_now(self) -> list:
        with self._lock:
            self.advance(self._clock())
            rows = []
            for holding in self.holdings:
                instrument = self._market.by_symbol(holding["exchange"], holding["tradingsymbol"])
                last, close = self._market.price(instrument), self._market.previous_close(instrument)
                rows.append(
                    {
                        **holding,
                        "last_price": last,
                        "close_price": close,
                        "pnl": round((last - holding["average_price"]) * holding["quantity"], 2),
                        "day_change": round(last - close, 2),
                        "day_change_percentage": round((last - close) / close * 100, 4),
                    }
                )
            return rows

    def _use_holding(self, symbol: str, quantity: int) -> None:
        for holding in self.holdings:
            if holding["tradingsymbol"] == symbol:
                holding["used_quantity"] = min(holding["quantity"], holding["used_quantity"] + quantity)

    # -- helpers ---------------------------------------------------------------------------

    def all_trades(self) -> list:
        with self._lock:
            self.advance(self._clock())
            return [dict(trade) for trade in self.trades]

    def all_orders(self) -> list:
        with self._lock:
            self.advance(self._clock())
            return [dict(order) for order in self.orders.values()]

    def _instrument(self, order) -> Instrument:
        return self._market.by_token(order["instrument_token"])

    def _live_order(self, order_id: str, action: str) -> dict:
        order = self.orders.get(order_id)
        if order is None:
            raise NotFoundError("Couldn't find that order.")
        if order["status"] not in LIVE_STATUSES:
            raise InputError(f"Order cannot be {action} as it is {order['status'].lower()}.")
        return order

    def _record(self, order: dict, status: str, now: datetime) -> None:
        order["status"] = status
        self._history[order["order_id"]].append({name: order[name] for name in HISTORY_FIELDS})
        self._on_update(dict(order))

    def _required_margin(self, order, instrument) -> float:
        price = order["price"] if order["order_type"] in ("LIMIT", "SL") else self._market.price(instrument)
        rate = MIS_MARGIN_RATE if order["product"] in ("MIS", "CO") else 1.0
        return round(order["quantity"] * price * rate, 2)

    def _new_order(self, order_id, variety, instrument: Instrument, fields, now) -> dict:
        return {
            "account_id": self._user_id,
            "placed_by": self._user_id,
            "order_id": order_id,
            "exchange_order_id": None,
            "parent_order_id": None,
            "status": "",
            "status_message": None,
            "status_message_raw": None,
            "order_timestamp": stamp(now),
            "exchange_update_timestamp": None,
            "exchange_timestamp": None,
            "variety": variety,
            "modified": False,
            "exchange": instrument.exchange,
            "tradingsymbol": instrument.tradingsymbol,
            "instrument_token": instrument.token,
            "order_type": fields["order_type"],
            "transaction_type": fields["transaction_type"],
            "validity": fields["validity"],
            "validity_ttl": fields["validity_ttl"],
            "product": fields["product"],
            "quantity": fields["quantity"],
            "disclosed_quantity": fields["disclosed_quantity"],
            "price": fields["price"],
            "trigger_price": fields["trigger_price"],
            "average_price": 0,
            "filled_quantity": 0,
            "pending_quantity": fields["quantity"],
            "cancelled_quantity": 0,
            "market_protection": 0,
            "meta": {},
            "tag": fields["tag"],
            "tags": [fields["tag"]] if fields["tag"] else [],
            "guid": f"sandbox-{order_id}",
        }

    def _validate(self, variety: str, params: dict):
        if variety not in VARIETIES:
            raise InputError(f"Invalid variety: {variety}. Use one of {', '.join(VARIETIES)}.")
        for name in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type"):
            if not params.get(name):
                raise InputError(f"Missing or empty field `{name}`.")
        instrument = self._market.by_symbol(params["exchange"], params["tradingsymbol"])
        if instrument is None or instrument.segment == "INDICES":
            raise InputError(f"Invalid instrument: {params['exchange']}:{params['tradingsymbol']}.")
        fields = {
            "transaction_type": _choice(params["transaction_type"], ("BUY", "SELL"), "transaction_type"),
            "quantity": _positive_int(params["quantity"], "quantity"),
            "product": _choice(params["product"], PRODUCTS, "product"),
            "order_type": _choice(params["order_type"], ORDER_TYPES, "order_type"),
            "validity": _choice(params.get("validity") or "DAY", VALIDITIES, "validity"),
            "validity_ttl": int(params.get("validity_ttl") or 0),
            "disclosed_quantity": int(params.get("disclosed_quantity") or 0),
            "price": _price(params.get("price") or 0, "price"),
            "trigger_price": _price(params.get("trigger_price") or 0, "trigger_price"),
            "tag": params.get("tag") or None,
        }
        if fields["order_type"] in ("LIMIT", "SL") and fields["price"] <= 0:
            raise InputError("Price is required for LIMIT and SL orders.")
        if fields["order_type"] in ("SL", "SL-M") and fields["trigger_price"] <= 0:
            raise InputError("Trigger price is required for SL and SL-M orders.")
        if fields["quantity"] % instrument.lot_size:
            raise InputError(f"Quantity should be a multiple of the lot size {instrument.lot_size}.")
        if variety == "iceberg" and not params.get("iceberg_legs"):
            raise InputError("Missing `iceberg_legs` for an iceberg order.")
        if fields["tag"] and len(fields["tag"]) > 20:
            raise InputError("Tag can be at most 20 characters.")
        return instrument, fields


def _segment_margins(enabled, cash, utilised, realised) -> dict:
    return {
        "enabled": enabled,
        "net": round(cash - utilised, 2),
        "available": {
            "adhoc_margin": 0,
            "cash": cash,
            "opening_balance": cash,
            "live_balance": round(cash - utilised, 2),
            "collateral": 0,
            "intraday_payin": 0,
        },
        "utilised": {
            "debits": round(utilised, 2),
            "exposure": 0,
            "m2m_realised": realised,
            "m2m_unrealised": 0,
            "option_premium": 0,
            "payout": 0,
            "span": 0,
            "holding_sales": 0,
            "turnover": 0,
            "liquid_collateral": 0,
            "stock_collateral": 0,
            "delivery": 0,
        },
    }


def _choice(value, allowed, name):
    if value not in allowed:
        raise InputError(f"Invalid `{name}`: {value}. Use one of {', '.join(allowed)}.")
    return value


def _positive_int(value, name) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise InputError(f"Invalid `{name}`: must be a whole number.") from None
    if number <= 0:
        raise InputError(f"Invalid `{name}`: must be positive.")
    return number


def _price(value, name) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Invalid `{name}`: must be a number.") from None
    if number < 0 or number != number or number in (float("inf"),):
        raise InputError(f"Invalid `{name}`: must be a positive number.")
    return number
