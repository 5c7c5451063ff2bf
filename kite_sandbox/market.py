"""The sandbox's market: prices, quotes, circuit limits and candles, all read off one price walk."""

import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from .derivatives import contract_path, contract_price, open_interest
from .error_responses import InputError
from .instruments import Instrument, instruments_csv_gz, load_instruments
from .price_walk import EPOCH, DayPath, PriceWalk, day_start, in_walk, minute_start, on_tick_float, split_moment

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
FOLD_MINUTES = 5  # a day's tally catches up minute by minute up to this many; beyond, from the day path
MINUTE_STAMPS = [f"T{m // 60:02d}:{m % 60:02d}:00+0530" for m in range(1440)]


class InstrumentTable(NamedTuple):
    """One day's instruments, looked up by key and token, and their dumps (nothing in it changes)."""

    instruments: tuple
    expired: dict
    by_key: dict
    by_token: dict
    dumps: dict  # exchange (None: all) -> the gzipped CSV, filled on first download


@lru_cache(maxsize=4)
def instrument_table(today: date, seed: int) -> InstrumentTable:
    """The instruments of `today` for the walk of `seed`: the same for every sandbox of that day and
    seed (options are cut around yesterday's close), so made once per process and shared read-only.
    Worked out anew, it took a quarter of a second of each sandbox's start."""
    walk = PriceWalk(seed)
    instruments, expired = load_instruments(today, lambda i: walk.day_candle(i.walk_spec, today - timedelta(days=1))[3])
    by_key = {i.key: i for i in instruments}
    by_token = {i.token: i for i in instruments}
    return InstrumentTable(tuple(instruments), expired, by_key, by_token, {})


class Snapshot(NamedTuple):
    moment: datetime
    last: float
    ohlc: dict  # Kite's quote ohlc: today's open, high and low, yesterday's close
    volume: int
    average: float
    depth_size: int
    oi: int


class Market:
    """Instruments by key and token; prices, quotes and candles from a seeded walk."""

    def __init__(self, clock, seed: int = DEFAULT_SEED):
        self._clock = clock
        self.seed = seed
        self.walk = PriceWalk(seed)
        self._pinned: dict = {}
        self._lock = threading.Lock()
        self._contract_paths: OrderedDict = OrderedDict()  # (token, day) -> DayPath of an F&O contract
        # Per instrument, for quotes and ticks: yesterday's close, and today's whole minutes so far as
        # (day, minutes, (open, high, low, volume)). Both keep streaming thousands of instruments off
        # the day paths, which would not all fit in the caches above.
        self._closes: dict = {}  # token -> (day, close)
        self._tallies: dict = {}
        self._mapped_prices: dict = {}  # token -> (minute, {spot: price}, the minute before, {spot: price})
        self._minute_of: tuple = (None, None)  # (moment, the start of its minute)
        table = instrument_table(clock().date(), seed)
        self.instruments, self._expired = list(table.instruments), table.expired
        self._by_key, self._by_token = table.by_key, table.by_token
        self._dumps = table.dumps

    def now(self) -> datetime:
        """The market's clock."""
        return self._clock()

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
        if price is None:
            self._pinned.pop(instrument.token, None)
        else:
            self._pinned[instrument.token] = float(price)

    def price(self, instrument: Instrument, at: datetime | None = None) -> float:
        """The last price now (a pinned price wins), or at a moment of the walk."""
        if at is None:
            return self._price_now(instrument, self._clock())
        if instrument.underlying is not None:
            return contract_price(instrument, self.price(self.underlying_of(instrument), at), minute_start(at))
        return self.walk.price(instrument.walk_spec, at)

    def _price_now(self, instrument: Instrument, now: datetime) -> float:
        pinned = self._pinned.get(instrument.token)
        if pinned is not None:
            return pinned
        if instrument.underlying is not None:
            spot = self._price_now(self.underlying_of(instrument), now)
            return self._mapped(instrument, spot, self._minute_start(now))
        return self.walk.price(instrument.walk_spec, now)

    def _mapped(self, instrument: Instrument, spot: float, at_minute: datetime) -> float:
        """contract_price, remembered for this minute and the last: a minute's open and extremes recur
        every second, and its candle is folded into the day's tally once it is over."""
        memo = self._mapped_prices.get(instrument.token)
        if memo is None or at_minute > memo[0]:
            memo = self._mapped_prices[instrument.token] = (at_minute, {}, *(memo[:2] if memo else (None, None)))
        if at_minute == memo[0]:
            prices = memo[1]
        elif at_minute == memo[2]:
            prices = memo[3]
        else:
            return contract_price(instrument, spot, at_minute)
        value = prices.get(spot)
        if value is None:
            value = prices[spot] = contract_price(instrument, spot, at_minute)
        return value

    def _minute_start(self, now: datetime) -> datetime:
        last_now, at_minute = self._minute_of
        if last_now != now:  # a batch of quotes asks about one moment thousands of times
            at_minute = minute_start(now)
            self._minute_of = (now, at_minute)
        return at_minute

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
        known = self._closes.get(instrument.token)
        if known is not None and known[0] == yesterday:
            return known[1]
        if instrument.underlying is not None and in_walk(yesterday):  # the last minute's close, not the whole day
            close = self._minute_candle(instrument, yesterday, 1439)[3]
        else:
            candle = self._whole_day(instrument, yesterday)
            close = candle[3] if candle else instrument.base_price
        self._closes[instrument.token] = (yesterday, close)
        return close

    def _minutes_so_far(self, instrument: Instrument, day: date, minutes: int) -> tuple | None:
        """(open, high, low, volume) of the day's first `minutes` whole minutes; None if there are none."""
        if minutes == 0 or not in_walk(day):
            return None
        known = self._tallies.get(instrument.token)
        if known is not None and known[0] == day and known[1] == minutes:
            return known[2]
        if known is not None and known[0] == day and 0 < minutes - known[1] <= FOLD_MINUTES:
            tally = known[2]
            for minute in range(known[1], minutes):
                opened, high, low, _, volume = self._minute_candle(instrument, day, minute)
                tally = (tally[0], max(tally[1], high), min(tally[2], low), tally[3] + volume)
        else:
            opened, high, low, _, volume = _aggregate(self.day_path(instrument, day), 0, minutes)
            tally = (opened, high, low, volume)
        self._tallies[instrument.token] = (day, minutes, tally)
        return tally

    def _minute_candle(self, instrument: Instrument, day: date, minute: int) -> tuple:
        """One whole minute's candle; an F&O contract's from its underlying's, without its own day path."""
        if instrument.underlying is None:
            return _aggregate(self.day_path(instrument, day), minute, minute + 1)
        spot = self.day_path(self.underlying_of(instrument), day)
        at = day_start(day) + timedelta(minutes=minute)
        opened, high, low, close = (
            self._mapped(instrument, float(values[minute]), at)
            for values in (spot.opens, spot.highs, spot.lows, spot.closes)
        )
        if instrument.instrument_type == "PE":  # a put is dearest when its underlying is lowest
            high, low = low, high
        return opened, high, low, close, max(int(spot.volumes[minute]) // 50, 1) * instrument.lot_size

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

    def _today_ohlc(self, instrument: Instrument, now: datetime, last: float) -> tuple:
        """(Kite's quote ohlc: today's open, high, low and yesterday's close; today's volume)."""
        day, minutes, _ = split_moment(now)
        if in_walk(day):
            opened, high, low, _, volume = self._partial_minute(instrument, now)
            done = self._minutes_so_far(instrument, day, minutes)
            if done is not None:
                opened, high, low, volume = done[0], max(done[1], high), min(done[2], low), done[3] + volume
        else:
            opened, high, low, volume = last, last, last, 0
        ohlc = {
            "open": opened,
            "high": max(high, last),
            "low": min(low, last),
            "close": self.previous_close(instrument),
        }
        return ohlc, volume

    def snapshot(self, instrument: Instrument, now: datetime | None = None) -> "Snapshot":
        """The instrument's market at one moment (now by default): what quotes and ticks are made of."""
        now = now or self._clock()
        last = self._price_now(instrument, now)
        ohlc, volume = self._today_ohlc(instrument, now, last)
        depth_size = 0 if instrument.is_index else max(instrument.lot_size, 1)
        average = round((ohlc["high"] + ohlc["low"] + last) / 3, 2) if volume else 0.0
        return Snapshot(now, last, ohlc, volume, average, depth_size, open_interest(instrument))

    def depth(self, instrument: Instrument, snap: "Snapshot", side: int) -> list:
        """Five (quantity, price, orders) levels: bids (side -1) below the last price, offers (+1) above."""
        size = snap.depth_size
        if not size:
            return [(0, 0, 0)] * 5
        tick, last = instrument.tick_size, snap.last
        return [(size * 10 * n, max(round((last + side * tick * n) * 100) / 100, tick), n) for n in (1, 2, 3, 4, 5)]

    # -- instrument dump and candles ------------------------------------------------------------

    def instruments_csv_gz(self, exchange: str | None = None) -> bytes:
        """The dump as Kite serves it (made once per day's table and exchange: the rows never change)."""
        dump = self._dumps.get(exchange)
        if dump is None:
            dump = instruments_csv_gz([i for i in self.instruments if exchange is None or i.exchange == exchange])
            self._dumps[exchange] = dump
        return dump

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
        at_minute = self._minute_start(now)
        mapped = [self._mapped(instrument, p, at_minute) for p in spot[:4]]
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
    return on_tick_float(price, tick)
