"""The demo account's money and positions: holdings, positions, margins, realised profit.

Margin is what open positions and open orders hold: CNC buys their full value, MIS equity a
fifth of it, futures and option writing a share of the contract value, option buying the premium.
The free balance is the opening cash plus realised profit minus that margin, so selling never
creates money beyond the profit it realises, and cancelling or exiting gives the margin back.
Callers hold the order book's lock.
"""

from .instruments import Instrument

OPENING_CASH = 500000.0
MIS_EQUITY_RATE = 0.2  # intraday leverage of 5x on equity
SPAN_RATE, EXPOSURE_RATE = 0.09, 0.03  # on futures and written options, as shares of the contract value
FUTURES_RATE = SPAN_RATE + EXPOSURE_RATE
SEEDED_HOLDINGS = (("INFY", "INE009A01021", 10, 1400.0), ("TCS", "INE467B01029", 5, 3200.0))


class Position:
    """One (exchange, symbol, product): what was bought and sold today, and the open quantity."""

    def __init__(self, instrument: Instrument):
        self.instrument = instrument
        self.buy_quantity = self.sell_quantity = 0
        self.buy_value = self.sell_value = 0.0
        self.net = 0  # open quantity from this product's own trades (sales of holdings excluded)
        self.open_price = 0.0  # average price of the open quantity

    def book(self, side: str, quantity: int, price: float) -> float:
        """Add a fill; returns the profit it realises by closing open quantity."""
        if side == "BUY":
            self.buy_quantity += quantity
            self.buy_value += quantity * price
        else:
            self.sell_quantity += quantity
            self.sell_value += quantity * price
        signed = quantity if side == "BUY" else -quantity
        realised = 0.0
        if self.net and (self.net > 0) != (signed > 0):
            closing = min(abs(self.net), quantity)
            realised = closing * (price - self.open_price) * (1 if self.net > 0 else -1)
            self.net += closing if signed > 0 else -closing
            signed += -closing if signed > 0 else closing
        if signed:
            total = abs(self.net) + abs(signed)
            self.open_price = (abs(self.net) * self.open_price + abs(signed) * price) / total
            self.net += signed
        if self.net == 0:
            self.open_price = 0.0
        return realised


class Portfolio:
    """Cash, positions and holdings of the demo user."""

    def __init__(self, market, opening_cash: float = OPENING_CASH, seeded: bool = True):
        """`opening_cash`: the day's cash; `seeded`: the demo user's holdings (INFY, TCS) at the start."""
        self._market = market
        self.opening_cash = opening_cash
        self.positions: dict = {}  # (exchange, symbol, product) -> Position
        self.realised = 0.0
        self.charges = 0.0  # brokerage and taxes of executed orders (charges.py), paid out of cash
        seeds = SEEDED_HOLDINGS if seeded else ()
        self.holdings = [_holding_row(market.by_symbol("NSE", s), isin, q, avg) for s, isin, q, avg in seeds]

    def what_if(self, with_positions: bool = True) -> "Portfolio":
        """A detached copy to try orders on (the margin calculators): today's positions, or none."""
        copy = Portfolio.__new__(Portfolio)
        copy._market, copy.realised, copy.charges = self._market, self.realised, self.charges
        copy.opening_cash = self.opening_cash
        copy.positions = {key: _copy_position(p) for key, p in self.positions.items()} if with_positions else {}
        copy.holdings = [dict(row) for row in self.holdings]
        return copy

    # -- margins -----------------------------------------------------------------------------

    def margin_for(self, instrument: Instrument, product: str, net: int, price: float) -> float:
        """What an open quantity `net` at `price` holds."""
        if net == 0:
            return 0.0
        if instrument.instrument_type in ("CE", "PE"):
            if net > 0:
                return net * price  # the premium, paid in full
            return -net * self._market.price(self._market.underlying_of(instrument)) * FUTURES_RATE
        if instrument.instrument_type == "FUT":
            return abs(net) * price * FUTURES_RATE
        if product in ("MIS", "CO"):
            return abs(net) * price * MIS_EQUITY_RATE
        return max(net, 0) * price  # CNC: a delivery buy is paid in full; sales of holdings hold nothing

    def position_margin(self, key) -> float:
        position = self.positions.get(key)
        if position is None:
            return 0.0
        return self.margin_for(position.instrument, key[2], position.net, position.open_price)

    def order_margin(self, instrument: Instrument, product: str, side: str, quantity: int, price: float) -> float:
        """Extra margin an order needs: the position's margin after it fills minus now (never below 0)."""
        key = (instrument.exchange, instrument.tradingsymbol, product)
        position = self.positions.get(key)
        net = position.net if position else 0
        open_price = position.open_price if position else price
        after = net + (quantity if side == "BUY" else -quantity)
        if product == "CNC" and side == "SELL":
            after = max(after, 0)  # sold out of holdings: no short position
        if after and net and (after > 0) == (net > 0) and abs(after) > abs(net):
            after_price = (abs(net) * open_price + quantity * price) / abs(after)
        else:
            after_price = open_price if abs(after) <= abs(net) else price
        needed = self.margin_for(instrument, product, after, after_price) - self.position_margin(key)
        return round(max(needed, 0.0), 2)

    def utilised(self, blocked: float) -> float:
        return sum(self.position_margin(key) for key in self.positions) + blocked

    def available(self, blocked: float) -> float:
        return round(self.opening_cash + self.realised - self.charges - self.utilised(blocked), 2)

    # -- fills -------------------------------------------------------------------------------

    def book_fill(self, instrument: Instrument, product: str, side: str, quantity: int, price: float) -> None:
        key = (instrument.exchange, instrument.tradingsymbol, product)
        position = self.positions.setdefault(key, Position(instrument))
        if product == "CNC" and side == "SELL":
            from_position = min(max(position.net, 0), quantity)
            from_holdings = quantity - from_position
            self.realised += position.book("SELL", from_position, price) if from_position else 0.0
            if from_holdings:
                holding = self.holding(instrument)
                position.sell_quantity += from_holdings
                position.sell_value += from_holdings * price
                holding["used_quantity"] += from_holdings
                self.realised += from_holdings * (price - holding["average_price"])
            return
        self.realised += position.book(side, quantity, price)

    def holding(self, instrument: Instrument) -> dict | None:
        for row in self.holdings:
            if row["instrument_token"] == instrument.token:
                return row
        return None

    def sellable_cnc(self, instrument: Instrument) -> int:
        """Shares a CNC sell may deliver: unsold holdings plus CNC shares bought today."""
        holding = self.holding(instrument)
        free_holdings = holding["quantity"] - holding["used_quantity"] if holding else 0
        position = self.positions.get((instrument.exchange, instrument.tradingsymbol, "CNC"))
        return free_holdings + (max(position.net, 0) if position else 0)

    def convert(self, exchange: str, symbol: str, old: str, new: str, quantity: int) -> None:
        """Move `quantity` of an open position to another product, merging into one that exists."""
        source = self.positions[(exchange, symbol, old)]
        target = self.positions.setdefault((exchange, symbol, new), Position(source.instrument))
        price, long = source.open_price, source.net > 0
        for position, sign in ((source, -1), (target, 1)):
            moved = sign * quantity
            if long:
                position.buy_quantity += moved
                position.buy_value += moved * price
            else:
                position.sell_quantity += moved
                position.sell_value += moved * price
        kept = abs(target.net)
        target.open_price = (kept * target.open_price + quantity * price) / (kept + quantity)
        target.net += quantity if long else -quantity
        source.net -= quantity if long else -quantity
        if source.net == 0:
            source.open_price = 0.0

    # -- what the API shows --------------------------------------------------------------------

    def positions_answer(self) -> dict:
        """/portfolio/positions: the net positions, and the day's (the same: the sandbox has no overnight ones)."""
        net = self.position_rows()
        return {"net": net, "day": [dict(row) for row in net]}

    def position_rows(self) -> list:
        return [self._position_row(key, p) for key, p in self.positions.items() if p.buy_quantity or p.sell_quantity]

    def _position_row(self, key, p: Position) -> dict:
        exchange, symbol, product = key
        last = self._market.price(p.instrument)
        quantity = p.buy_quantity - p.sell_quantity
        buy_price = p.buy_value / p.buy_quantity if p.buy_quantity else 0
        sell_price = p.sell_value / p.sell_quantity if p.sell_quantity else 0
        value = p.sell_value - p.buy_value
        pnl = round(value + quantity * last, 2)
        closed = min(p.buy_quantity, p.sell_quantity)
        realised = round(closed * (sell_price - buy_price), 2)
        return {
            "tradingsymbol": symbol,
            "exchange": exchange,
            "instrument_token": p.instrument.token,
            "product": product,
            "quantity": quantity,
            "overnight_quantity": 0,
            "multiplier": 1,
            "average_price": round(p.open_price, 2),
            "close_price": self._market.previous_close(p.instrument),
            "last_price": last,
            "value": round(value, 2),
            "pnl": pnl,
            "m2m": pnl,
            "unrealised": round(pnl - realised, 2),
            "realised": realised,
            "buy_quantity": p.buy_quantity,
            "buy_price": round(buy_price, 2),
            "buy_value": round(p.buy_value, 2),
            "buy_m2m": round(p.buy_value, 2),
            "sell_quantity": p.sell_quantity,
            "sell_price": round(sell_price, 2),
            "sell_value": round(p.sell_value, 2),
            "sell_m2m": round(p.sell_value, 2),
            "day_buy_quantity": p.buy_quantity,
            "day_buy_price": round(buy_price, 2),
            "day_buy_value": round(p.buy_value, 2),
            "day_sell_quantity": p.sell_quantity,
            "day_sell_price": round(sell_price, 2),
            "day_sell_value": round(p.sell_value, 2),
        }

    def holding_rows(self) -> list:
        rows = []
        for holding in self.holdings:
            instrument = self._market.by_token(holding["instrument_token"])
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

    def holdings_summary(self) -> dict:
        """/portfolio/holdings/summary: the holdings' value and profit, overall and today."""
        rows = [(r, r["quantity"] - r["used_quantity"]) for r in self.holding_rows()]  # what is still held
        invested = sum(r["average_price"] * held for r, held in rows)
        current = sum(r["last_price"] * held for r, held in rows)
        yesterday = sum(r["close_price"] * held for r, held in rows)
        return {
            "total_pnl": current - invested,
            "total_pnl_percent": (current - invested) / invested * 100 if invested else 0.0,
            "today_pnl": current - yesterday,
            "today_pnl_percent": (current - yesterday) / yesterday * 100 if yesterday else 0.0,
            "invested_amount": invested,
            "current_value": current,
        }

    def holdings_compact(self) -> list:
        keys = ("exchange", "tradingsymbol", "instrument_token", "t1_quantity", "quantity")
        return [{key: row[key] for key in keys} for row in self.holdings]

    def auction_rows(self) -> list:
        """/portfolio/holdings/auctions: the sandbox runs an auction in every settled holding (numbered per day)."""
        rows = []
        for row in self.holding_rows():
            if row["realised_quantity"] - row["used_quantity"] > 0:
                number = str(10 + (row["instrument_token"] + self._market.now().toordinal()) % 90)
                keep = [k for k in row if k not in ("used_quantity", "authorisation", "short_quantity", "mtf")]
                rows.append({**{k: row[k] for k in keep}, "auction_number": number})
        return rows

    def margin_rows(self, blocked: float) -> dict:
        """/user/margins: the equity segment carries everything; commodity is not enabled."""
        delivery = span = 0.0
        for key in self.positions:
            margin = self.position_margin(key)
            if key[2] == "CNC" or self.positions[key].instrument.instrument_type in ("CE", "PE"):
                delivery += margin
            else:
                span += margin
        equity = _segment(True, self.opening_cash, self.realised, delivery, span, blocked, self.charges)
        return {"equity": equity, "commodity": _segment(False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)}


def _segment(enabled, cash, realised, delivery, span, blocked, charges) -> dict:
    utilised = delivery + span + blocked + charges
    net = round(cash + realised - utilised, 2)
    return {
        "enabled": enabled,
        "net": net,
        "available": {
            "adhoc_margin": 0,
            "cash": cash,
            "opening_balance": cash,
            "live_balance": net,
            "collateral": 0,
            "intraday_payin": 0,
        },
        "utilised": {
            "debits": round(utilised, 2),
            "exposure": 0,
            "m2m_realised": round(realised, 2),
            "m2m_unrealised": 0,
            "option_premium": 0,
            "payout": 0,
            "span": round(span, 2),
            "holding_sales": 0,
            "turnover": 0,
            "liquid_collateral": 0,
            "stock_collateral": 0,
            "delivery": round(delivery + blocked, 2),
        },
    }


def _copy_position(position: Position) -> Position:
    copy = Position(position.instrument)
    copy.__dict__.update(position.__dict__)
    return copy


def _holding_row(instrument: Instrument, isin: str, quantity: int, average: float) -> dict:
    return {
        "tradingsymbol": instrument.tradingsymbol,
        "exchange": instrument.exchange,
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
