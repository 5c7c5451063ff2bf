"""The live market as the sandbox's order book sees it: Kite's instruments and Kite's prices.

The sandbox's book, portfolio, GTTs and alerts ask a market object for instruments (`by_symbol`,
`by_token`), prices (`price`, `previous_close`, `circuit_limits`) and the time (`now`). LiveMarket
answers from the service's copy of Kite's instrument list and from the ticker hub's full-mode ticks
(last price and five levels of depth each side), which the paper engine subscribes for every
instrument it holds an order or a position in. An instrument with no tick yet is asked of Kite once
by a quote call (the account's quote limit, 1 a second), which also brings its circuit limits.

A price is fresh for FRESH_SECONDS after it was received: older, nothing fills on it, and the order
says why (`stale_reason`).
"""

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from kite_sandbox.instruments import Instrument, Underlying
from kite_service.data.instrument_lookup import spot_key
from kite_service.ticker.frames import split
from kite_service.ticker.ticks import decode

log = logging.getLogger("kite_app.paper")

FRESH_SECONDS = 30.0  # no fill on a price older than this
MARGIN_SECONDS = 300.0  # how long Kite's margin for an (instrument, product, side) is used before asking again
DERIVATIVE_EXCHANGES = ("NFO", "BFO", "MCX", "CDS", "BCD")


@dataclass(frozen=True)
class Quote:
    """What one tick (or one quote call) said of an instrument, and when it came."""

    last: float
    bids: tuple  # ((price, quantity), ...) best first
    asks: tuple
    close: float
    received: datetime
    circuit: tuple = (0.0, 0.0)


def instrument_from_row(row: dict) -> Instrument:
    """The sandbox's Instrument for a row of Kite's instrument list (kiteconnect's dict)."""
    expiry = row.get("expiry") or ""
    underlying = None
    if row["exchange"] in DERIVATIVE_EXCHANGES and row.get("instrument_type") in ("FUT", "CE", "PE"):
        # Only its name is read (the freeze quantities are by name); the rest is the sandbox's walk's.
        underlying = Underlying(row.get("name") or "", spot_key(row.get("name") or ""), 0.0, False, 0.0)
    return Instrument(
        token=int(row["instrument_token"]),
        exchange_token=int(row.get("exchange_token") or 0),
        tradingsymbol=row["tradingsymbol"],
        name=row.get("name") or "",
        base_price=float(row.get("last_price") or 0),
        tick_size=float(row.get("tick_size") or 0.05),
        lot_size=int(row.get("lot_size") or 1),
        instrument_type=row.get("instrument_type") or "EQ",
        segment=row.get("segment") or row["exchange"],
        exchange=row["exchange"],
        expiry=expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry),
        strike=float(row.get("strike") or 0),
        underlying=underlying,
    )


class LiveMarket:
    """`lookup(key)` / `lookup_token(token)`: Kite's instrument row (KeyError-like None when unknown);
    `fetch_quote(keys)`: Kite's /quote answer for 'EXCHANGE:SYMBOL' keys; `clock`: the service's."""

    def __init__(self, lookup, lookup_token, fetch_quote, clock, fetch_margin=None):
        """`fetch_margin(order)`: Kite's margin calculator's total for one order, alone (the basket
        calculator without the account's positions: a paper account's are not Kite's); None: not asked."""
        self._lookup, self._lookup_token, self._fetch_quote, self._clock = lookup, lookup_token, fetch_quote, clock
        self._fetch_margin = fetch_margin
        self._margins: dict = {}  # (token, product, side) -> (Kite's margin per rupee of value, when asked)
        self._lock = threading.Lock()
        self._instruments: dict = {}  # key -> Instrument (and token -> Instrument)
        self._quotes: dict = {}  # token -> Quote
        self._circuits: dict = {}  # token -> (lower, upper) from the last quote call

    # -- instruments ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock()

    def by_symbol(self, exchange: str, tradingsymbol: str) -> Instrument | None:
        key = f"{exchange}:{tradingsymbol}"
        with self._lock:
            found = self._instruments.get(key)
        if found is None:
            row = self._lookup(key)
            if row is None:
                return None
            found = self._remember(row)
        return found

    def by_token(self, token: int) -> Instrument | None:
        with self._lock:
            found = self._instruments.get(int(token))
        if found is None:
            row = self._lookup_token(int(token))
            found = self._remember(row) if row is not None else None
        return found

    def find(self, key: str) -> Instrument | None:
        if key.isdigit():
            return self.by_token(int(key))
        exchange, _, symbol = key.partition(":")
        return self.by_symbol(exchange, symbol)

    def expired_contract(self, exchange, tradingsymbol):
        return None  # an expired contract is not in today's list: lookup() finds nothing

    def underlying_of(self, instrument: Instrument) -> Instrument:
        spot = self.find(instrument.underlying.key) if instrument.underlying else None
        return spot or instrument

    def _remember(self, row: dict) -> Instrument:
        instrument = instrument_from_row(row)
        with self._lock:
            self._instruments[instrument.key] = instrument
            self._instruments[instrument.token] = instrument
        return instrument

    # -- prices -------------------------------------------------------------------------------

    def on_frame(self, frame: bytes) -> set:
        """A binary frame from the hub: each instrument's quote replaced; the tokens it moved."""
        received = self._clock()
        moved = set()
        for token, packet in split(frame).items():
            tick = decode(packet)
            depth = tick.get("depth") or {}
            quote = Quote(
                last=tick["last_price"],
                bids=tuple((level["price"], level["quantity"]) for level in depth.get("buy", ()) if level["quantity"]),
                asks=tuple((level["price"], level["quantity"]) for level in depth.get("sell", ()) if level["quantity"]),
                close=(tick.get("ohlc") or {}).get("close", 0.0),
                received=received,
                circuit=self._circuits.get(token, (0.0, 0.0)),
            )
            self.put(token, quote)
            moved.add(token)
        return moved

    def put(self, token: int, quote: Quote) -> None:
        """The instrument's quote from now on (a tick's; a test's own)."""
        self._quotes[token] = quote

    def quote(self, instrument: Instrument) -> Quote | None:
        """The instrument's latest quote; asked of Kite when no tick has come for it yet."""
        found = self._quotes.get(instrument.token)
        if found is None:
            found = self._quote_from_kite(instrument)
        return found

    def _quote_from_kite(self, instrument: Instrument) -> Quote | None:
        try:
            answer = self._fetch_quote([instrument.key]).get(instrument.key)
        except Exception as exc:  # noqa: BLE001 (no session, Kite down: the order waits for a tick)
            log.warning("Paper: no quote for %s from Kite (%s)", instrument.key, type(exc).__name__)
            return None
        if not answer:
            return None
        depth = answer.get("depth") or {}
        circuit = (float(answer.get("lower_circuit_limit") or 0), float(answer.get("upper_circuit_limit") or 0))
        self._circuits[instrument.token] = circuit
        quote = Quote(
            last=float(answer["last_price"]),
            bids=tuple((float(d["price"]), int(d["quantity"])) for d in depth.get("buy", ()) if d.get("quantity")),
            asks=tuple((float(d["price"]), int(d["quantity"])) for d in depth.get("sell", ()) if d.get("quantity")),
            close=float((answer.get("ohlc") or {}).get("close") or 0),
            received=self._clock(),
            circuit=circuit,
        )
        self._quotes.setdefault(instrument.token, quote)
        return self._quotes[instrument.token]

    def stale_reason(self, instrument: Instrument) -> str | None:
        """Why nothing may fill on the instrument's price now, or None."""
        quote = self._quotes.get(instrument.token)
        if quote is None:
            return f"Paper: no price of {instrument.key} yet; the order waits for the first tick."
        age = (self._clock() - quote.received).total_seconds()
        if age > FRESH_SECONDS:
            return (
                f"Paper: the last price of {instrument.key} is {age:.0f} s old (fills need a tick within "
                f"{FRESH_SECONDS:g} s); the order waits for the next one."
            )
        return None

    def price(self, instrument: Instrument, at=None) -> float:
        quote = self.quote(instrument)
        return quote.last if quote is not None else instrument.base_price

    def previous_close(self, instrument: Instrument) -> float:
        quote = self._quotes.get(instrument.token)
        return quote.close if quote is not None else 0.0

    def margin_share(self, instrument: Instrument, product: str, side: str, price: float) -> float | None:
        """Kite's margin for an order as a share of its value (1.0 for delivery and option buying, about
        0.2 for intraday equity, 0.1 to 0.2 for futures), from Kite's calculator, asked at most every
        MARGIN_SECONDS per instrument, product and side; None when Kite cannot be asked."""
        if self._fetch_margin is None or price <= 0:
            return None
        key = (instrument.token, product, side)
        found = self._margins.get(key)
        now = self._clock()
        if found is not None and (now - found[1]).total_seconds() < MARGIN_SECONDS:
            return found[0]
        quantity = max(instrument.lot_size, 1)
        order = {
            "exchange": instrument.exchange,
            "tradingsymbol": instrument.tradingsymbol,
            "transaction_type": side,
            "variety": "regular",
            "product": product,
            "order_type": "LIMIT",
            "quantity": quantity,
            "price": price,
        }
        try:
            total = float(self._fetch_margin(order))
        except Exception as exc:  # noqa: BLE001 (no session, Kite down: the sandbox's formula stands in)
            log.warning(
                "Paper: Kite's margin for %s not had (%s); the formula's used", instrument.key, type(exc).__name__
            )
            return found[0] if found else None
        share = total / (quantity * price)
        self._margins[key] = (share, now)
        return share

    def circuit_limits(self, instrument: Instrument) -> tuple:
        return self._circuits.get(instrument.token, (0.0, 0.0))
