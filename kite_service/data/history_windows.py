"""Kite's historical candle intervals, and a long date range cut into the fewest requests Kite allows.

Kite answers at most so many days of candles per request, by interval (Zerodha on its forum:
https://kite.trade/forum/discussion/3105, "minute : 60 days, 3minute : 100, ... day : 2000"), and
refuses a longer span with 400 InputException "interval exceeds max limit: 60 days". `from` and
`to` are both inclusive (Kite's own example: 09:15 to 09:20 gives six minute candles).

The windows here run from 00:00:00 of a day to 23:59:59 of a later one: no candle crosses
midnight, so two windows never share or split a candle, and a window of N whole days spans
N days less a second, inside Kite's limit.
"""

from datetime import date, datetime, time, timedelta

from kite_service.clock import as_ist

# The most days one request may span, per interval.
MAX_DAYS_PER_REQUEST = {
    "minute": 60,
    "3minute": 100,
    "5minute": 100,
    "10minute": 100,
    "15minute": 200,
    "30minute": 200,
    "60minute": 400,
    "day": 2000,
}
DAY_END = time(23, 59, 59)


def check_interval(interval: str) -> None:
    if interval not in MAX_DAYS_PER_REQUEST:
        raise ValueError(f"interval must be one of {', '.join(MAX_DAYS_PER_REQUEST)}, not {interval!r}")


def as_moment(value, end_of_day: bool = False) -> datetime:
    """A datetime in IST from a datetime (naive ones are IST, as Kite reads them), a date, or a
    'yyyy-mm-dd[ hh:mm:ss]' string. A bare date means its start, or its end with `end_of_day`."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip()) if len(value.strip()) > 10 else date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"dates are 'yyyy-mm-dd' or 'yyyy-mm-dd hh:mm:ss', not {value[:40]!r}") from None
    if isinstance(value, datetime):
        return as_ist(value)
    if isinstance(value, date):
        return as_ist(datetime.combine(value, DAY_END if end_of_day else time(0)))
    raise TypeError(f"a date, a datetime or a 'yyyy-mm-dd hh:mm:ss' string, not {type(value).__name__}")


def request_windows(days: list, interval: str) -> list:
    """(from, to) datetimes that cover `days` (sorted dates) in the fewest requests: each run of
    consecutive days in pieces of at most MAX_DAYS_PER_REQUEST[interval] days."""
    check_interval(interval)
    most = MAX_DAYS_PER_REQUEST[interval]
    windows, run = [], []
    for day in days:
        if run and (day != run[-1] + timedelta(days=1) or len(run) == most):
            windows.append(_window(run))
            run = []
        run.append(day)
    if run:
        windows.append(_window(run))
    return windows


def _window(run: list) -> tuple:
    return as_ist(datetime.combine(run[0], time(0))), as_ist(datetime.combine(run[-1], DAY_END))


def days_between(start: datetime, end: datetime) -> list:
    """Every date from start's to end's, both included."""
    first, last = start.date(), end.date()
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def kite_time(moment: datetime) -> str:
    """The 'yyyy-mm-dd hh:mm:ss' (IST) Kite's historical API reads."""
    return as_ist(moment).strftime("%Y-%m-%d %H:%M:%S")
