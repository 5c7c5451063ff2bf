"""India Standard Time and the 06:00 IST session-expiry rule."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
IST_OFFSET_SECONDS = 5 * 3600 + 30 * 60  # IST is a fixed UTC+05:30 (no daylight saving)
SESSION_EXPIRY_HOUR = 6


def now_ist() -> datetime:
    """The current time as an aware datetime in Asia/Kolkata."""
    return datetime.now(IST)


def as_ist(moment: datetime) -> datetime:
    """Interpret a naive datetime as IST (Kite's convention) or convert an aware one."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=IST)
    return moment.astimezone(IST)


def session_expiry(login_time: datetime) -> datetime:
    """The first 06:00 IST strictly after `login_time`: when Kite kills the access token."""
    login = as_ist(login_time)
    expiry = login.replace(hour=SESSION_EXPIRY_HOUR, minute=0, second=0, microsecond=0)
    if login >= expiry:
        expiry += timedelta(days=1)  # IST has no DST, so a day is always 24 h
    return expiry


def trading_day(moment: datetime) -> str:
    """Kite's day that `moment` belongs to, as YYYY-MM-DD: from 06:00 IST to the next 06:00 IST.

    A session and the order book it shows last until 06:00 (not midnight), so 01:00 still belongs
    to the day before: an order seen at 23:59 is the same order, with the same state, at 00:01."""
    return (as_ist(moment) - timedelta(hours=SESSION_EXPIRY_HOUR)).date().isoformat()
