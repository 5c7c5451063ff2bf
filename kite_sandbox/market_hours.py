"""When the sandbox's market is open: at every moment (the default), or NSE's hours and holidays."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")
NSE_OPEN, NSE_CLOSE = time(9, 15), time(15, 30)
KINDS = ("always", "nse")


@dataclass(frozen=True)
class MarketHours:
    """kind "always": open at every moment. kind "nse": 09:15-15:30 IST on weekdays not in `holidays`."""

    kind: str = "always"
    holidays: frozenset = frozenset()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"market hours must be one of {', '.join(KINDS)}, not {self.kind!r}")

    @classmethod
    def parse(cls, kind: str, holidays: str = "") -> "MarketHours":
        """From command-line text: `kind` and comma-separated dates like 2026-12-25 (ValueError if bad)."""
        days = frozenset(date.fromisoformat(text.strip()) for text in holidays.split(",") if text.strip())
        return cls(kind, days)

    def is_open(self, moment: datetime) -> bool:
        if self.kind == "always":
            return True
        local = moment.astimezone(IST)
        return self.trading_day(local.date()) and NSE_OPEN <= local.time() < NSE_CLOSE

    def trading_day(self, day: date) -> bool:
        return self.kind == "always" or (day.weekday() < 5 and day not in self.holidays)

    def next_open(self, moment: datetime) -> datetime:
        """When an after-market order placed at `moment` goes to the exchange: the next session's
        opening; on a market that never closes, the start of the next minute."""
        if self.kind == "always":
            return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        local = moment.astimezone(IST)
        day = local.date()
        while True:  # ends: a week has weekdays, and the holidays are finitely many
            opening = datetime.combine(day, NSE_OPEN, IST)
            if opening > local and self.trading_day(day):
                return opening
            day += timedelta(days=1)

    def describe(self) -> str:
        if self.kind == "always":
            return "always open (after-market orders go in at the next minute)"
        holidays = ", ".join(str(day) for day in sorted(self.holidays)) or "none"
        return f"NSE's, 09:15-15:30 IST on weekdays; holidays: {holidays}"
