"""Minute (and n-minute) OHLCV candles built from ticks, for the script ticker or any `on_ticks`.

    candles = TickCandles(minutes=1, on_candle=print)
    with kite.ticker([408065], mode="full", on_ticks=candles.add):
        ...

A tick counts in the candle of its exchange timestamp (full mode), or of the moment it came (ltp
and quote modes carry no time). Prices are the ticks' last prices; the volume is the change in
`volume_traded` since the instrument's previous tick (the first tick seen of an instrument adds
none). A candle closes `grace_seconds` after its end, so that a tick a little late still counts;
a tick later than that is not added (`late` counts them). n-minute candles start at the session's
open (09:15 IST; 09:00 for MCX and currencies: `origin`) and every n minutes after, as Kite's do.

Kite builds its own candles from a subset of the exchange's trades, and ticks are sampled too (one
a second at most), so the two differ: docs/performance.md compares them on the sandbox.
"""

import time
from datetime import datetime, timedelta, timezone
from datetime import time as dt_time

from kite_service.clock import IST_OFFSET_SECONDS

NSE_OPEN = dt_time(9, 15)  # IST: the first candle of NSE's and BSE's day, the origin of n-minute candles
MCX_OPEN = dt_time(9, 0)  # MCX and the currency segments open at 09:00
KITE_TIMEZONE = timezone(timedelta(seconds=IST_OFFSET_SECONDS))


class TickCandles:
    """The forming candles of every instrument seen; closed ones go to `on_candle` and are returned."""

    def __init__(self, minutes: int = 1, grace_seconds: float = 2.0, on_candle=None, clock=time.time, origin=NSE_OPEN):
        """`origin`: when the session's first candle starts (09:15 IST; MCX_OPEN for MCX and currencies)."""
        if minutes < 1:
            raise ValueError("minutes must be 1 or more")
        self.size = int(minutes) * 60
        self._origin = origin.hour * 3600 + origin.minute * 60
        self.grace = float(grace_seconds)
        self.on_candle = on_candle
        self.late = 0  # ticks that came after their candle had closed
        self._clock = clock
        self._forming: dict = {}  # (token, start) -> candle
        self._volume_seen: dict = {}  # token -> the last volume_traded

    def add(self, ticks: list) -> list:
        """Count `ticks` (KiteTicker's dicts); returns the candles that closed meanwhile."""
        now = self._clock()
        for tick in ticks:
            token, price = tick["instrument_token"], tick["last_price"]
            stamp = tick.get("exchange_timestamp")
            start = self._start(stamp.timestamp() if stamp else now)
            traded = tick.get("volume_traded")
            added = 0
            if traded is not None:
                before = self._volume_seen.get(token)
                added = max(0, traded - before) if before is not None else 0
                self._volume_seen[token] = traded
            if start + self.size + self.grace <= now:
                self.late += 1
                continue
            candle = self._forming.get((token, start))
            if candle is None:
                self._forming[(token, start)] = {
                    "instrument_token": token,
                    "date": datetime.fromtimestamp(start, KITE_TIMEZONE),
                    "open": price,
                    "high": price,
                    "low": price,
                    "close": price,
                    "volume": added,
                    "ticks": 1,
                }
            else:
                candle["high"] = max(candle["high"], price)
                candle["low"] = min(candle["low"], price)
                candle["close"] = price
                candle["volume"] += added
                candle["ticks"] += 1
        return self.close_due()

    def close_due(self) -> list:
        """Close the candles whose end and grace have passed (call it from a timer when ticks stop)."""
        now = self._clock()
        due = sorted((key for key in self._forming if key[1] + self.size + self.grace <= now), key=lambda k: k[1])
        closed = [self._forming.pop(key) for key in due]
        if self.on_candle is not None:
            for candle in closed:
                self.on_candle(candle)
        return closed

    def _start(self, at: float) -> int:
        """The start (s since 1970) of the candle that `at` falls in."""
        local = int(at) + IST_OFFSET_SECONDS  # IST seconds since 1970-01-01 00:00 IST
        into_day = local % 86400
        start_of_candle = local - ((into_day - self._origin) % self.size)
        return start_of_candle - IST_OFFSET_SECONDS
