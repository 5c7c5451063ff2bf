"""An order as Kite's order book shows it, and the fields each entry of its history keeps."""

from datetime import datetime

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


# The terminal an order came from, as Kite's order book names it (a string of 15 digits): the
# sandbox is one terminal.
FINAL_STATUSES = ("COMPLETE", "CANCELLED", "REJECTED")  # nothing follows these
TERMINAL_ID = "100000000000001"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def new_order(order_id, user_id, variety, instrument, fields, now) -> dict:
    """A new order as the book shows it, before any status."""
    return {
        "account_id": user_id,
        "placed_by": user_id,
        "terminal_id": TERMINAL_ID,
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
        "market_protection": fields["market_protection"],
        "meta": {},
        "tag": fields["tag"],
        "tags": [fields["tag"]] if fields["tag"] else [],
        "guid": f"sandbox-{order_id}",
    }
