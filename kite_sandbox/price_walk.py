"""The sandbox's prices: one seeded random walk per instrument, minute by minute, every day.

Each instrument's daily closes follow a mean-reverting random walk in log price (so years of
history stay near the instrument's base price) with a realistic daily volatility. Each day is then
filled in minute by minute: a Brownian bridge from the day's open to its close, with each minute's
high and low a little beyond its open and close. Everything the sandbox shows (quotes, candles at
every interval, fills, ticks) is read off these minutes, so it all agrees; and all of it follows
from the seed, so a test can rely on a history.

Within a minute the price moves in straight lines open -> first extreme -> second extreme -> close
(at 0, 20 and 40 seconds and the minute's end), so the live price never leaves the minute's candle.
The sandbox's market is open around the clock (Kite's is 09:15-15:30 IST on trading days), so that
it can be tried at any hour; its days are IST calendar days.

numpy generates the minutes: 1,440 of them a day, for up to 2,000 days of day candles, is about a
millisecond a day with numpy and a hundred times more in plain Python.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from .clock import IST

EPOCH = date(2018, 1, 1)  # the walk's first day: no history before it
WALK_DAYS = 20 * 366  # days computed per instrument (deterministic whatever is asked first)
MINUTES_PER_DAY = 1440
MEAN_REVERSION_PER_DAY = 0.01  # pull towards the base price: stationary spread about +-12 %
OPENING_GAP_SHARE = 0.3  # the overnight gap's share of a day's volatility
WICK_SHARE = 0.6  # how far a minute's high and low reach beyond its open and close, in minute steps
EXTREME_SECONDS = (20, 40)  # when, within a minute, the price reaches its first and second extreme
CACHED_DAYS = 256  # minute paths kept in memory (each about 60 kB)


@dataclass(frozen=True)
class WalkSpec:
    """What shapes an instrument's walk."""

    token: int
    base_price: float
    daily_volatility: float
    tick_size: float
    minute_volume: int  # typical volume traded in a minute (0 for indices, which have none)


@dataclass(frozen=True)
class DayPath:
    """One day of one instrument, minute by minute, prices already on the tick grid."""

    opens: np.ndarray
    highs: np.ndarray
    lows: np.ndarray
    closes: np.ndarray
    volumes: np.ndarray
    high_first: np.ndarray  # bool: the minute reaches its high before its low

    def points(self, minute: int) -> tuple:
        """The minute's price at 0, 20 and 40 seconds and at its end."""
        first, second = (
            (self.highs[minute], self.lows[minute])
            if self.high_first[minute]
            else (self.lows[minute], self.highs[minute])
        )
        return float(self.opens[minute]), float(first), float(second), float(self.closes[minute])


def on_tick(values, tick: float):
    """Round prices to the instrument's tick grid (numpy arrays or a float)."""
    return np.round(np.round(np.asarray(values) / tick) * tick, 4)


def on_tick_float(value: float, tick: float) -> float:
    """on_tick for one float, with the same arithmetic (numpy costs ~10 us a call on a scalar)."""
    return round(round(value / tick) * tick * 10_000) / 10_000


def in_walk(day: date) -> bool:
    return 0 <= (day - EPOCH).days < WALK_DAYS


class PriceWalk:
    """The walks of every instrument for one seed. Thread-safe; computes lazily and caches."""

    def __init__(self, seed: int):
        self.seed = seed
        self._lock = threading.Lock()
        self._daily: dict = {}  # token -> (log opens, log closes) for WALK_DAYS days from EPOCH
        self._paths: OrderedDict = OrderedDict()  # (token, day) -> DayPath, least recently used first
        self._day_candles: dict = {}  # (token, day) -> (open, high, low, close, volume)
        self._moment: tuple = (None, {})  # (moment, {token: partial minute at that moment})

    # -- days ---------------------------------------------------------------------------------

    def _daily_logs(self, spec: WalkSpec) -> tuple:
        with self._lock:
            found = self._daily.get(spec.token)
        if found is not None:
            return found
        rng = np.random.default_rng([self.seed, spec.token, 0])
        shocks = rng.standard_normal(WALK_DAYS) * spec.daily_volatility
        gaps = rng.standard_normal(WALK_DAYS) * spec.daily_volatility * OPENING_GAP_SHARE
        anchor = np.log(spec.base_price)
        closes = np.empty(WALK_DAYS)
        previous = anchor
        for day in range(WALK_DAYS):  # sequential by nature (each day reverts from the last)
            previous = previous - MEAN_REVERSION_PER_DAY * (previous - anchor) + shocks[day]
            closes[day] = previous
        opens = np.concatenate(([anchor], closes[:-1])) + gaps
        with self._lock:
            self._daily[spec.token] = (opens, closes)
        return opens, closes

    def day_path(self, spec: WalkSpec, day: date) -> DayPath | None:
        """The day's minutes, or None before EPOCH or beyond the computed walk."""
        if not in_walk(day):
            return None
        index = (day - EPOCH).days
        key = (spec.token, day)
        with self._lock:
            path = self._paths.get(key)
            if path is not None:
                self._paths.move_to_end(key)
                return path
        opens, closes = self._daily_logs(spec)
        path = self._make_path(spec, day, opens[index], closes[index])
        with self._lock:
            self._paths[key] = path
            while len(self._paths) > CACHED_DAYS:
                self._paths.popitem(last=False)
        return path

    def _make_path(self, spec: WalkSpec, day: date, log_open: float, log_close: float) -> DayPath:
        rng = np.random.default_rng([self.seed, spec.token, day.toordinal()])
        step = spec.daily_volatility / np.sqrt(MINUTES_PER_DAY)
        walk = np.concatenate(([0.0], np.cumsum(rng.standard_normal(MINUTES_PER_DAY) * step)))
        share = np.linspace(0.0, 1.0, MINUTES_PER_DAY + 1)
        logs = log_open + share * (log_close - log_open) + walk - share * walk[-1]  # bridge: open to close
        prices = np.exp(logs)
        opens, closes = prices[:-1], prices[1:]
        reach = np.abs(rng.standard_normal((2, MINUTES_PER_DAY))) * step * WICK_SHARE
        highs = np.maximum(opens, closes) * np.exp(reach[0])
        lows = np.minimum(opens, closes) * np.exp(-reach[1])
        activity = 0.4 + np.abs(rng.standard_normal(MINUTES_PER_DAY))  # busier minutes move more
        volumes = np.round(activity * spec.minute_volume).astype(np.int64)
        tick = spec.tick_size
        return DayPath(
            opens=on_tick(opens, tick),
            highs=on_tick(highs, tick),
            lows=on_tick(lows, tick),
            closes=on_tick(closes, tick),
            volumes=volumes,
            high_first=rng.random(MINUTES_PER_DAY) < 0.5,
        )

    def day_candle(self, spec: WalkSpec, day: date) -> tuple | None:
        """(open, high, low, close, volume) of a whole day, or None outside the walk."""
        key = (spec.token, day)
        with self._lock:
            found = self._day_candles.get(key)
        if found is not None:
            return found
        path = self.day_path(spec, day)
        if path is None:
            return None
        candle = (
            float(path.opens[0]),
            float(path.highs.max()),
            float(path.lows.min()),
            float(path.closes[-1]),
            int(path.volumes.sum()),
        )
        with self._lock:
            self._day_candles[key] = candle
        return candle

    # -- moments ------------------------------------------------------------------------------

    def price(self, spec: WalkSpec, at: datetime) -> float:
        """The price at a moment (on the tick grid)."""
        if not in_walk(at.astimezone(IST).date()):
            return spec.base_price
        return self.partial_minute(spec, at)[3]

    def partial_minute(self, spec: WalkSpec, at: datetime) -> tuple:
        """(open, high, low, close, volume) of the minute containing `at`, up to `at`."""
        memo = self._moment
        if memo[0] != at:  # one moment's answers are kept: a batch of quotes shares its underlyings'
            memo = self._moment = (at, {})
        found = memo[1].get(spec.token)
        if found is not None:
            return found
        day, minute, seconds = split_moment(at)
        path = self.day_path(spec, day)
        points = path.points(minute)
        now = on_tick_float(_along(points, seconds), spec.tick_size)
        seen = [points[0], *(p for p, t in zip(points[1:3], EXTREME_SECONDS, strict=True) if seconds >= t), now]
        volume = int(path.volumes[minute] * seconds / 60)
        found = memo[1][spec.token] = (points[0], max(seen), min(seen), now, volume)
        return found


def split_moment(at: datetime) -> tuple:
    """(IST day, minute of the day, seconds into the minute) of a moment."""
    local = at.astimezone(IST)
    midnight = datetime.combine(local.date(), datetime.min.time(), IST)
    elapsed = (local - midnight).total_seconds()
    minute = min(int(elapsed // 60), MINUTES_PER_DAY - 1)
    return local.date(), minute, elapsed - minute * 60


def _along(points: tuple, seconds: float) -> float:
    """Straight lines between the minute's four points."""
    times = (0.0, *EXTREME_SECONDS, 60.0)
    for k in range(3):
        if seconds <= times[k + 1]:
            return points[k] + (points[k + 1] - points[k]) * (seconds - times[k]) / (times[k + 1] - times[k])
    return points[-1]


def minute_start(at: datetime) -> datetime:
    local = at.astimezone(IST)
    return local.replace(second=0, microsecond=0)


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), IST)
