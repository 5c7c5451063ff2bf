"""A paper account from one day to the next, as Kite's account goes (Kite's order and positions docs;
Zerodha's support articles on holdings, T1 and carried positions):

- The order book starts empty each day: what is still open at the end of a day is cancelled (its
  status message says so), except after-market orders, which go to the exchange at the next open.
- CNC buys become holdings: the next day they show as T1 (`t1_quantity`, sellable, not yet
  settled), settled the day after; their cost leaves the cash for good. Holdings sold give back
  their cost as well as the profit already counted.
- NRML (and MTF) positions are carried: the next day they show as overnight (`overnight_quantity`)
  at their own average price, still holding their margin.
- An intraday position still open (the service was not running at the square-off time) is closed
  at its last price, as Zerodha's desk would have closed it.
- The cash of the new day: the opening cash plus the day's realised profit, less its charges and
  what went into holdings.

`end_of_day` works on the account's book in memory and returns the new day's state; `start_day`
puts that state into a fresh book (as on a restart).
"""

from datetime import date

from kite_sandbox.portfolio import Position, _holding_row
from kite_service.paper.square_off import INTRADAY_PRODUCTS

EXPIRED = "Paper: not filled by the end of the day; cancelled, as Kite cancels open orders at the close."


def end_of_day(book, now, day: date) -> dict:
    """Close day `day` on `book`: open orders cancelled; the state the next day starts from."""
    for order in list(book._live.values()):
        if order["status"] != "AMO REQ RECEIVED":
            order["status_message"] = EXPIRED
            book._close(order, "CANCELLED", now)
    portfolio = book.portfolio
    cash = portfolio.opening_cash + portfolio.realised - portfolio.charges
    holdings = []
    for row in portfolio.holdings:  # what was sold returns its cost; yesterday's T1 is settled
        sold = row["used_quantity"]
        cash += sold * row["average_price"]
        kept = row["quantity"] - sold
        if kept > 0:
            settled = {**row, "quantity": kept, "used_quantity": 0, "t1_quantity": 0, "realised_quantity": kept}
            holdings.append(settled | {"opening_quantity": kept})
    carried = []
    for (_exchange, _symbol, product), position in portfolio.positions.items():
        net, price = position.net, position.open_price
        if not net:
            continue
        if product == "CNC" and net > 0:
            cash -= net * price
            holdings = _add_holding(holdings, position.instrument, net, price)
        elif product in INTRADAY_PRODUCTS:
            cash += net * (book._market.price(position.instrument) - price)
        else:
            carried.append({"token": position.instrument.token, "product": product, "net": net, "price": price})
    return {"day": day.isoformat(), "opening_cash": round(cash, 2), "holdings": holdings, "carried": carried}


def _add_holding(holdings: list, instrument, quantity: int, price: float) -> list:
    for row in holdings:
        if row["instrument_token"] == instrument.token:
            total = row["quantity"] + quantity
            row["average_price"] = round((row["quantity"] * row["average_price"] + quantity * price) / total, 4)
            row.update(quantity=total, t1_quantity=row["t1_quantity"] + quantity, opening_quantity=total)
            return holdings
    row = _holding_row(instrument, "", quantity, round(price, 4))
    row.update(t1_quantity=quantity, realised_quantity=0)
    return [*holdings, row]


def start_day(book, state: dict) -> None:
    """Put the day's starting state into `book` (a fresh one, or one just closed by end_of_day)."""
    portfolio = book.portfolio
    portfolio.opening_cash = state["opening_cash"]
    portfolio.realised = portfolio.charges = 0.0
    portfolio.holdings = [dict(row) for row in state["holdings"]]
    portfolio.positions = {}
    for carried in state["carried"]:
        instrument = book._market.by_token(carried["token"])
        if instrument is None:
            continue  # an expired contract: nothing left to carry
        position = Position(instrument)
        net, price = carried["net"], carried["price"]
        if net > 0:
            position.buy_quantity, position.buy_value = net, net * price
        else:
            position.sell_quantity, position.sell_value = -net, -net * price
        position.net, position.open_price, position.overnight = net, price, net
        portfolio.positions[(instrument.exchange, instrument.tradingsymbol, carried["product"])] = position
    kept = {i: o for i, o in book.orders.items() if i in book._live}  # after-market orders still to go in
    book.orders = kept
    book._history = {i: h for i, h in book._history.items() if i in kept}
    book.trades = []
    book.bounds = {i: b for i, b in book.bounds.items() if i in kept}
