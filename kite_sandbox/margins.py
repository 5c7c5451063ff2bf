"""Kite's margin calculators, /margins/orders and /margins/basket, and the virtual contract note, /charges/orders.

Every figure comes from the rules the account itself blocks margin by (portfolio.py) and the
charges it pays when an order executes (charges.py), so a calculator's answer is what placing the
order would really block and cost. /margins/orders takes each order on its own against today's
positions; /margins/basket also works out the basket as a whole ("final"), netting orders in the
same instrument, against today's positions when `consider_positions` is true (the default).
"""

from flask import request

from .charges import no_charges, order_charges, sum_charges
from .error_responses import InputError
from .order_rules import ORDER_TYPES, PRODUCTS, choice, positive_int, price_value
from .portfolio import EXPOSURE_RATE, FUTURES_RATE, Portfolio

# The fields of a margin in compact mode (Kite: "only the total margins"; which five is not documented).
COMPACT_FIELDS = ("type", "tradingsymbol", "exchange", "charges", "total")


def order_margins(market, portfolio: Portfolio, orders: list, compact: bool = False) -> list:
    """/margins/orders: each order's margin and charges against today's positions and open orders."""
    rows = []
    for order in _orders(market, orders):
        rows.append(_margin_row(order, portfolio.order_margin(*_margin_args(order))))
    return [_compact(row) for row in rows] if compact else rows


def basket_margins(market, portfolio: Portfolio, orders: list, consider_positions: bool, compact: bool) -> dict:
    """/margins/basket: each order alone ("orders", summed in "initial") and the basket together ("final")."""
    base = portfolio.what_if(with_positions=consider_positions)
    parsed = _orders(market, orders)
    rows = [_margin_row(order, base.order_margin(*_margin_args(order))) for order in parsed]
    together = base.what_if()
    before = together.utilised(0.0)
    for order in parsed:
        instrument, product, side, quantity, price = _margin_args(order)
        if product == "CNC" and side == "SELL":  # delivery sells only what is held (the book rejects the rest)
            quantity = min(quantity, together.sellable_cnc(instrument))
        if quantity:
            together.book_fill(instrument, product, side, quantity, price)
    final = max(together.utilised(0.0) - before, 0.0)
    initial = _total_row(rows, sum(row["total"] for row in rows))
    result = {
        "initial": initial,
        "final": _total_row(rows, final),
        "orders": [_compact(row) for row in rows] if compact else rows,
        "charges": sum_charges([row["charges"] for row in rows]),
    }
    if compact:
        result["initial"], result["final"] = _compact(result["initial"]), _compact(result["final"])
    return result


def contract_note(market, orders: list) -> list:
    """/charges/orders: the charges of executed orders, in the order asked (Kite echoes no order_id)."""
    notes = []
    for item in _list(orders):
        instrument = _instrument(market, item)
        product = choice(item.get("product"), PRODUCTS, "product")
        side = choice(item.get("transaction_type"), ("BUY", "SELL"), "transaction_type")
        quantity = positive_int(item.get("quantity"), "quantity")
        price = price_value(item.get("average_price"), "average_price")
        notes.append(
            {
                "transaction_type": side,
                "tradingsymbol": instrument.tradingsymbol,
                "exchange": instrument.exchange,
                "variety": item.get("variety") or "regular",
                "product": product,
                "order_type": choice(item.get("order_type") or "MARKET", ORDER_TYPES, "order_type"),
                "quantity": quantity,
                "price": price,
                "charges": order_charges(instrument, product, side, quantity, price),
            }
        )
    return notes


# -- the routes (JSON bodies, as Kite's calculators take them) ------------------------------------


def orders_route(sandbox) -> list:
    compact = request.args.get("mode") == "compact"
    body = request.get_json(silent=True)
    return sandbox.book.reading(lambda portfolio: order_margins(sandbox.market, portfolio, body, compact))


def basket_route(sandbox) -> dict:
    compact = request.args.get("mode") == "compact"
    consider = request.args.get("consider_positions", "true").lower() in ("true", "1", "")  # the client sends True
    body = request.get_json(silent=True)
    return sandbox.book.reading(lambda portfolio: basket_margins(sandbox.market, portfolio, body, consider, compact))


def contract_note_route(sandbox) -> list:
    return contract_note(sandbox.market, request.get_json(silent=True))


# -- helpers --------------------------------------------------------------------------------------


def _orders(market, orders) -> list:
    parsed = []
    for item in _list(orders):
        instrument = _instrument(market, item)
        order_type = choice(item.get("order_type") or "MARKET", ORDER_TYPES, "order_type")
        price = price_value(item.get("price") or 0, "price")
        if order_type in ("MARKET", "SL-M") or not price:
            price = market.price(instrument)
        parsed.append(
            {
                "instrument": instrument,
                "product": choice(item.get("product"), PRODUCTS, "product"),
                "side": choice(item.get("transaction_type"), ("BUY", "SELL"), "transaction_type"),
                "quantity": positive_int(item.get("quantity"), "quantity"),
                "price": price,
            }
        )
    return parsed


def _list(orders) -> list:
    if not isinstance(orders, list) or not all(isinstance(item, dict) for item in orders):
        raise InputError("Send the orders as a JSON list of objects.")
    return orders


def _instrument(market, item: dict):
    instrument = market.by_symbol(item.get("exchange"), item.get("tradingsymbol"))
    if instrument is None or instrument.is_index:
        raise InputError("The instrument you are placing an order for has either expired or does not exist.")
    return instrument


def _margin_args(order: dict) -> tuple:
    return order["instrument"], order["product"], order["side"], order["quantity"], order["price"]


def _margin_row(order: dict, total: float) -> dict:
    """Kite's margin object: `total` split the way the account's rules arrive at it."""
    instrument, product = order["instrument"], order["product"]
    span = exposure = premium = var = 0.0
    if instrument.instrument_type in ("CE", "PE") and order["side"] == "BUY":
        premium = total
    elif instrument.instrument_type in ("FUT", "CE", "PE"):
        exposure = total * EXPOSURE_RATE / FUTURES_RATE
        span = total - exposure
    else:
        var = total
    return {
        "type": "equity",
        "tradingsymbol": instrument.tradingsymbol,
        "exchange": instrument.exchange,
        "span": span,
        "exposure": exposure,
        "option_premium": premium,
        "additional": 0,
        "bo": 0,
        "cash": 0,
        "var": var,
        "pnl": {"realised": 0, "unrealised": 0},
        "leverage": 5 if product in ("MIS", "CO") and not instrument.is_derivative else 1,
        "charges": order_charges(instrument, product, order["side"], order["quantity"], order["price"]),
        "total": total,
    }


def _total_row(rows: list, total: float) -> dict:
    """A basket's initial or final figure: the orders' parts added up, scaled to `total`."""
    alone = sum(row["total"] for row in rows)
    scale = total / alone if alone else 0.0
    return {
        "type": "",
        "tradingsymbol": "",
        "exchange": "",
        **{name: sum(row[name] for row in rows) * scale for name in ("span", "exposure", "option_premium", "var")},
        "additional": 0,
        "bo": 0,
        "cash": 0,
        "pnl": {"realised": 0, "unrealised": 0},
        "leverage": 0,
        "charges": no_charges(),
        "total": total,
    }


def _compact(row: dict) -> dict:
    return {name: row[name] for name in COMPACT_FIELDS}
