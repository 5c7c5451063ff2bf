"""The sandbox's clock: India Standard Time and the daily end of Kite's sessions at 06:00 IST.

Written from Kite's documentation, not shared with the service, so that the service's own reading
of the rule is tested against this one: "The access_token ... is valid until 6 AM on the next day
(regulatory requirement)" (Kite Connect v3 docs, User / Login flow).
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
SESSION_ENDS_AT_HOUR = 6


def now_ist() -> datetime:
    """The current time in IST."""
    return datetime.now(IST)


def session_expiry(login: datetime) -> datetime:
    """When a session logged in at `login` ends: the first 06:00 IST after it."""
    login = login.astimezone(IST)
    end = login.replace(hour=SESSION_ENDS_AT_HOUR, minute=0, second=0, microsecond=0)
    return end if login < end else end + timedelta(days=1)
