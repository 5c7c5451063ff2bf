"""Orders that fit before they are sent: prices on the tick size, F&O quantities in whole lots and
within the exchange's freeze quantity (or autoslice, when asked for). A misfit is refused here with
the nearest valid values; nothing is changed silently and nothing is sent.

Tick and lot sizes are the day's instrument list's (Kite's own). Freeze quantities are NSE's and
BSE's for their index options and futures: Kite has no API for them (Zerodha on its forum), so they
come from a dated table, a setting or Kite's own refusal (exchange_limits.py); a stock's is set per
stock, so a stock order above it is left to Kite to refuse. The most one order may carry is the
freeze quantity's whole lots: NIFTY's 3,510 with lots of 65 is 54 lots, as Kite refuses "The order
quantity 6300 (21 lots) is higher than the maximum quantity of 6000 (20 lots)". Autoslice takes no
less than that ("Quantity should be greater than or equal to 3510 for order slicing", forum
comments 53037 and 53057) and, as Zerodha asks, no more than 10 orders of it (forum comment 52316).
"""

import math
from datetime import date
from decimal import Decimal

from kite_sandbox.exchange_numbers import AUTOSLICE_MOST_ORDERS, FREEZE_QUANTITIES, INDEX_LOT_SIZES, autoslice_minimum
from kite_sandbox.exchange_numbers import most_per_order as whole_lots_within
from kite_service.errors import KiteAppError
from kite_service.kite.rate_limit import day_orders

# Exchanges whose orders are in units, in whole lots of the list's lot_size. An MCX order's quantity
# is a count of contracts, whatever the contract's size ("quantity = 1 per contract" on Kite, as
# traders and openalgo's Zerodha adapter found): any whole number fits, so MCX is not checked here.
LOT_SEGMENTS = ("NFO", "BFO", "CDS", "BCD")


class OrderMisfitError(KiteAppError, ValueError):
    """The order would not fit the instrument (tick size, lot size, freeze quantity): not sent."""


def most_per_order(instrument: dict, freeze_limits) -> int | None:
    """The most one order of `instrument` may carry (whole lots within the freeze quantity in use,
    `freeze_limits`: a FreezeLimits), or None when it is not known here."""
    if instrument.get("exchange") not in LOT_SEGMENTS:
        return None
    freeze = freeze_limits.on(instrument.get("name", ""))
    if freeze is None:
        return None
    return whole_lots_within(freeze.value, int(instrument["lot_size"]) or 1)


def placement_orders(variety, params, freeze_limits, day: date) -> int:
    """The orders one placement counts toward Kite's caps: an autoslice's children (autoslice_orders),
    an iceberg's legs, else one. The gateway and KiteAPI count with this one function."""
    params = params or {}
    if str(params.get("autoslice") or "").lower() in ("true", "1"):
        return autoslice_orders(params, freeze_limits, day)
    return day_orders(variety, params)


def index_most_per_order(exchange: str, symbol: str, freeze_limits, day: date) -> int | None:
    """One order's most of an index contract (NIFTY26DEC24000CE: NIFTY's freeze quantity in whole
    lots) from the freeze quantities in use and NSE's lot table, without the instrument list; None
    when it is not an index contract known here."""
    if exchange not in LOT_SEGMENTS:
        return None
    names = [n for n in FREEZE_QUANTITIES.names() if symbol.startswith(n) and symbol[len(n) : len(n) + 1].isdigit()]
    name = max(names, key=len, default=None)
    freeze = freeze_limits.on(name) if name else None
    lot = INDEX_LOT_SIZES.on(name, day) if freeze else None
    if freeze is None or lot is None:
        return None
    return whole_lots_within(freeze.value, lot.value) or None


def autoslice_orders(params, freeze_limits, day: date) -> int:
    """The orders Kite makes of an autoslice placement (`params`: its form), for the order caps: its
    quantity over one order's most for an index contract whose freeze quantity and lot are known
    here, else AUTOSLICE_MOST_ORDERS, the most it can make."""
    most = index_most_per_order(
        str(params.get("exchange") or ""), str(params.get("tradingsymbol") or ""), freeze_limits, day
    )
    try:
        quantity = int(params.get("quantity") or 0)
    except (TypeError, ValueError):
        return 1  # Kite refuses it; the request still counts once
    if most is None or quantity <= 0:
        return AUTOSLICE_MOST_ORDERS
    return min(max(math.ceil(quantity / most), 1), AUTOSLICE_MOST_ORDERS)


def check_order(instrument: dict, params: dict, freeze_limits, autoslice: bool = False) -> None:
    """Raise OrderMisfitError naming the nearest valid values when `params` (place_order's) do not
    fit `instrument` (a dict of the instrument list); `autoslice`: Kite is to split it."""
    symbol = f"{instrument['exchange']}:{instrument['tradingsymbol']}"
    tick = Decimal(str(instrument["tick_size"] or "0.05"))
    for name in ("price", "trigger_price"):
        value = params.get(name)
        if value in (None, "", 0):
            continue
        price = Decimal(str(round(float(value), 8)))  # 100.1 + 0.05 is 100.14999999999999 in floats
        below = (price / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
        if below != price:
            raise OrderMisfitError(
                f"Not sent: {name} {value} is not a multiple of {symbol}'s tick size {tick}; the nearest valid "
                f"{name}s are {below} and {below + tick}"
            )
    quantity = int(params.get("quantity") or 0)
    lot = int(instrument["lot_size"] or 1)
    if instrument["exchange"] in LOT_SEGMENTS and lot > 1 and quantity % lot:
        fewer = quantity // lot * lot
        more = f"{fewer + lot:,} ({_lots(fewer // lot + 1)})"
        nearest = f"{fewer:,} ({_lots(fewer // lot)}) or {more}" if fewer else more
        raise OrderMisfitError(
            f"Not sent: quantity {quantity:,} is not whole lots of {lot:,} for {symbol}; the nearest valid "
            f"quantities are {nearest}"
        )
    most = most_per_order(instrument, freeze_limits)
    if most is None:
        return
    least = autoslice_minimum(most, lot)
    if autoslice and quantity < least:
        raise OrderMisfitError(
            f"Not sent: Kite slices only orders of at least {least:,} ({_lots(least // lot)}) for {symbol}, "
            f"one order's most; send {quantity:,} with place_order() instead"
        )
    if quantity <= most:
        return
    if not autoslice:
        raise OrderMisfitError(
            f"Not sent: quantity {quantity:,} ({quantity // lot} lots) is above the exchange's freeze limit for "
            f"{symbol}: at most {most:,} ({_lots(most // lot)}) in one order. Send {most:,} or less, or pass "
            f"it to place_autoslice_order() for Kite to split it into up to {AUTOSLICE_MOST_ORDERS} orders"
        )
    if quantity > most * AUTOSLICE_MOST_ORDERS:
        raise OrderMisfitError(
            f"Not sent: quantity {quantity:,} is more than autoslice's {AUTOSLICE_MOST_ORDERS} orders of {most:,} "
            f"for {symbol}: send at most {most * AUTOSLICE_MOST_ORDERS:,} in one call"
        )


def _lots(count: int) -> str:
    return f"{count} lot" if count == 1 else f"{count} lots"
