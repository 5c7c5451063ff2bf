"""The sandbox's market: prices, quotes, circuit limits and candles, all read off one price walk."""

import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from datetime import date, datetime, timedelta

import numpy as np

from .derivatives import contract_path, contract_price, open_interest
from .instruments import Instrument, instruments_csv_gz, load_instruments
from .kite_errors import InputError
from .price_walk import EPOCH, DayPath, PriceWalk, day_start, minute_start, split_moment

DEFAULT_SEED = 1
# Kite's maximum span of one historical request, in days (section 13 of the protocol notes).
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
    "day": 1440,
}
# Daily price bands around the previous close: NSE's widest band for stocks, 10 % for futures.
# Options have no fixed band at NSE; the sandbox allows a tick up to five times the previous close.
EQUITY_BAND, FUTURES_BAND, OPTION_UPPER_MULTIPLE = 0.20, 0.10, 5
CACHED_CONTRACT_DAYS = 512  # F&O contracts' day paths kept (each about 60 kB)
MINUTE_STAMPS = [f"T{m // 60:02d}:{m % 60:02d}:00+0530" for m in range(1440)]


class Market:
    """Instruments by key and token; prices, quotes and candles from a seeded walk."""

    def __init__(self, clock, seed: int = DEFAULT_SEED):
        self._clock = clock
        self.seed = seed
        self.walk = PriceWalk(seed)
        self._pinned: dict = {}
        self._lock = threading.Lock()
        self._contract_paths: OrderedDict = OrderedDict()  # (token, day) -> DayPath of an F&O contract
        today = clock().date()
        self.instruments, self._expired = load_instruments(
            today, lambda i: self.walk.day_candle(i.walk_spec, today - timedelta(days=1))[3]
        )
        self._by_key = {i.key: i for i in self.instruments}
        self._by_token = {i.token: i for i in self.instruments}

    # -- looking instruments up ----------------------------------------------------------------

    def find(self, key: str) -> Instrument | None:
        """By 'EXCHANGE:SYMBOL' or by instrument token."""
        if key.isdigit():
            return self._by_token.get(int(key))
        return self._by_key.get(key)

    def by_symbol(self, exchange: str, tradingsymbol: str) -> Instrument | None:
        return self._by_key.get(f"{exchange}:{tradingsymbol}")

    def by_token(self, token: int) -> Instrument | None:
        return self._by_token.get(token)

    def expired_contract(self, exchange: str, tradingsymbol: str) -> Instrument | None:
        """A contract that existed but has expired (the recording's, or one of ours past its expiry)."""
        key = f"{exchange}:{tradingsymbol}"
        instrument = self._by_key.get(key) or self._expired.get(key)
        if instrument is not None and instrument.expiry and self._clock() >= instrument.expires_at():
            return instrument
        return None

    def underlying_of(self, instrument: Instrument) -> Instrument:
        return self._by_key[instrument.underlying.key]

    # -- prices -----------------------------------------------------------------------------

    def pin_price(self, instrument: Instrument, price: float | None) -> None:
        """Sandbox control: hold a price fixed (None releases it)."""
        with self._lock:
            if price is None:
                self._pinned.pop(instrument.token, None)
            else:
                self._pinned[instrument.token] = float(price)

    def price(self, instrument: Instrument, at: datetime | None = None) -> float:
        """The last price now (a pinned price wins), or at a moment of the walk."""
        live = at is None
        if live:
            with self._lock:
                if instrument.token in self._pinned:
                    return self._pinned[instrument.token]
            at = self._clock()
        if instrument.underlying is not None:
            spot = self.price(self.underlying_of(instrument), None if live else at)
            return contract_price(instrument, spot, minute_start(at))
        return self.walk.price(instrument.walk_spec, at)

    def day_path(self, instrument: Instrument, day: date) -> DayPath | None:
        if instrument.underlying is None:
            return self.walk.day_path(instrument.walk_spec, day)
        key = (instrument.token, day)
        with self._lock:
            path = self._contract_paths.get(key)
        if path is None:
            underlying = self.day_path(self.underlying_of(instrument), day)
            if underlying is None:
                return None
            path = contract_path(instrument, underlying, day)  # Black-Scholes on 4 x 1,440 prices: once a day
            with self._lock:
                self._contract_paths[key] = path
                while len(self._contract_paths) > CACHED_CONTRACT_DAYS:
                    self._contract_paths.popitem(last=False)
        return path

    def previous_close(self, instrument: Instrument) -> float:
        """Yesterday's close: the close of yesterday's day candle."""
        yesterday = self._clock().date() - timedelta(days=1)
        candle = self._whole_day(instrument, yesterday)
        return candle[3] if candle else instrument.base_price

    def _whole_day(self, instrument: Instrument, day: date) -> tuple | None:
        if instrument.underlying is None:
            return self.walk.day_candle(instrument.walk_spec, day)
        path = self.day_path(instrument, day)
        if path is None:
            return None
        return _aggregate(path, 0, len(path.opens))

    def circuit_limits(self, instrument: Instrument) -> tuple:
        """(lower, upper) prices allowed today; (0, 0) for indices, which have none."""
        close, tick = self.previous_close(instrument), instrument.tick_size
        if instrument.is_index:
            return 0.0, 0.0
        if instrument.instrument_type in ("CE", "PE"):
            return tick, _on_grid(close * OPTION_UPPER_MULTIPLE + 20, tick)
        band = FUTURES_BAND if instrument.instrument_type == "FUT" else EQUITY_BAND
        return _on_grid(close * (1 - band), tick), _on_grid(close * (1 + band), tick)

    # -- quotes ------------------------------------------------------------------------------

    def ltp(self, instrument: Instrument) -> dict:
        return {"instrument_token": instrument.token, "last_price": self.price(instrument)}

    def ohlc(self, instrument: Instrument) -> dict:
        return {**self.ltp(instrument), "ohlc": self._today_ohlc(instrument)[0]}

    def _today_ohlc(self, instrument: Instrument) -> tuple:
        """(Kite's quote ohlc: today's open, high, low and yesterday's close; today's volume)."""
        now = self._clock()
        today = self._candles_of_day(instrument, now.date(), 1440, now)
        last = self.price(instrument)
        opened, high, low, _, volume = today[0][1:] if today else (last, last, last, last, 0)
        ohlc = {
            "open": opened,
            "high": max(high, last),
            "low": min(low, last),
            "close": self.previous_close(instrument),
        }
        return ohlc, volume

    def quote(self, instrument: Instrument) -> dict:
        now = self._clock()
        last = self.price(instrument)
        ohlc, volume = self._today_ohlc(instrument)
        lower, upper = self.circuit_limits(instrument)
        tick = instrument.tick_size
        oi = open_interest(instrument)
        depth_size = 0 if instrument.is_index else max(instrument.lot_size, 1)
        return {
            "instrument_token": instrument.token,
            "timestamp": now.strftime("%Y-%m-%d %H:%M:%S"),
            "last_trade_time": (now - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S"),
            "last_price": last,
            "last_quantity": depth_size,
            "buy_quantity": volume // 7,
            "sell_quantity": volume // 8,
            "volume": volume,
            "average_price": round((ohlc["high"] + ohlc["low"] + last) / 3, 2) if volume else 0.0,
            "oi": oi,
            "oi_day_high": oi,
            "oi_day_low": oi,
            "net_change": round(last - ohlc["close"], 2),
            "lower_circuit_limit": lower,
            "upper_circuit_limit": upper,
            "ohlc": ohlc,
            "depth": {
                side: [
                    {
                        "price": max(round(last + sign * tick * (n + 1), 2), tick) if depth_size else 0,
                        "quantity": depth_size * 10 * (n + 1),
                        "orders": n + 1 if depth_size else 0,
                    }
                    for n in range(5)
                ]
                for side, sign in (("buy", -1), ("sell", 1))
            },
        }

    # -- instrument dump and candles ------------------------------------------------------------

    def instruments_csv_gz(self, exchange: str | None = None) -> bytes:
        return instruments_csv_gz([i for i in self.instruments if exchange is None or i.exchange == exchange])

    def candles(self, instrument: Instrument, interval: str, start: datetime, end: datetime, oi: bool) -> list:
        """Kite's candle rows [time, open, high, low, close, volume(, oi)]; nothing after now."""
        if interval not in HISTORICAL_MAX_DAYS:
            raise InputError(f"invalid interval: {interval}")
        if end < start:
            raise InputError("invalid date range: from is after to")
        if end - start > timedelta(days=HISTORICAL_MAX_DAYS[interval]):
            raise InputError(f"interval exceeds max limit: {HISTORICAL_MAX_DAYS[interval]} days")
        now = self._clock()
        size = INTERVAL_MINUTES[interval]
        first_day = max(start.date(), EPOCH)
        if instrument.is_derivative:
            first_day = max(first_day, date.fromisoformat(instrument.expiry) - timedelta(days=120))
        extra = [open_interest(instrument)] if oi else []
        rows = []
        day = first_day
        while day <= min(end.date(), now.date()):
            low = _minutes_into(start, day) if interval != "day" else 0
            high = _minutes_into(end, day) if interval != "day" else 1440
            day_rows = self._candles_of_day(instrument, day, size, now)
            first = bisect_left(day_rows, low, key=lambda row: row[0])  # rows are in time order
            last = bisect_right(day_rows, high, key=lambda row: row[0])
            prefix = day.isoformat()
            rows += [[prefix + MINUTE_STAMPS[row[0]], *row[1:], *extra] for row in day_rows[first:last]]
            day += timedelta(days=1)
        return rows

    def _candles_of_day(self, instrument: Instrument, day: date, size: int, now: datetime) -> list:
        """(minute of the day, open, high, low, close, volume) of each `size`-minute candle, up to now."""
        if size == 1440 and day < now.date():
            whole = self._whole_day(instrument, day)
            return [] if whole is None else [(0, *whole)]
        path = self.day_path(instrument, day)
        if path is None:
            return []
        complete = len(path.opens) if day < now.date() else split_moment(now)[1]  # whole minutes so far
        whole = complete - complete % size
        rows = list(zip(range(0, whole, size), *_aggregate_each(path, whole, size), strict=True))
        if day == now.date():  # the candle in progress: its whole minutes and the current one so far
            partial = self._partial_minute(instrument, now)
            if whole < complete:
                done = _aggregate(path, whole, complete)
                partial = (
                    done[0],
                    max(done[1], partial[1]),
                    min(done[2], partial[2]),
                    partial[3],
                    done[4] + partial[4],
                )
            rows.append((whole, *partial))
        return rows

    def _partial_minute(self, instrument: Instrument, now: datetime) -> tuple:
        if instrument.underlying is None:
            return self.walk.partial_minute(instrument.walk_spec, now)
        spot = self.walk.partial_minute(self.underlying_of(instrument).walk_spec, now)
        mapped = [contract_price(instrument, p, minute_start(now)) for p in spot[:4]]
        volume = spot[4] // 50 * instrument.lot_size
        return mapped[0], max(mapped[1:3]), min(mapped[1:3]), mapped[3], volume


def _aggregate(path: DayPath, first: int, last: int) -> tuple:
    return (
        float(path.opens[first]),
        float(path.highs[first:last].max()),
        float(path.lows[first:last].min()),
        float(path.closes[last - 1]),
        int(path.volumes[first:last].sum()),
    )


def _minutes_into(moment: datetime, day: date) -> int:
    """Minutes from the start of `day` to `moment` (clamped to the day)."""
    minutes = (moment - day_start(day)).total_seconds() / 60
    return int(min(max(minutes, -1), 1440))


def _aggregate_each(path: DayPath, minutes: int, size: int) -> tuple:
    """Columns (opens, highs, lows, closes, volumes) of the `size`-minute candles in the first `minutes`."""
    if minutes == 0:
        return [], [], [], [], []
    return (
        path.opens[:minutes:size].tolist(),
        path.highs[:minutes].reshape(-1, size).max(axis=1).tolist(),
        path.lows[:minutes].reshape(-1, size).min(axis=1).tolist(),
        path.closes[size - 1 : minutes : size].tolist(),
        path.volumes[:minutes].reshape(-1, size).sum(axis=1).tolist(),
    )


def _on_grid(price: float, tick: float) -> float:
    return float(np.round(np.round(price / tick) * tick, 4))
