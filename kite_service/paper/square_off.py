"""Intraday (MIS) positions squared off at Zerodha's times, as Zerodha's own risk desk does.

Zerodha's auto square-off (support.zerodha.com, "What is the auto square-off time for intraday
positions?", as of 2026): equity 15:20 IST, F&O 15:25, currency 16:45, commodities 25 minutes
before MCX's close. MCX closes at 23:30 IST, or 23:55 while the USA keeps daylight saving time
(MCX's trading-hours circulars; the close follows the US markets), so its square-off is 23:05 or
23:30. At that time the account's open MIS orders of those exchanges are cancelled and each open
MIS position gets one market exit (its size the position minus the exits still pending: never
doubled), tagged `squareoff`; fresh MIS orders are not taken after it (our wording).
"""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from kite_sandbox.error_responses import InputError
from kite_service.clock import IST

SQUARE_OFF_TIMES = {
    "NSE": time(15, 20),
    "BSE": time(15, 20),
    "NFO": time(15, 25),
    "BFO": time(15, 25),
    "CDS": time(16, 45),
    "BCD": time(16, 45),
}
MCX_SQUARE_OFF = {False: time(23, 5), True: time(23, 30)}  # by whether US daylight saving time is on
INTRADAY_PRODUCTS = ("MIS", "CO")
TAG = "squareoff"
KILL_TAG = "killswitch"
_NEW_YORK = ZoneInfo("America/New_York")


def square_off_time(exchange: str, day: date) -> time | None:
    """When Zerodha squares off the day's intraday positions on `exchange` (None: it does not)."""
    if exchange == "MCX":
        us_summer = bool(datetime.combine(day, time(12), _NEW_YORK).dst())
        return MCX_SQUARE_OFF[us_summer]
    return SQUARE_OFF_TIMES.get(exchange)


def past_square_off(exchange: str, now: datetime) -> bool:
    local = now.astimezone(IST)
    at = square_off_time(exchange, local.date())
    return at is not None and local.time() >= at


def refuse_late_intraday(params: dict, now: datetime) -> None:
    """An intraday order after its exchange's square-off time is refused (Kite's wording not known)."""
    exchange = params.get("exchange") or ""
    if params.get("product") in INTRADAY_PRODUCTS and past_square_off(exchange, now):
        at = square_off_time(exchange, now.astimezone(IST).date())
        raise InputError(
            f"Intraday (MIS) orders on {exchange} are not taken after {at:%H:%M} IST, the square-off time: "
            "use CNC or NRML, or wait for the next trading day."
        )


def square_off(book, now: datetime, trading_day: bool) -> None:
    """Cancel the open intraday orders and exit the intraday positions whose exchange is past its time."""
    if not trading_day:
        return
    for order in list(book._live.values()):
        intraday = order["product"] in INTRADAY_PRODUCTS and order.get("tag") != TAG
        if intraday and past_square_off(order["exchange"], now):
            book._record(order, "CANCEL PENDING", now)
            book._close(order, "CANCELLED", now)
    for (exchange, symbol, product), position in list(book.portfolio.positions.items()):
        if product not in INTRADAY_PRODUCTS or not position.net or not past_square_off(exchange, now):
            continue
        pending = sum(
            order["pending_quantity"] * (1 if order["transaction_type"] == "BUY" else -1)
            for order in book._live.values()
            if order.get("tag") == TAG and (order["exchange"], order["tradingsymbol"]) == (exchange, symbol)
        )
        left = position.net + pending
        if left == 0:
            continue
        book.place("regular", _exit(exchange, symbol, "MIS", left, TAG), caps=False)


def flatten(book, now: datetime) -> str:
    """The kill switch on a paper account: every open order cancelled, every open position exited at
    the market (tagged `killswitch`; each once); what was done, in words."""
    cancelled = 0
    for order in list(book._live.values()):
        if order.get("tag") != KILL_TAG:
            book._record(order, "CANCEL PENDING", now)
            book._close(order, "CANCELLED", now)
            cancelled += 1
    exits = 0
    for (exchange, symbol, product), position in list(book.portfolio.positions.items()):
        pending = sum(
            order["pending_quantity"] * (1 if order["transaction_type"] == "BUY" else -1)
            for order in book._live.values()
            if order.get("tag") == KILL_TAG and (order["exchange"], order["tradingsymbol"]) == (exchange, symbol)
        )
        left = position.net + pending
        if left:
            book.place("regular", _exit(exchange, symbol, product, left, KILL_TAG), caps=False)
            exits += 1
    return f"paper account: {cancelled} open order(s) cancelled, {exits} position(s) exited at the market"


def _exit(exchange: str, symbol: str, product: str, left: int, tag: str) -> dict:
    return {
        "exchange": exchange,
        "tradingsymbol": symbol,
        "transaction_type": "SELL" if left > 0 else "BUY",
        "quantity": str(abs(left)),
        "product": product,
        "order_type": "MARKET",
        "market_protection": "-1",
        "tag": tag,
    }
