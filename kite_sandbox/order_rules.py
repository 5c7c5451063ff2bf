"""The checks Kite makes before an order reaches the exchange, with Kite's wording where it is known.

Sources for the wording: Kite's orders and exceptions docs, messages quoted from live 2026 answers
on the Kite forum and in the official clients' issue trackers (market protection: pykiteconnect
#225 and #242; tick size, circuit limits, static IP: live answers quoted there). Where no live
wording was found the message below is ours, and says so in a comment; the HTTP status and
error_type follow Kite's exceptions table (400 InputException for bad parameters).
"""

from .error_responses import InputError
from .instruments import Instrument

VARIETIES = ("regular", "amo", "co", "iceberg", "auction")
# MTF: Margin Trading Facility, delivery bought partly on Zerodha's margin (Kite's orders docs).
PRODUCTS = ("CNC", "MIS", "NRML", "CO", "MTF")
ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
VALIDITIES = ("DAY", "IOC", "TTL")
MARKET_ORDER_TYPES = ("MARKET", "SL-M")
PRICED_ORDER_TYPES = ("LIMIT", "SL")
STOP_ORDER_TYPES = ("SL", "SL-M")
LIVE_STATUSES = ("OPEN", "TRIGGER PENDING", "AMO REQ RECEIVED")
# Which products each exchange takes: CNC is delivery of shares, NRML carries F&O overnight.
EXCHANGE_PRODUCTS = {
    "NSE": ("CNC", "MIS", "CO", "MTF"),
    "BSE": ("CNC", "MIS", "CO", "MTF"),
    "NFO": ("NRML", "MIS", "CO"),
    "BFO": ("NRML", "MIS", "CO"),
    "CDS": ("NRML", "MIS"),
    "BCD": ("NRML", "MIS"),
    "MCX": ("NRML", "MIS", "CO"),
}
MAX_TTL_MINUTES = 1440  # Kite documents TTL as minutes without a range; one day is ours
MIN_DISCLOSED_SHARE = 0.10  # exchanges ask at least 10 % of the quantity to be disclosed
MAX_TAG_LENGTH = 20
MARKET_PROTECTION_MESSAGE = (
    "Market orders without market protection are not allowed via API. "
    "Please set market protection or use a Limit order."
)
UNKNOWN_INSTRUMENT_MESSAGE = "The instrument you are placing an order for has either expired or does not exist."


def order_fields(variety: str, params: dict, find_instrument) -> tuple:
    """(instrument, fields) of a new order, or an InputError as Kite would answer."""
    if variety not in VARIETIES:
        raise InputError(f"Invalid `variety`: {variety}. Use one of {', '.join(VARIETIES)}.")
    for name in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type"):
        if not params.get(name):
            raise InputError(f"Missing or empty field `{name}`.")
    instrument = find_instrument(params["exchange"], params["tradingsymbol"])
    if instrument is None or instrument.is_index:
        raise InputError(UNKNOWN_INSTRUMENT_MESSAGE)
    fields = {
        "transaction_type": choice(params["transaction_type"], ("BUY", "SELL"), "transaction_type"),
        "quantity": positive_int(params["quantity"], "quantity"),
        "product": choice(params["product"], PRODUCTS, "product"),
        "order_type": choice(params["order_type"], ORDER_TYPES, "order_type"),
        "validity": choice(params.get("validity") or "DAY", VALIDITIES, "validity"),
        "validity_ttl": 0,
        "disclosed_quantity": whole_number(params.get("disclosed_quantity") or 0, "disclosed_quantity"),
        "price": price_value(params.get("price") or 0, "price"),
        "trigger_price": price_value(params.get("trigger_price") or 0, "trigger_price"),
        "market_protection": protection(params.get("market_protection")),
        "tag": params.get("tag") or None,
    }
    if fields["validity"] == "TTL":
        fields["validity_ttl"] = positive_int(params.get("validity_ttl") or 0, "validity_ttl")
        if fields["validity_ttl"] > MAX_TTL_MINUTES:  # ours: Kite gives no range
            raise InputError(f"Invalid `validity_ttl`: at most {MAX_TTL_MINUTES} minutes.")
    if fields["product"] not in EXCHANGE_PRODUCTS.get(instrument.exchange, ()):
        # Ours: no live wording found for a product the exchange does not take.
        allowed = ", ".join(EXCHANGE_PRODUCTS.get(instrument.exchange, ()))
        raise InputError(f"Product {fields['product']} is not allowed on {instrument.exchange}. Use {allowed}.")
    if fields["quantity"] % instrument.lot_size:
        raise InputError(f"Quantity should be a multiple of the lot size {instrument.lot_size}.")
    if variety == "iceberg" and not params.get("iceberg_legs"):
        raise InputError("Missing `iceberg_legs` for an iceberg order.")
    if fields["tag"] and len(fields["tag"]) > MAX_TAG_LENGTH:
        raise InputError(f"Tag can be at most {MAX_TAG_LENGTH} characters.")
    return instrument, fields


def check_order(order: dict, instrument: Instrument, last_price: float, circuit: tuple) -> None:
    """Checks on an order's prices and quantities, run on placement and on every modification."""
    order_type = order["order_type"]
    if order_type in MARKET_ORDER_TYPES and not order["market_protection"]:
        raise InputError(MARKET_PROTECTION_MESSAGE)
    if order_type in PRICED_ORDER_TYPES and order["price"] <= 0:
        raise InputError("Price is required for LIMIT and SL orders.")
    if order_type in STOP_ORDER_TYPES and order["trigger_price"] <= 0:
        raise InputError("Trigger price is required for SL and SL-M orders.")
    tick = instrument.tick_size
    for name, label in (("price", "price"), ("trigger_price", "trigger price")):
        if order[name] and not on_tick_grid(order[name], tick):
            raise InputError(
                f"Tick size for this script is {tick:.2f}. Kindly enter {label} in the multiple of tick size "
                "for this script"
            )
    lower, upper = circuit
    for name in ("price", "trigger_price"):
        value = order[name]
        if value and lower and value < lower:
            raise InputError(
                f"Your order price is lower than the current lower circuit limit of {lower:g}. "
                "Place an order within the daily range."
            )
        if value and upper and value > upper:
            raise InputError(
                f"Your order price is higher than the current upper circuit limit of {upper:g}. "
                "Place an order within the daily range."
            )
    if order_type in STOP_ORDER_TYPES and order["status"] in ("", "TRIGGER PENDING"):
        _check_stop(order, last_price)
    disclosed, quantity = order["disclosed_quantity"], order["quantity"]
    if disclosed:  # ours: no live wording found for these two
        if instrument.is_derivative:
            raise InputError("Disclosed quantity is not allowed for F&O orders.")
        if disclosed > quantity:
            raise InputError("Disclosed quantity cannot be more than the order quantity.")
        if disclosed < quantity * MIN_DISCLOSED_SHARE:
            raise InputError("Disclosed quantity should be at least 10% of the order quantity.")


def _check_stop(order: dict, last_price: float) -> None:
    """Kite refuses a stop that would trigger at once (support.zerodha.com, 'Kite order rejections':
    a buy stop's trigger must be above the last price, a sell stop's below); wording as quoted by
    users, not confirmed from a live answer. The limit must sit beyond the trigger (ours)."""
    trigger, price = order["trigger_price"], order["price"]
    if order["transaction_type"] == "BUY":
        if trigger <= last_price:
            raise InputError("Trigger price for stoploss buy orders should be higher than the last traded price.")
        if order["order_type"] == "SL" and price < trigger:
            raise InputError("Trigger price for stoploss buy orders cannot be above the limit price.")
    else:
        if trigger >= last_price:
            raise InputError("Trigger price for stoploss sell orders should be lower than the last traded price.")
        if order["order_type"] == "SL" and price > trigger:
            raise InputError("Trigger price for stoploss sell orders cannot be below the limit price.")


def on_tick_grid(price: float, tick: float) -> bool:
    steps = price / tick
    return abs(steps - round(steps)) < 1e-6


def protection(value) -> float:
    """market_protection: -1 (Kite's automatic protection) or a percentage above 0 up to 100; 0 if absent."""
    if value in (None, ""):
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(
            f"Invalid request (failed to decode market_protection, got: {str(value)[:20]} (expected decimal))"
        ) from None
    if number != -1 and not 0 < number <= 100:
        raise InputError("Invalid `market_protection`: use -1 (automatic) or a percentage above 0 up to 100.")
    return int(number) if number.is_integer() else number


def choice(value, allowed, name):
    if value not in allowed:
        raise InputError(f"Invalid `{name}`: {value}. Use one of {', '.join(allowed)}.")
    return value


def whole_number(value, name) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise InputError(f"Invalid `{name}`: must be a whole number.") from None
    if number < 0:
        raise InputError(f"Invalid `{name}`: cannot be negative.")
    return number


def positive_int(value, name) -> int:
    number = whole_number(value, name)
    if number <= 0:
        raise InputError(f"Invalid `{name}`: must be positive.")
    return number


def price_value(value, name) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Invalid `{name}`: must be a number.") from None
    if number < 0 or number != number or number == float("inf"):
        raise InputError(f"Invalid `{name}`: must be a positive number.")
    return number
