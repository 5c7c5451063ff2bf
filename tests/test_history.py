"""KiteAPI.historical_data over any range against the sandbox over real HTTP: Kite's windows in the
fewest requests, no candle missing or doubled at a seam, the shared cache asked first, today's
candles never cached, and a failure part-way that says how far it got and resumes there."""

import sqlite3
import threading
from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest

from kite_service.clock import IST
from kite_service.config.settings import load_settings
from kite_service.data.packed_candles import CANDLE
from kite_service.errors import HistoryIncompleteError

INFY = 408065
TODAY = date(2026, 11, 20)  # the sandbox's clock: 10:00 IST on this day


class Asked(list):
    """(from, to, status) of each historical request the sandbox saw, in order; `refused` holds the
    `from` of windows the sandbox answers with 429 (as Kite when overloaded), however often asked;
    `dropped` maps a window's `from` to how many more times its connection drops part-way."""

    refused: set
    dropped: dict


@pytest.fixture
def asked(sandbox_app):
    """Ask for this fixture before make_api: Flask takes hooks only before its first request."""
    from flask import request

    from kite_sandbox.error_responses import failure
    from kite_sandbox.faults import FAULT_KINDS

    seen = Asked()
    seen.refused = set()
    seen.dropped = {}

    @sandbox_app.before_request
    def refuse():
        if request.path.startswith("/instruments/historical/") and request.args.get("from") in seen.refused:
            return failure(429, "NetworkException", "Too many requests")
        if seen.dropped.get(request.args.get("from"), 0) > 0:
            seen.dropped[request.args["from"]] -= 1
            return FAULT_KINDS["connection-dropped"]()
        return None

    @sandbox_app.after_request
    def note(response):
        if request.path.startswith("/instruments/historical/"):
            seen.append((request.args["from"], request.args["to"], response.status_code))
        return response

    return seen


def sandbox_candles(sandbox_app, first: date, last: date) -> list:
    """The sandbox's own minute candles of INFY from `first` to `last`, a day at a time."""
    market = sandbox_app.extensions["kite_sandbox"].market
    infy, rows, day = market.by_token(INFY), [], first
    while day <= last:
        start = datetime(day.year, day.month, day.day, tzinfo=IST)
        rows += market.candles(infy, "minute", start, start + timedelta(hours=23, minutes=59), oi=False)
        day += timedelta(days=1)
    return rows


def test_130_days_of_minute_candles_come_in_the_fewest_requests_equal_to_the_sandboxs_own(asked, make_api, sandbox_app):
    first, last = TODAY - timedelta(days=130), TODAY - timedelta(days=1)
    candles = make_api().historical_data(INFY, first, last, "minute")
    assert len(asked) == 3  # 130 days in windows of at most 60: the least Kite allows
    assert all(status == 200 for *_, status in asked)
    starts = [c["date"] for c in candles]
    assert len(set(starts)) == len(starts) == 130 * 1440  # the sandbox trades around the clock
    assert all(later - earlier == timedelta(minutes=1) for earlier, later in pairwise(starts))
    own = sandbox_candles(sandbox_app, first, last)
    assert [[c["open"], c["high"], c["low"], c["close"], c["volume"]] for c in candles] == [row[1:6] for row in own]
    assert starts[0] == datetime(2026, 7, 13, 0, 0, tzinfo=IST) and starts[-1].date() == last


def test_the_same_call_again_asks_nothing_and_an_overlapping_one_only_the_new_days(asked, make_api):
    api = make_api()
    first = api.historical_data(INFY, "2026-08-01", "2026-09-30", "5minute")
    assert len(asked) == 1
    again = api.historical_data(INFY, "2026-08-01", "2026-09-30", "5minute")
    assert len(asked) == 1 and again == first
    wider = api.historical_data(INFY, "2026-09-01 09:15:00", "2026-10-10 15:30:00", "5minute")
    assert asked[1][:2] == ("2026-10-01 00:00:00", "2026-10-10 23:59:59") and len(asked) == 2
    assert wider[0]["date"] == datetime(2026, 9, 1, 9, 15, tzinfo=IST)
    assert wider[-1]["date"] == datetime(2026, 10, 10, 15, 30, tzinfo=IST)
    overlap = [c for c in first if c["date"] >= wider[0]["date"]]
    assert overlap == [c for c in wider if c["date"] <= first[-1]["date"]]  # the cache's, as Kite gave them


def test_todays_candles_are_asked_every_time_and_never_cached(asked, make_api, tmp_path, config):
    api = make_api()
    week = api.historical_data(INFY, TODAY - timedelta(days=6), TODAY, "minute")
    assert week[-1]["date"] == datetime(2026, 11, 20, 10, 0, tzinfo=IST)  # the forming candle, at 10:00
    api.historical_data(INFY, TODAY - timedelta(days=6), TODAY, "minute")
    assert [window for *window, _ in asked] == [
        ["2026-11-14 00:00:00", "2026-11-20 23:59:59"],
        ["2026-11-20 00:00:00", "2026-11-20 23:59:59"],  # the 6 closed days came from the cache
    ]
    cache = sqlite3.connect(load_settings(config).data_dir / "candles.sqlite3")
    day, packed = cache.execute("SELECT day, candles FROM days ORDER BY day DESC LIMIT 1").fetchone()
    assert day == "2026-11-19"  # nothing of today kept
    newest = list(CANDLE.iter_unpack(packed))[-1][0]
    assert datetime.fromtimestamp(newest, IST) == datetime(2026, 11, 19, 23, 59, tzinfo=IST)


def test_a_failure_part_way_says_how_far_it_got_and_the_same_call_resumes_there(asked, make_api):
    asked.refused.add("2026-05-01 00:00:00")  # the third of four windows: 429 past the retries
    api = make_api()
    with pytest.raises(HistoryIncompleteError) as failed:
        api.historical_data(INFY, "2026-01-01", "2026-06-30", "minute")
    assert (failed.value.fetched_until, failed.value.resume_from.date()) == (date(2026, 4, 30), date(2026, 5, 1))
    assert "fetched up to 2026-04-30" in str(failed.value) and "resume from 2026-05-01" in str(failed.value)
    asked.refused.clear()
    asked.clear()
    candles = api.historical_data(INFY, "2026-01-01", "2026-06-30", "minute")
    third, fourth = ("2026-05-01 00:00:00", "2026-06-29 23:59:59"), ("2026-06-30 00:00:00", "2026-06-30 23:59:59")
    assert asked[0][:2] == third and {tuple(window) for *window, _ in asked} <= {third, fourth}  # nothing before
    assert len(candles) == 181 * 1440 and len({c["date"] for c in candles}) == len(candles)


def test_a_connection_dropped_once_part_way_is_asked_again_and_nothing_is_missing(asked, make_api, sandbox_app):
    asked.dropped["2026-03-02 00:00:00"] = 1  # the second of three windows: its answer cut off once
    candles = make_api().historical_data(INFY, "2026-01-01", "2026-06-29", "minute")
    assert [window for window, *_ in asked].count("2026-03-02 00:00:00") == 2  # the one drop, then the answer
    assert len(asked) == 4
    own = sandbox_candles(sandbox_app, date(2026, 1, 1), date(2026, 6, 29))
    assert len(candles) == len(own) == 180 * 1440
    assert [[c["open"], c["high"], c["low"], c["close"], c["volume"]] for c in candles] == [row[1:6] for row in own]


def test_a_connection_that_keeps_dropping_part_way_says_how_far_it_got_and_the_call_resumes_there(asked, make_api):
    asked.dropped["2026-03-02 00:00:00"] = 100  # past the retries
    api = make_api()
    with pytest.raises(HistoryIncompleteError) as failed:
        api.historical_data(INFY, "2026-01-01", "2026-06-29", "minute")
    assert (failed.value.fetched_until, failed.value.resume_from.date()) == (date(2026, 3, 1), date(2026, 3, 2))
    assert "IncompleteRead" in str(failed.value)
    asked.dropped.clear()
    asked.clear()
    candles = api.historical_data(INFY, "2026-01-01", "2026-06-29", "minute")
    assert [window for window, *_ in asked] == ["2026-03-02 00:00:00"]  # the first and third windows were kept
    assert len(candles) == 180 * 1440 and len({c["date"] for c in candles}) == len(candles)


def test_two_scripts_at_once_share_the_cache_without_harm(make_api, sandbox_app, config):
    results, errors = {}, []

    def fetch(name, api):
        try:
            results[name] = api.historical_data(INFY, "2026-03-01", "2026-08-31", "3minute")
        except Exception as exc:  # reported below
            errors.append(exc)

    runs = [threading.Thread(target=fetch, args=(name, make_api())) for name in ("a", "b")]
    for run in runs:
        run.start()
    for run in runs:
        run.join(120)
    assert not errors and results["a"] == results["b"] and len(results["a"]) == 184 * 480
    cache = sqlite3.connect(load_settings(config).data_dir / "candles.sqlite3")
    assert cache.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    kept = cache.execute("SELECT count(*), sum(length(candles)) FROM days").fetchone()
    assert kept == (184, 184 * 480 * CANDLE.size)  # every day once, whole
    assert make_api().historical_data(INFY, "2026-03-01", "2026-08-31", "3minute") == results["a"]


def test_candles_come_as_a_dataframe_on_request(make_api):
    api = make_api()
    candles = api.historical_data(INFY, "2026-11-18", "2026-11-19", "60minute")
    frame = api.historical_data(INFY, "2026-11-18", "2026-11-19", "60minute", as_frame=True)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"] and len(frame) == len(candles) == 48
    assert [stamp.to_pydatetime() for stamp in frame.index] == [c["date"] for c in candles]
    assert frame["close"].tolist() == [c["close"] for c in candles]
    assert frame["volume"].tolist() == [c["volume"] for c in candles]
    today = api.historical_data(INFY, "2026-11-19", "2026-11-20", "minute", as_frame=True)  # cached and fetched
    assert today.index.is_unique and today.index.is_monotonic_increasing
    assert today.index[0].isoformat() == "2026-11-19T00:00:00+05:30" and len(today) == 1440 + 10 * 60 + 1
