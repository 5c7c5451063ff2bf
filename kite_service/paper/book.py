"""A paper account's order book: the sandbox's (kite_sandbox/orders.py: Kite's statuses, refusals,
margins, varieties through its OrderDesk) with fills taken from the live market's depth.

How an order fills here, on each tick of its instrument (and on each call of its client):
- MARKET, and SL-M once triggered: against the opposite side's levels, best first, each level up to
  its quantity, never beyond the market protection's price; what the shown depth cannot fill stays
  open for the next tick (a partial fill), as a protected market order stays open at Kite.
- LIMIT, and SL once triggered: when the opposite best price reaches the limit, at that level's
  price (the limit or better), level after level while they stay within the limit.
- SL and SL-M trigger on the last price. A triggered stop is a limit (or protected market) order
  at the exchange from then on: if the price comes back, it still fills when the book reaches it.
- Nothing fills or triggers on a price older than FRESH_SECONDS (market.py) or while the market is
  closed; the order's status_message says why, and an order update carries it.
- Depth one order took is not there for the next order of the same account until the next tick.
"""

from kite_sandbox.market_hours import MarketHours
from kite_sandbox.order_limits import OrderLimits
from kite_sandbox.orders import OrderBook
from kite_sandbox.portfolio import Portfolio
from kite_service.paper.square_off import refuse_late_intraday

# market_protection -1 is "automatic": Zerodha works the range out on its side and publishes no figure
# (Kite Connect forum, comment 52479, 2026). Here it is the exchanges' own price protection: NSE's
# limit price protection for options (within Rs 20 of the last price up to Rs 50, 40 % above; NSE
# circular of 25 January 2023) and futures (3 %; NSE circular of 3 February 2023). Equities have no
# such band at NSE: 5 % is ours.
OPTION_LOW_PREMIUM, OPTION_LOW_BAND, OPTION_BAND = 50.0, 20.0, 0.40
FUTURES_BAND, EQUITY_BAND = 0.03, 0.05


def protection_bound(instrument, side: str, last: float, protection: float) -> float:
    """The worst price a protected market order of `side` may fill at, given the last price."""
    if protection == -1:
        if instrument.instrument_type in ("CE", "PE"):
            room = OPTION_LOW_BAND if last <= OPTION_LOW_PREMIUM else last * OPTION_BAND
        else:
            room = last * (FUTURES_BAND if instrument.instrument_type == "FUT" else EQUITY_BAND)
    else:
        room = last * float(protection) / 100
    return last + room if side == "BUY" else max(last - room, 0.0)


class PaperPortfolio(Portfolio):
    """The sandbox's portfolio, with the positions carried from an earlier day shown as overnight."""

    def _position_row(self, key, p) -> dict:
        return {**super()._position_row(key, p), "overnight_quantity": getattr(p, "overnight", 0)}


class PaperBook(OrderBook):
    """One paper client's orders, trades, positions and margins (`capital`: its opening cash)."""

    def __init__(self, market, user_id: str, clock, on_update, capital: float, hours: MarketHours):
        portfolio = PaperPortfolio(market, opening_cash=capital, seeded=False)
        super().__init__(market, user_id, clock, on_update, OrderLimits(True), hours, portfolio)
        self.bounds: dict = {}  # order_id -> a market order's protection price, set when it first meets the market
        self._taken: dict = {}  # token -> (the quote, {(side, price): quantity taken from it})

    def place(self, variety: str, params: dict, caps: bool = True, day_orders: int = 1, **fields) -> str:
        """As the sandbox's; a program's intraday order after its exchange's square-off time is refused
        (caps=False: the legs Kite places itself, and the square-off's own exits)."""
        if caps:
            refuse_late_intraday(params, self._clock())
        return super().place(variety, params, caps, day_orders, **fields)

    # -- the passage of time (the sandbox's advance(), with these checks and fills) ----------------

    def _why_not(self, order, now) -> str | None:
        """Why the order cannot trigger or fill now (a stale price, a closed market), or None."""
        if not self._hours.is_open(now):
            return f"Paper: the market is closed ({self._hours.describe()}); the order waits for it to open."
        return self._market.stale_reason(self._instrument(order))

    def _waiting(self, order, reason: str, now) -> None:
        """Say on the order why it waits (an order update when the reason changes)."""
        if order["status_message"] != reason:
            order["status_message"] = reason
            self._record(order, order["status"], now)

    def _triggered(self, order) -> bool:
        now = self._clock()
        reason = self._why_not(order, now)
        if reason:
            self._waiting(order, reason, now)
            return False
        last = self._market.quote(self._instrument(order)).last
        trigger = order["trigger_price"]
        return last >= trigger if order["transaction_type"] == "BUY" else last <= trigger

    # -- margins -------------------------------------------------------------------------------

    def _margin_needed(self, order, instrument) -> float:
        """What an open order holds: Kite's own margin for it (its calculator, read-only), unless it
        only closes what the account holds (nothing, by the sandbox's netting) or Kite cannot be asked
        (the sandbox's formula). Positions hold the sandbox's formula's margin once filled."""
        formula = super()._margin_needed(order, instrument)
        if formula == 0:
            return 0.0
        price = order["price"] if order["order_type"] in ("LIMIT", "SL") else self._market.price(instrument)
        share = self._market.margin_share(instrument, order["product"], order["transaction_type"], price)
        return formula if share is None else round(share * order["pending_quantity"] * price, 2)

    # -- fills ---------------------------------------------------------------------------------

    def _try_fill(self, order, now, immediate=False) -> None:
        reason = self._why_not(order, now)
        if reason:
            self._waiting(order, reason, now)
            return
        instrument = self._instrument(order)
        quote = self._market.quote(instrument)
        side = order["transaction_type"]
        buying = side == "BUY"
        limit = self._limit(order, instrument, quote)
        held, taken = self._taken.get(instrument.token, (None, {}))
        if held is not quote:
            taken = {}
            self._taken[instrument.token] = (quote, taken)
        beyond = False
        for price, quantity in quote.asks if buying else quote.bids:
            if order["pending_quantity"] == 0:
                break
            if (price > limit) if buying else (price < limit):
                beyond = True
                break
            free = quantity - taken.get((side, price), 0)
            size = min(free, order["pending_quantity"])
            size -= size % instrument.lot_size
            if size <= 0:
                continue
            taken[(side, price)] = taken.get((side, price), 0) + size
            order["status_message"] = None
            self._fill(order, instrument, size, price, now)
        if order["order_id"] in self._live:
            self._waiting(order, self._unfilled_reason(order, instrument, quote, limit, beyond), now)

    def _limit(self, order, instrument, quote) -> float:
        """The worst price the order takes: its limit, or a market order's protection price."""
        if order["order_type"] in ("LIMIT", "SL"):
            return order["price"]
        bound = self.bounds.get(order["order_id"])
        if bound is None:
            side = order["transaction_type"]
            bound = self.bounds[order["order_id"]] = protection_bound(
                instrument, side, quote.last, order["market_protection"]
            )
        return bound

    @staticmethod
    def _unfilled_reason(order, instrument, quote, limit, beyond: bool) -> str | None:
        """Why an order that met the market is (still) open; None for a limit the market has not reached."""
        market_order = order["order_type"] in ("MARKET", "SL-M")
        if not (quote.asks if order["transaction_type"] == "BUY" else quote.bids):
            wanted = "offers" if order["transaction_type"] == "BUY" else "bids"
            return f"Paper: no {wanted} in {instrument.key}'s depth; the order waits for the next tick."
        if beyond and market_order:
            return f"Paper: the next price is beyond the market protection's {limit:.2f}; the order stays open."
        if not beyond and order["filled_quantity"]:
            return (
                f"Paper: the depth shown filled {order['filled_quantity']} of {order['quantity']}; "
                "the rest waits for the next tick."
            )
        return None

    def _close(self, order, status, now) -> None:
        self.bounds.pop(order["order_id"], None)
        super()._close(order, status, now)
