"""Long ranges cut into Kite's windows, and candle_history's joins, cache and failures with a fake Kite."""

from datetime import date, datetime, timedelta

import pytest
import requests

from kite_service.clock import IST
from kite_service.data.candle_cache import CandleCache
from kite_service.data.history import candle_history
from kite_service.data.history_windows import MAX_DAYS_PER_REQUEST, as_moment, request_windows
from kite_service.errors import HistoryIncompleteError

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=IST)


def days(first: date, count: int) -> list:
    return [first + timedelta(days=k) for k in range(count)]


def test_a_long_run_of_days_is_cut_at_midnights_into_the_fewest_windows_kite_allows():
    windows = request_windows(days(date(2026, 1, 1), 130), "minute")
    assert [(start.date(), end.date()) for start, end in windows] == [
        (date(2026, 1, 1), date(2026, 3, 1)),
        (date(2026, 3, 2), date(2026, 4, 30)),
        (date(2026, 5, 1), date(2026, 5, 10)),
    ]
    for start, end in windows:  # within Kite's rule "to - from <= 60 days", and touching at midnight
        assert (start.hour, start.minute, start.second, end.hour, end.minute, end.second) == (0, 0, 0, 23, 59, 59)
        assert end - start <= timedelta(days=MAX_DAYS_PER_REQUEST["minute"])
    assert [windows[k + 1][0] - windows[k][1] for k in range(2)] == [timedelta(seconds=1)] * 2
    assert len(request_windows(days(date(2020, 1, 1), 2001), "day")) == 2


def test_days_already_held_split_the_windows_around_them():
    wanted = days(date(2026, 1, 1), 10) + days(date(2026, 1, 20), 5)
    assert [(s.date(), e.date()) for s, e in request_windows(wanted, "day")] == [
        (date(2026, 1, 1), date(2026, 1, 10)),
        (date(2026, 1, 20), date(2026, 1, 24)),
    ]


def test_dates_and_intervals_kite_would_refuse_are_refused_here_first():
    with pytest.raises(ValueError, match="interval must be one of minute"):
        request_windows([], "2minute")
    with pytest.raises(ValueError, match="yyyy-mm-dd"):
        as_moment("20-11-2026")
    assert as_moment("2026-11-20") == datetime(2026, 11, 20, tzinfo=IST)
    assert as_moment(date(2026, 11, 20), end_of_day=True) == datetime(2026, 11, 20, 23, 59, 59, tzinfo=IST)


class FakeKite:
    """Day candles, one per day at 00:00 IST; fails (as told) on the Nth request, or on every request of
    the window starting at `fail_start` (windows are fetched side by side: which comes Nth is chance)."""

    def __init__(self, fail_on: int | None = None, error: Exception | None = None, fail_start: str | None = None):
        self.asked, self.fail_on, self.error, self.fail_start = [], fail_on, error, fail_start

    def __call__(self, start: str, end: str) -> list:
        self.asked.append((start, end))
        if len(self.asked) == self.fail_on or start == self.fail_start:
            raise self.error
        first = datetime.fromisoformat(start).replace(tzinfo=IST)
        last = datetime.fromisoformat(end).replace(tzinfo=IST)
        candles, day = [], first
        while day <= min(last, NOW):
            price = float(day.toordinal() % 1000)
            candles.append([day.strftime("%Y-%m-%dT%H:%M:%S%z"), price, price, price, price, 1])  # as Kite sends
            day += timedelta(days=1)
        return candles


def history(kite, cache, start, end) -> list:
    return candle_history(kite, cache, 408065, start, end, "day", False, False, NOW)


def test_a_dropped_connection_part_way_keeps_what_came_and_the_next_call_fetches_the_rest(tmp_path):
    cache = CandleCache(tmp_path / "candles.sqlite3")
    dropped = FakeKite(error=requests.ConnectionError("Connection reset by peer"), fail_start="2020-06-23 00:00:00")
    with pytest.raises(HistoryIncompleteError, match=r"fetched up to 2020-06-22.*resume from 2020-06-23"):
        history(dropped, cache, "2015-01-01", "2026-11-19")
    healthy = FakeKite()
    rows = history(healthy, cache, "2015-01-01", "2026-11-19")
    second, third = ("2020-06-23 00:00:00", "2025-12-13 23:59:59"), ("2025-12-14 00:00:00", "2026-11-19 23:59:59")
    assert healthy.asked[0] == second and set(healthy.asked) <= {second, third}  # the third may have come before
    assert len(rows) == (date(2026, 11, 19) - date(2015, 1, 1)).days + 1
    assert len({row[0] for row in rows}) == len(rows)


def test_without_a_usable_cache_candles_still_come_from_kite(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "candles.sqlite3").write_text("not a database")
    kite = FakeKite()
    rows = history(kite, CandleCache(folder / "candles.sqlite3"), "2026-01-01", "2026-01-31")
    assert len(rows) == 31 and len(kite.asked) == 1
    history(kite, CandleCache(folder / "candles.sqlite3"), "2026-01-01", "2026-01-31")
    assert len(kite.asked) == 2  # nothing kept: asked again


def test_kites_own_refusal_comes_as_it_is_and_a_folder_that_cannot_hold_the_cache_costs_nothing(tmp_path):
    from kite_service.kite.sdk import kite_errors

    refused = FakeKite(fail_on=1, error=kite_errors.InputException("invalid token"))
    with pytest.raises(kite_errors.InputException):  # not "call again to resume": it would fail again
        history(refused, CandleCache(tmp_path / "candles.sqlite3"), "2026-01-01", "2026-01-31")
    (tmp_path / "a-file").write_text("")
    kite = FakeKite()
    rows = history(kite, CandleCache(tmp_path / "a-file" / "candles.sqlite3"), "2026-01-01", "2026-01-31")
    assert len(rows) == 31 and len(kite.asked) == 1


def test_a_price_made_by_float_arithmetic_still_fits_its_tick():
    from kite_service.data.order_fit import OrderMisfitError, check_order

    infy = {"exchange": "NSE", "tradingsymbol": "INFY", "tick_size": 0.05, "lot_size": 1, "name": "INFOSYS"}
    check_order(infy, {"price": 100.1 + 0.05, "quantity": 1}, None)  # 100.14999999999999 (no freeze for NSE)
    with pytest.raises(OrderMisfitError, match=r"100\.10 and 100\.15"):
        check_order(infy, {"price": 100.12, "quantity": 1}, None)
