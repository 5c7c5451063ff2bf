"""Historical candles of any length: cut into Kite's windows, fetched within its limit, joined, cached.

`candle_history` asks Kite only for the days the cache lacks, in the fewest requests Kite allows
(history_windows.py), up to three at a time through the caller's `fetch` (KiteAPI's client, which
keeps to the historical limit of 3 requests a second shared by every program through the
gateway, and retries a 429 or a dropped connection). Each request's closed days are cached as it
arrives, so a failure part-way raises HistoryIncompleteError saying how far it got, and the same
call again resumes from there.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from operator import itemgetter

from kite_service.clock import IST_OFFSET_SECONDS, as_ist
from kite_service.data.history_windows import as_moment, check_interval, days_between, kite_time, request_windows
from kite_service.data.packed_candles import NO_OI, PackedCandles
from kite_service.errors import HistoryIncompleteError, KiteUnavailableError, SessionError
from kite_service.kite.client import candle_time, is_transient

KITE_TIMEZONE = timezone(timedelta(seconds=IST_OFFSET_SECONDS))  # the tzinfo of kiteconnect's candle dates
SECONDS_PER_DAY = 86400
EPOCH_DAY = date(1970, 1, 1)
IN_FLIGHT = 3  # Kite's historical requests a second


def candle_history(fetch, cache, token: int, start, end, interval: str, continuous: bool, oi: bool, now):
    """Candles of `token` from `start` to `end` (both included) as (at, open, high, low, close, volume,
    oi) rows in time order: a list, or PackedCandles when all came from the cache; `fetch(from_text,
    to_text)` asks Kite for one window (Kite's candle lists, KiteClient.historical_candles)."""
    check_interval(interval)
    start, end = as_moment(start), as_moment(end, end_of_day=True)
    if end < start:
        raise ValueError(f"from ({start:%Y-%m-%d %H:%M:%S}) is after to ({end:%Y-%m-%d %H:%M:%S})")
    today = as_ist(now).date()
    days = [day for day in days_between(start, end) if day <= today]  # no candle exists after today
    if not days:
        return PackedCandles()
    first_at, last_at = int(start.timestamp()), int(end.timestamp())
    series = cache.series(token, interval, continuous, oi)
    fetched, cached = cache.cached(series, days[0], days[-1], first_at, last_at)
    windows = request_windows([day for day in days if day not in fetched], interval)
    if not windows:
        return cached  # in time order, one candle per start
    rows = list(cached)
    today_number = (today - EPOCH_DAY).days

    def fetch_window(window: tuple) -> list:
        """One window's rows; its closed days go to the cache as soon as they come."""
        window_start, window_end = window
        new = [_row(candle) for candle in fetch(kite_time(window_start), kite_time(window_end))]
        closed = [day for day in days_between(window_start, window_end) if day < today]
        cache.store(series, [row for row in new if _day_number(row[0]) < today_number], closed)
        return [row for row in new if first_at <= row[0] <= last_at]

    # Up to IN_FLIGHT requests at once: the client's limiter spaces them at Kite's 3 a second, and
    # one answer (60 days of minute candles) takes longer than a third of a second to come.
    with ThreadPoolExecutor(max_workers=min(IN_FLIGHT, len(windows) or 1)) as pool:
        pending = [pool.submit(fetch_window, window) for window in windows]
        fetched_until = None
        try:
            for window, future in zip(windows, pending, strict=True):
                try:
                    rows += future.result()
                except Exception as exc:
                    if not _may_pass(exc):  # a bad token or range, no subscription: Kite's own error
                        raise
                    # Kite or the network failed part-way: say how far it got (later windows are kept)
                    raise HistoryIncompleteError(token, interval, fetched_until, window[0], exc) from exc
                fetched_until = window[1].date()
        except BaseException:  # an error, or Ctrl-C: no further window is asked for
            _cancel(pending)
            raise
    rows.sort(key=itemgetter(0))  # runs already in order: a near-linear merge
    return _without_doubles(rows)


def _may_pass(exc: BaseException) -> bool:
    """A failure that the same request may not meet again: network, 429, 5xx (not a session's end)."""
    return not isinstance(exc, SessionError) and (isinstance(exc, KiteUnavailableError) or is_transient(exc))


def _cancel(futures: list) -> None:
    for future in futures:
        future.cancel()  # those not started; the running ones finish (and are cached)


def as_dicts(rows, oi: bool) -> list:
    """kiteconnect's candle dicts: date (IST), open, high, low, close, volume (and oi)."""
    moment, zone = datetime.fromtimestamp, KITE_TIMEZONE
    if oi:
        return [
            {"date": moment(at, zone), "open": o, "high": h, "low": lo, "close": c, "volume": v, "oi": _oi(i)}
            for at, o, h, lo, c, v, i in rows
        ]
    return [
        {"date": moment(at, zone), "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for at, o, h, lo, c, v, _ in rows
    ]


def candle_frame(rows, oi: bool):
    """A pandas DataFrame of the rows, indexed by date (IST); pandas is an optional extra. Cached
    candles go from their packed bytes to columns in one step."""
    try:
        import pandas
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "as_frame=True needs pandas, which this Python does not have: pip install pandas "
            "(or pip install -e '.[frames]' in Kite App's folder)",
            name="pandas",
        ) from None
    packed = rows if isinstance(rows, PackedCandles) else PackedCandles.of(rows)
    columns = packed.columns()
    index = pandas.DatetimeIndex(pandas.to_datetime(columns["at"], unit="s", utc=True), name="date")
    names = ["open", "high", "low", "close", "volume"] + (["oi"] if oi else [])
    return pandas.DataFrame({name: columns[name] for name in names}, index=index.tz_convert("Asia/Kolkata"))


def _oi(value: int) -> int | None:
    return None if value == NO_OI else value


def _row(candle: list) -> tuple:
    """A cache row of Kite's candle [time text, open, high, low, close, volume(, oi)]."""
    oi = candle[6] if len(candle) > 6 else None
    return int(candle_time(candle[0]).timestamp()), candle[1], candle[2], candle[3], candle[4], candle[5], oi


def _day_number(at: int) -> int:
    """The IST day of a moment, as days since 1970-01-01."""
    return (at + IST_OFFSET_SECONDS) // SECONDS_PER_DAY


def _without_doubles(rows: list) -> list:
    """Rows in time order with one candle per start: a day cached meanwhile by another script is read once."""
    kept, last = [], None
    for row in rows:
        if row[0] != last:
            kept.append(row)
            last = row[0]
    return kept
