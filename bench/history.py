"""Benchmark section 13: the data helpers. Two years of minute candles of one instrument through
KiteAPI against the sandbox enforcing Kite's limits (a script in a process of its own), the same
call again from the cache, look-ups in the day's instrument list, and the fetch's peak memory."""

import datetime as dt
import json
import math
import subprocess
import sys

from bench.support import PROJECT_DIR, LoggedInSandbox
from kite_service.data.history_windows import MAX_DAYS_PER_REQUEST

DAYS = 730
HISTORICAL_PER_SECOND = 3


def data_helpers(row) -> list:
    sandbox = LoggedInSandbox(enforce_rate_limits=True)
    try:
        yesterday = dt.date.today() - dt.timedelta(days=1)
        first = yesterday - dt.timedelta(days=DAYS - 1)
        command = [
            sys.executable,
            "-m",
            "bench.history_client",
            json.dumps(sandbox.values),
            first.isoformat(),
            yesterday.isoformat(),
        ]
        done = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600, check=True)
        got = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        sandbox.close()
    least = math.ceil(DAYS / MAX_DAYS_PER_REQUEST["minute"])
    paced = least / HISTORICAL_PER_SECOND
    five_paced = math.ceil(DAYS / MAX_DAYS_PER_REQUEST["5minute"]) / HISTORICAL_PER_SECOND
    return [
        row(
            f"two years ({DAYS} days, {got['candles']:,} candles) of minute candles: requests made",
            f"{got['requests']}",
            f"{least} (the least Kite allows)",
            got["requests"] / least,
            "= 1",
            got["requests"] == least,
        ),
        row(
            "… its time, against its requests at Kite's 3 a second",
            f"{got['seconds']:.2f} s",
            f"{paced:.2f} s",
            got["seconds"] / paced,
            "≤ 1.05",
            got["seconds"] / paced <= 1.05,
        ),
        row(
            f"the same call again, as dicts: requests, time (the same {got['candles']:,} candles)",
            f"{got['requests_again']}, {got['seconds_again'] * 1000:.0f} ms ({got['same_again']})",
            "0, 200 ms",
            None,
            "0 requests, < 200 ms",
            got["requests_again"] == 0 and got["seconds_again"] < 0.2 and got["same_again"],
        ),
        row(
            "… as a DataFrame (as_frame=True; the same closes)",
            f"{got['frame_seconds'] * 1000:.0f} ms ({got['same_frame']})",
            "200 ms",
            got["frame_seconds"] / 0.2,
            "< 200 ms",
            got["frame_seconds"] < 0.2 and got["same_frame"],
        ),
        row(
            f"… as dicts, Kite's two years' worth ({got['kite_sized_candles']:,} candles: the last 129 sandbox days)",
            f"{got['kite_sized_seconds'] * 1000:.0f} ms",
            "200 ms",
            got["kite_sized_seconds"] / 0.2,
            "< 200 ms",
            got["kite_sized_seconds"] < 0.2,
        ),
        row(
            f"two years of 5-minute candles ({got['five_minute_candles']:,}: Kite's volume of minute candles),"
            f" {got['five_minute_requests']} requests: time against them at 3 a second",
            f"{got['five_minute_seconds']:.2f} s",
            f"{five_paced:.2f} s",
            got["five_minute_seconds"] / five_paced,
            "≤ 1.05",
            got["five_minute_seconds"] / five_paced <= 1.05,
        ),
        row(
            "instrument look-ups by EXCHANGE:SYMBOL from the day's list, a second",
            f"{got['lookups_per_second']:,.0f}",
            "—",
            None,
            "reported",
            None,
        ),
        row(
            "peak memory of the script that fetched the two years",
            f"{got['peak_kb'] / 1024:.0f} MB",
            "—",
            None,
            "reported",
            None,
        ),
    ]
