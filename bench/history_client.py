"""A script of benchmark section 13, in a process of its own (its peak memory is the fetch's).

python -m bench.history_client VALUES_JSON FROM TO

Fetches FROM..TO minute candles of INFY through KiteAPI, then the same again from the cache
(each the median of 3 calls): as dicts, as a DataFrame, and as dicts for the last
KITE_DAYS_OF_CANDLES days (as many candles as Kite's two years: the sandbox trades 1,440 minutes
a day, Kite 375); then fetches two years of 5-minute candles (answers of Kite's size); then times
look-ups in the instrument list. Prints one JSON line of counts and times.
"""

import datetime as dt
import json
import resource
import sys
import time

from bench.support import HttpCounter
from kite_api import KiteAPI
from kite_service.config.settings import load_settings

INFY = 408065
LOOKUPS = 2000
# Kite's two years of minute candles: about 494 sessions of 375 minutes = 185,250; the sandbox's
# 1,440-minute days hold as many in 129.
KITE_DAYS_OF_CANDLES = 129


def timed(call, times: int = 3) -> tuple:
    """The last result of `times` calls and their median time (one busy moment of the machine is not the cache's)."""
    seconds = []
    for _ in range(times):
        result = None  # the previous result freed before the next call
        started = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - started)
    return result, sorted(seconds)[times // 2]


def main(values: dict, start: str, end: str) -> dict:
    api = KiteAPI(load_settings(values), through_gateway=False)
    counter = HttpCounter()
    with counter.counting():
        started = time.perf_counter()
        candles = api.historical_data(INFY, start, end, "minute")
        first = time.perf_counter() - started
        requests_first = counter.requests
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        count, digest = len(candles), hash(tuple(tuple(c.values()) for c in candles))
        del candles  # the second call's candles alone in memory
        again, second = timed(lambda: api.historical_data(INFY, start, end, "minute"))
        same = hash(tuple(tuple(c.values()) for c in again)) == digest
        closes = [c["close"] for c in again]
        del again
        import pandas  # noqa: F401 - imported once by a script that wants frames, as by this one; not timed

        frame, frame_seconds = timed(lambda: api.historical_data(INFY, start, end, "minute", as_frame=True))
        same_frame = frame["close"].tolist() == closes
        del frame, closes
        kite_start = (dt.date.fromisoformat(end) - dt.timedelta(days=KITE_DAYS_OF_CANDLES - 1)).isoformat()
        kite_sized, kite_seconds = timed(lambda: api.historical_data(INFY, kite_start, end, "minute"))
        requests_again = counter.requests - requests_first
        # At Kite's volume: two years of 5-minute candles hold about as many as Kite's two years of minutes.
        before = counter.requests
        five_minute, five_seconds = timed(lambda: api.historical_data(INFY, start, end, "5minute"), times=1)
        five_requests = counter.requests - before
        api.instrument("NSE:INFY")  # the day's list, downloaded once
        symbols = [f"NSE:{name}" for name in ("INFY", "TCS", "RELIANCE", "HDFCBANK", "SBIN")]
        started = time.perf_counter()
        for number in range(LOOKUPS):
            api.instrument(symbols[number % len(symbols)])
        lookups = LOOKUPS / (time.perf_counter() - started)
    return {
        "candles": count,
        "same_again": same,
        "requests": requests_first,
        "seconds": first,
        "requests_again": requests_again,
        "seconds_again": second,
        "frame_seconds": frame_seconds,
        "same_frame": same_frame,
        "kite_sized_candles": len(kite_sized),
        "kite_sized_seconds": kite_seconds,
        "five_minute_candles": len(five_minute),
        "five_minute_requests": five_requests,
        "five_minute_seconds": five_seconds,
        "peak_kb": peak_kb,
        "lookups_per_second": lookups,
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3])))
