"""Place a market order (with market protection) and a limit order with KiteAPI, then show orders and positions.

.venv/bin/python examples/place_order.py   the sandbox while `kite_app.py --sandbox` runs (KiteAPI says so);
                                           otherwise .env, i.e. your real Kite account: careful
"""

import sys

from kite_api import KiteAPI
from kite_service.errors import SessionError


def main() -> int:
    kite = KiteAPI()
    try:
        # Kite refuses MARKET and SL-M orders without market protection (since April 2026). KiteAPI adds
        # MARKET_PROTECTION (default -1, Kite's automatic protection) when an order names none; this one
        # names it to show where it goes: -1, or a percentage above 0 up to 100.
        market_id = kite.place_order(
            tradingsymbol="INFY",
            exchange="NSE",
            transaction_type="BUY",
            quantity=1,
            product="CNC",
            order_type="MARKET",
            market_protection=-1,
        )
        last = kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
        limit_id = kite.place_order(
            tradingsymbol="INFY",
            exchange="NSE",
            transaction_type="BUY",
            quantity=1,
            product="CNC",
            order_type="LIMIT",
            price=round(last * 0.95, 1),
        )
    except SessionError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"market order {market_id}, limit order {limit_id}")
    for order in kite.get_orders():
        print(
            f"  {order['order_id']}  {order['status']:<12} {order['transaction_type']} {order['quantity']} "
            f"{order['tradingsymbol']} {order['order_type']}"
        )
    for position in kite.get_positions()["net"]:
        print(f"  position {position['tradingsymbol']}: {position['quantity']} @ {position['average_price']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
