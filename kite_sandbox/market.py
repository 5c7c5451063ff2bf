"""The sandbox's instruments and prices: a gently moving, deterministic price per instrument."""

import csv
import gzip
import hashlib
import io
import math
import threading
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from clock import IST

from .kite_errors import InputError

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

# Kite's real tokens for the names people try first, with plausible prices.
POPULAR = [
    (408065, 1594, "INFY", "INFOSYS", 1500.0, "EQ", "NSE"),
    (738561, 2885, "RELIANCE", "RELIANCE INDUSTRIES", 1300.0, "EQ", "NSE"),
    (2953217, 11536, "TCS", "TATA CONSULTANCY SERV LT", 3400.0, "EQ", "NSE"),
    (341249, 1333, "HDFCBANK", "HDFC BANK", 1700.0, "EQ", "NSE"),
    (256265, 1001, "NIFTY 50", "NIFTY 50", 24000.0, "EQ", "INDICES"),
    (260105, 1016, "NIFTY BANK", "NIFTY BANK", 52000.0, "EQ", "INDICES"),
]

# Kite's documented maximum span of one historical request, in days.
HISTORICAL_MAX_DAYS = {
    "minute": 60,
    "3minute": 100,
    "5minute": 100,
    "10minute": 100,
    "15minute": 200,
    "30minute": 200,
    "60minute": 400,
    "day": 2000,
}
INTERVAL_MINUTES = {
    "minute": 1,
    "3minute": 3,
    "5minute": 5,
    "10minute": 10,
    "15minute": 15,
    "30minute": 30,
    "60minute": 60,
}
MARKET_OPEN, MARKET_CLOSE = time(9, 15), time(15, 30)
SWING = 0.004  # +-0.4 % around the base price
SWING_PERIOD_SECONDS = 120.0


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

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

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


def _seed(*parts) -> float:
    """A stable number in [0, 1) from the parts."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def load_instruments() -> list:
    instruments = [
        Instrument(token, exch_token, symbol, name, price, 0.05, 1, kind, segment, "NSE")
        for token, exch_token, symbol, name, price, kind, segment in POPULAR
    ]
    known = {i.token for i in instruments}
    with open(INSTRUMENTS_CSV, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            token = int(row["instrument_token"])
            if token in known:
                continue
            price = float(row["last_price"]) or round(50 + 1950 * _seed(token), 1)
            instruments.append(
                Instrument(
                    token,
                    int(row["exchange_token"]),
                    row["tradingsymbol"],
                    row["name"],
                    price,
                    float(row["tick_size"]) or 0.05,
                    int(row["lot_size"]) or 1,
                    row["instrument_type"],
                    row["segment"],
                    row["exchange"],
                    row["expiry"],
                    float(row["strike"] or 0),
                )
            )
    return instruments


class Market:
    """Instruments by key and token, current prices, quotes and candles."""

    def __init__(self, clock):
        self._clock = clock
        self.instruments = load_instruments()
        self._by_key = {i.key: i for i in self.instruments}
        self._by_token = {i.token: i for i in self.instruments}
        self._pinned: dict = {}
        self._lock = threading.Lock()

    def find(self, key: str) -> Instrument | None:
        """By 'EXCHANGE:SYMBOL' or by instrument token."""
        if key.isdigit():
            return self._by_token.get(int(key))
        return self._by_key.get(key)

    def by_symbol(self, exchange: str, tradingsymbol: str) -> Instrument | None:
        return self._by_key.get(f"{exchange}:{tradingsymbol}")

    def by_token(self, token: int) -> Instrument | None:
        return self._by_token.get(token)

    def pin_price(self, instrument: Instrument, price: float | None) -> None:
        """Sandbox control: hold a price fixed (None releases it)."""
        with self._lock:
            if price is None:
                self._pinned.pop(instrument.token, None)
            else:
                self._pinned[instrument.token] = float(price)

    def price(self, instrument: Instrument, at: datetime | None = None) -> float:
        if at is None:
            with self._lock:
                if instrument.token in self._pinned:
                    return self._pinned[instrument.token]
            at = self._clock()
        phase = 2 * math.pi * _seed("phase", instrument.token)
        angle = 2 * math.pi * at.timestamp() / SWING_PERIOD_SECONDS + phase
        raw = instrument.base_price * (1 + SWING * math.sin(angle))
        return round(round(raw / instrument.tick_size) * instrument.tick_size, 2)

    def previous_close(self, instrument: Instrument) -> float:
        return round(instrument.base_price * (1 - SWING / 2), 2)

    # -- quotes ------------------------------------------------------------------------------

    def ltp(self, instrument: Instrument) -> dict:
        return {"instrument_token": instrument.token, "last_price": self.price(instrument)}

    def ohlc(self, instrument: Instrument) -> dict:
        return {**self.ltp(instrument), "ohlc": self._day_ohlc(instrument)}

    def quote(self, instrument: Instrument) -> dict:
        now = self._clock()
        last = self.price(instrument)
        close = self.previous_close(instrument)
        tick = instrument.tick_size
        volume = int(100000 + 900000 * _seed("volume", instrument.token, now.date()))
        return {
            "instrument_token": instrument.token,
            "timestamp": now.strftime("%Y-%m-%d %H:%M:%S"),
            "last_trade_time": (now - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S"),
            "last_price": last,
            "last_quantity": 5,
            "buy_quantity": volume // 7,
            "sell_quantity": volume // 8,
            "volume": volume,
            "average_price": round((last + close) / 2, 2),
            "oi": 0,
            "oi_day_high": 0,
            "oi_day_low": 0,
            "net_change": round(last - close, 2),
            "lower_circuit_limit": round(close * 0.8, 2),
            "upper_circuit_limit": round(close * 1.2, 2),
            "ohlc": self._day_ohlc(instrument),
            "depth": {
                "buy": [
                    {"price": round(last - tick * (n + 1), 2), "quantity": 10 * (n + 1), "orders": n + 1}
                    for n in range(5)
                ],
                "sell": [
                    {"price": round(last + tick * (n + 1), 2), "quantity": 10 * (n + 1), "orders": n + 1}
                    for n in range(5)
                ],
            },
        }

    def _day_ohlc(self, instrument: Instrument) -> dict:
        base = instrument.base_price
        return {
            "open": self.previous_close(instrument),
            "high": round(base * (1 + SWING), 2),
            "low": round(base * (1 - SWING), 2),
            "close": self.previous_close(instrument),
        }

    # -- instrument dump and candles ------------------------------------------------------------

    def instruments_csv_gz(self, exchange: str | None = None) -> bytes:
        rows = [i.csv_row() for i in self.instruments if exchange is None or i.exchange == exchange]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return gzip.compress(buffer.getvalue().encode())

    def candles(self, instrument: Instrument, interval: str, start: datetime, end: datetime, oi: bool) -> list:
        if interval not in HISTORICAL_MAX_DAYS:
            raise InputError(f"invalid interval: {interval}")
        if end < start:
            raise InputError("invalid date range: from is after to")
        if end - start > timedelta(days=HISTORICAL_MAX_DAYS[interval]):
            raise InputError(f"interval exceeds max limit: {HISTORICAL_MAX_DAYS[interval]} days")
        return [self._candle(instrument, moment, step, oi) for moment, step in _candle_times(interval, start, end)]

    def _candle(self, instrument, moment, step, oi) -> list:
        points = [self.price(instrument, moment + step * k / 4) for k in range(5)]
        volume = int(1000 + 50000 * _seed("candle", instrument.token, moment.timestamp()))
        candle = [moment.strftime("%Y-%m-%dT%H:%M:%S%z"), points[0], max(points), min(points), points[-1], volume]
        return [*candle, 0] if oi else candle


def _candle_times(interval: str, start: datetime, end: datetime):
    """(start, length) of every candle inside trading hours on weekdays between start and end."""
    if interval == "day":
        day = start.date()
        while day <= end.date():
            if day.weekday() < 5:
                yield datetime.combine(day, time(0, 0), IST), timedelta(days=1)
            day += timedelta(days=1)
        return
    step = timedelta(minutes=INTERVAL_MINUTES[interval])
    day = start.date()
    while day <= end.date():
        if day.weekday() < 5:
            moment = datetime.combine(day, MARKET_OPEN, IST)
            close = datetime.combine(day, MARKET_CLOSE, IST)
            while moment < close:
                if start <= moment <= end:
                    yield moment, step
                moment += step
        day += timedelta(days=1)
