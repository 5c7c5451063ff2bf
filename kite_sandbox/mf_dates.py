"""The mutual fund calendar: the daily 13:30 IST cut-off and SIP instalment dates."""

from datetime import date, datetime, time, timedelta

from .clock import IST

CUT_OFF = time(13, 30)


def cut_off_after(moment: datetime) -> datetime:
    """The first 13:30 IST cut-off at or after `moment` (the sandbox's market is open every day)."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=IST)
    cut_off = datetime.combine(moment.date(), CUT_OFF, IST)
    return cut_off if moment <= cut_off else cut_off + timedelta(days=1)


def next_date(after: date, frequency: str, day: int, first: bool = False) -> date:
    """The next instalment date after `after` (from `after` itself for a new SIP's first instalment)."""
    if frequency == "weekly":
        return after + timedelta(days=0 if first else 7)
    months = 1 if frequency == "monthly" else 3
    target_day = day or after.day
    candidate = on_day(after.year, after.month, target_day)
    if first and candidate >= after:
        return candidate
    year, month = divmod(after.month - 1 + months, 12)
    return on_day(after.year + year, month + 1, target_day)


def on_day(year: int, month: int, day: int) -> date:
    for candidate in range(min(day, 31), 27, -1):  # the 31st of a short month is its last day
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    return date(year, month, min(day, 28))
