"""The sandbox's instrument table: Kite's recorded rows, popular names, and live F&O contracts."""

import csv
import gzip
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path

from .clock import IST
from .exchange_numbers import INDEX_LOT_SIZES, STOCK_LOT_SIZES, tick_size
from .price_walk import WalkSpec

INSTRUMENTS_CSV = Path(__file__).parent / "data" / "instruments_all.csv"
CSV_COLUMNS = [
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
]
# Segment number in the low byte of an instrument token (Kite's WebSocket docs): NFO = 2.
SEGMENT_CODES = {"NSE": 1, "NFO": 2, "CDS": 3, "BSE": 4, "BFO": 5, "BCD": 6, "MCX": 7, "INDICES": 9}
EXPIRY_TIME = time(15, 30)
DAILY_VOLATILITY = {"equity": 0.016, "index": 0.011}

# Kite's real tokens for the names people try first, with plausible prices.
POPULAR = [
    (408065, 1594, "INFY", "INFOSYS", 1500.0, "EQ", "NSE"),
    (738561, 2885, "RELIANCE", "RELIANCE INDUSTRIES", 1300.0, "EQ", "NSE"),
    (2953217, 11536, "TCS", "TATA CONSULTANCY SERV LT", 3400.0, "EQ", "NSE"),
    (341249, 1333, "HDFCBANK", "HDFC BANK", 1700.0, "EQ", "NSE"),
    (256265, 1001, "NIFTY 50", "NIFTY 50", 24000.0, "EQ", "INDICES"),
    (260105, 1016, "NIFTY BANK", "NIFTY BANK", 52000.0, "EQ", "INDICES"),
    (257801, 1007, "NIFTY FIN SERVICE", "NIFTY FIN SERVICE", 25000.0, "EQ", "INDICES"),
    (288009, 1125, "NIFTY MID SELECT", "NIFTY MID SELECT", 12500.0, "EQ", "INDICES"),
    (779521, 3045, "SBIN", "STATE BANK OF INDIA", 800.0, "EQ", "NSE"),
    (1270529, 4963, "ICICIBANK", "ICICI BANK", 1400.0, "EQ", "NSE"),
    (424961, 1660, "ITC", "ITC", 420.0, "EQ", "NSE"),
    (1510401, 5900, "AXISBANK", "AXIS BANK", 1150.0, "EQ", "NSE"),
    (492033, 1922, "KOTAKBANK", "KOTAK MAHINDRA BANK", 420.0, "EQ", "NSE"),  # a price for its lot of 2,000
    (2939649, 11483, "LT", "LARSEN & TOUBRO", 3600.0, "EQ", "NSE"),
    (2714625, 10604, "BHARTIARTL", "BHARTI AIRTEL", 1900.0, "EQ", "NSE"),
    (270857, 1058, "NIFTY NEXT 50", "NIFTY NEXT 50", 68000.0, "EQ", "INDICES"),
]


@dataclass(frozen=True)
class Underlying:
    """An F&O underlying: where its price comes from and how its contracts are cut."""

    name: str  # the prefix of its contracts' trading symbols
    key: str  # EXCHANGE:SYMBOL of the underlying instrument
    strike_step: float
    weekly: bool  # weekly option expiries besides the monthly ones
    volatility: float  # implied volatility the options are priced with

    @property
    def is_index(self) -> bool:
        return self.name in INDEX_LOT_SIZES.names()

    def lot_size(self, expiry: date) -> int:
        """The lot of its contracts expiring on `expiry`: NSE's revision in force for that expiry
        (exchange_numbers.py), or the oldest one known for a clock set before it."""
        table = INDEX_LOT_SIZES if self.is_index else STOCK_LOT_SIZES
        return table.on_or_oldest(self.name, expiry).value


# Lot sizes and tick sizes come from NSE's circulars (exchange_numbers.py). Strike steps are typical
# values. Since September 2025 every NSE F&O contract expires on a Tuesday; NIFTY alone has weekly
# options.
UNDERLYINGS = [
    Underlying("NIFTY", "NSE:NIFTY 50", 50, True, 0.13),
    Underlying("BANKNIFTY", "NSE:NIFTY BANK", 100, False, 0.15),
    Underlying("INFY", "NSE:INFY", 20, False, 0.25),
    Underlying("RELIANCE", "NSE:RELIANCE", 10, False, 0.24),
    Underlying("TCS", "NSE:TCS", 50, False, 0.22),
    Underlying("HDFCBANK", "NSE:HDFCBANK", 10, False, 0.22),
    Underlying("FINNIFTY", "NSE:NIFTY FIN SERVICE", 50, False, 0.14),
    Underlying("MIDCPNIFTY", "NSE:NIFTY MID SELECT", 25, False, 0.17),
    Underlying("SBIN", "NSE:SBIN", 10, False, 0.26),
    Underlying("ICICIBANK", "NSE:ICICIBANK", 10, False, 0.22),
    Underlying("ITC", "NSE:ITC", 5, False, 0.2),
    Underlying("AXISBANK", "NSE:AXISBANK", 10, False, 0.24),
    Underlying("KOTAKBANK", "NSE:KOTAKBANK", 5, False, 0.23),
    Underlying("LT", "NSE:LT", 20, False, 0.22),
    Underlying("BHARTIARTL", "NSE:BHARTIARTL", 20, False, 0.22),
    Underlying("NIFTYNXT50", "NSE:NIFTY NEXT 50", 100, False, 0.15),
]
# Enough contracts for Kite's ticker maximum (3 connections x 3,000 instruments) with room past it.
MONTHLY_EXPIRIES = 3
WEEKLY_EXPIRIES = 4
STRIKES_EACH_SIDE = 60
MONTH_CODES = "123456789OND"  # weekly symbols: one character for the month (Kite's naming)


@dataclass(frozen=True)
class Instrument:
    token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    base_price: float
    tick_size: float
    lot_size: int
    instrument_type: str
    segment: str
    exchange: str
    expiry: str = ""
    strike: float = 0.0
    underlying: Underlying | None = None  # F&O contracts: priced off this underlying

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def is_index(self) -> bool:
        return self.segment == "INDICES"

    @property
    def is_derivative(self) -> bool:
        return self.instrument_type in ("FUT", "CE", "PE")

    def expires_at(self) -> datetime | None:
        if not self.expiry:
            return None
        return datetime.combine(date.fromisoformat(self.expiry), EXPIRY_TIME, IST)

    @cached_property
    def walk_spec(self) -> WalkSpec:
        """What shapes this instrument's walk (its volume a hash of the token: worked out once)."""
        volatility = DAILY_VOLATILITY["index" if self.is_index else "equity"]
        volume = 0 if self.is_index else int(200 + 2000 * _unit(self.token, "volume"))
        return WalkSpec(self.token, self.base_price, volatility, self.tick_size, volume)

    def csv_row(self) -> dict:
        return {
            "instrument_token": self.token,
            "exchange_token": self.exchange_token,
            "tradingsymbol": self.tradingsymbol,
            "name": self.name,
            "last_price": 0.0,
            "expiry": self.expiry,
            "strike": self.strike,
            "tick_size": self.tick_size,
            "lot_size": self.lot_size,
            "instrument_type": self.instrument_type,
            "segment": self.segment,
            "exchange": self.exchange,
        }


def _unit(*parts) -> float:
    """A stable number in [0, 1) from the parts."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def load_instruments(today: date, spot_price) -> tuple:
    """(tradable and index instruments, expired contracts by key) as of `today`.

    `spot_price(instrument)` gives an underlying's price, around which option strikes are cut."""
    instruments = [
        Instrument(token, exch_token, symbol, name, price, _equity_tick(segment, price), 1, kind, segment, "NSE")
        for token, exch_token, symbol, name, price, kind, segment in POPULAR
    ]
    known = {i.token for i in instruments}
    expired = {}
    with open(INSTRUMENTS_CSV, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            token = int(row["instrument_token"])
            if token in known:
                continue
            price = float(row["last_price"]) or round(50 + 1950 * _unit(token), 1)
            tick = float(row["tick_size"]) or 0.05
            if row["exchange"] == "NSE" and row["instrument_type"] == "EQ":
                tick = _equity_tick(row["segment"], price)  # the recording's are of 2017: today's rule
                price = round(round(price / tick) * tick, 2)
            instrument = Instrument(
                token,
                int(row["exchange_token"]),
                row["tradingsymbol"],
                row["name"],
                price,
                tick,
                int(row["lot_size"]) or 1,
                row["instrument_type"],
                row["segment"],
                row["exchange"],
                row["expiry"],
                float(row["strike"] or 0),
            )
            if instrument.expiry and date.fromisoformat(instrument.expiry) < today:
                expired[instrument.key] = instrument  # the recording's 2017-2018 contracts: refused
            else:
                instruments.append(instrument)
    by_key = {i.key: i for i in instruments}
    spots = {u.key: spot_price(by_key[u.key]) for u in UNDERLYINGS}
    references = {u.key: by_key[u.key].base_price for u in UNDERLYINGS}
    instruments += generate_contracts(spots, today, {i.token for i in instruments}, references)
    return instruments, expired


def _equity_tick(segment: str, price: float) -> float:
    """NSE's tick for a stock by its price band (an index has no orders: 0.05, as Kite lists them)."""
    return 0.05 if segment == "INDICES" else tick_size("EQ", price)


def generate_contracts(spots: dict, today: date, taken_tokens: set, references: dict | None = None) -> list:
    """Futures and options on the UNDERLYINGS with expiries from today on, named as Kite names them.

    `spots`: each underlying's price that strikes centre on; `references` (default `spots`): the
    price whose band gives the contracts' tick sizes. The sandbox's prices walk around their base
    price, so the band of the base price stands for NSE's previous month's close."""
    references = references or spots
    contracts = []
    for underlying in UNDERLYINGS:
        spot = spots[underlying.key]
        reference = references[underlying.key]
        monthly = monthly_expiries(today, MONTHLY_EXPIRIES)
        weekly = weekly_expiries(today, WEEKLY_EXPIRIES) if underlying.weekly else []
        atm = round(spot / underlying.strike_step) * underlying.strike_step
        strikes = [atm + underlying.strike_step * k for k in range(-STRIKES_EACH_SIDE, STRIKES_EACH_SIDE + 1)]
        for expiry in monthly:
            symbol = f"{underlying.name}{expiry:%y}{expiry:%b}".upper() + "FUT"
            contracts.append(_contract(underlying, symbol, "FUT", expiry, 0.0, taken_tokens, reference))
        for expiry in sorted(set(monthly) | set(weekly)):
            if expiry in monthly:
                prefix = f"{underlying.name}{expiry:%y}{expiry:%b}".upper()
            else:
                prefix = f"{underlying.name}{expiry:%y}{MONTH_CODES[expiry.month - 1]}{expiry:%d}"
            for strike in strikes:
                for kind in ("CE", "PE"):
                    contracts.append(
                        _contract(
                            underlying,
                            f"{prefix}{_strike_text(strike)}{kind}",
                            kind,
                            expiry,
                            strike,
                            taken_tokens,
                            reference,
                        )
                    )
    return contracts


def _contract(
    underlying: Underlying, symbol: str, kind: str, expiry: date, strike: float, taken: set, reference: float
) -> Instrument:
    exchange_token = 2**23 + int(_unit("contract", symbol) * 2**23)
    while (exchange_token << 8) + SEGMENT_CODES["NFO"] in taken:
        exchange_token += 1
    token = (exchange_token << 8) + SEGMENT_CODES["NFO"]
    taken.add(token)
    segment = "NFO-FUT" if kind == "FUT" else "NFO-OPT"
    return Instrument(
        token,
        exchange_token,
        symbol,
        underlying.name,
        0.0,
        tick_size(kind, reference, underlying.is_index),
        underlying.lot_size(expiry),
        kind,
        segment,
        "NFO",
        expiry.isoformat(),
        float(strike),
        underlying,
    )


def _strike_text(strike: float) -> str:
    return str(int(strike)) if float(strike).is_integer() else f"{strike:.2f}".rstrip("0")


def monthly_expiries(today: date, count: int) -> list:
    """The last Tuesday of this month and the next ones, from today on (NSE's F&O expiry day)."""
    found, year, month = [], today.year, today.month
    while len(found) < count:
        last_day = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        expiry = last_day - timedelta(days=(last_day.weekday() - 1) % 7)
        if expiry >= today:
            found.append(expiry)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def weekly_expiries(today: date, count: int) -> list:
    """The next `count` Tuesdays from today on."""
    first = today + timedelta(days=(1 - today.weekday()) % 7)
    return [first + timedelta(weeks=k) for k in range(count)]


def instruments_csv_gz(instruments: list) -> bytes:
    """The instrument dump as Kite serves it: gzip-compressed CSV."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(i.csv_row() for i in instruments)
    return gzip.compress(buffer.getvalue().encode())
