"""A script of benchmark section 13, in a process of its own (its peak memory is the fetch's).

python -m bench.history_client VALUES_JSON FROM TO

Fetches FROM..TO minute candles of INFY through KiteAPI twice (the second from the cache), then
times look-ups in the instrument list; prints one JSON line of counts and times.
"""

import json
import resource
import sys
import time

from bench.support import HttpCounter
from kite_api import KiteAPI
from kite_service.config.settings import load_settings

INFY = 408065
LOOKUPS = 2000


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
        started = time.perf_counter()
        again = api.historical_data(INFY, start, end, "minute")
        second = time.perf_counter() - started
        same = hash(tuple(tuple(c.values()) for c in again)) == digest
        requests_again = counter.requests - requests_first
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
        "peak_kb": peak_kb,
        "lookups_per_second": lookups,
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3])))
