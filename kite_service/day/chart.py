"""The day's P&L minute by minute as an SVG drawn on the server: no script, no library, no request.

Only the geometry is worked out here; templates/day_sections.html writes the SVG elements (with
Jinja's escaping) from it. The time axis runs from the market's open (09:15 IST) to its close
(15:30 IST), or wider when the curve starts earlier or goes on later (commodities trade till 23:55);
the money axis always holds zero and, when MAX_DAILY_LOSS is set, the limit's line at minus it.
"""

from dataclasses import dataclass
from datetime import datetime

OPEN_MINUTE = 9 * 60 + 15  # 09:15 IST, NSE's open (the axis starts here unless the curve starts earlier)
CLOSE_MINUTE = 15 * 60 + 30  # 15:30 IST
WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 78, 12, 12, 28  # room for the axes' labels


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    line: str  # the polyline's points, "x,y x,y ..."; "" with fewer than one point
    zero_y: float
    limit_y: float | None  # the line at minus MAX_DAILY_LOSS, when set
    limit: float | None
    y_ticks: list  # [(y, value)]
    x_ticks: list  # [(x, "HH:MM")]
    last: tuple | None  # (x, y, value) of the newest point
    low: float | None
    high: float | None


def _minute(key: str) -> int:
    """Minutes since the trading day's midnight of "YYYY-MM-DDTHH:MM" (after midnight: past 24:00)."""
    moment = datetime.fromisoformat(key)
    minutes = moment.hour * 60 + moment.minute
    return minutes + 24 * 60 if moment.hour < 6 else minutes  # Kite's day ends at 06:00 IST


def _nice_step(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about four ticks over `span`."""
    raw = span / 4
    power = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1
    return next((step * power for step in (1, 2, 5, 10) if step * power >= raw), 10 * power)


def pnl_chart(curve: list, limit: float | None) -> Chart:
    """The chart of `curve` ([("YYYY-MM-DDTHH:MM", total), ...], in order) with the limit's line."""
    points = [(_minute(key), value) for key, value in curve]
    first = min([OPEN_MINUTE, *(m for m, _ in points)])
    end = max([CLOSE_MINUTE, *(m for m, _ in points)])
    values = [value for _, value in points]
    low = min([0.0, *values, *([-limit] if limit else [])])
    high = max([0.0, *values])
    step = _nice_step((high - low) or 1000.0)
    low = (low // step) * step
    high = -((-high) // step) * step
    if high == low:
        high = low + step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(minute: float) -> float:
        return round(LEFT + (minute - first) / (end - first) * plot_w, 1)

    def y_of(value: float) -> float:
        return round(TOP + (high - value) / (high - low) * plot_h, 1)

    y_ticks = []
    value = low
    while value <= high + step / 2:
        y_ticks.append((y_of(value), value))
        value += step
    x_ticks = [(x_of(m), f"{(m // 60) % 24:02d}:{m % 60:02d}") for m in range(first - first % 60 + 60, end + 1, 60)]
    line = " ".join(f"{x_of(m)},{y_of(v)}" for m, v in points)
    last = (x_of(points[-1][0]), y_of(points[-1][1]), points[-1][1]) if points else None
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        line=line,
        zero_y=y_of(0.0),
        limit_y=y_of(-limit) if limit else None,
        limit=limit,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        last=last,
        low=min(values) if values else None,
        high=max(values) if values else None,
    )
