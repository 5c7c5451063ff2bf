"""The sandbox's market through the official kiteconnect client: one seeded walk behind every price."""

from datetime import datetime, timedelta
from itertools import pairwise

import pytest
import requests

from kite_sandbox.server import create_sandbox_app
from sandbox_support import official_client_login

INFY = 408065


@pytest.fixture
def sandbox_app(demo, clock):
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def test_five_minute_candles_aggregate_the_minute_candles(official_kite, clock):
    start, end = naive(clock() - timedelta(hours=3)), naive(clock())
    minutes = official_kite.historical_data(INFY, start, end, "minute")
    fives = official_kite.historical_data(INFY, start, end, "5minute")
    assert len(minutes) == 181 and len(fives) == 37  # 3 hours, both ends included; the last one in progress
    for five in fives:
        inside = [m for m in minutes if five["date"] <= m["date"] < five["date"] + timedelta(minutes=5)]
        assert five["open"] == inside[0]["open"] and five["close"] == inside[-1]["close"]
        assert five["high"] == max(m["high"] for m in inside) and five["low"] == min(m["low"] for m in inside)
        assert five["volume"] == sum(m["volume"] for m in inside)
    assert len({(m["open"], m["close"]) for m in minutes}) > 150  # no repeating pattern


def test_day_candles_are_real_and_yesterdays_close_is_the_quotes_previous_close(official_kite, clock):
    days = official_kite.historical_data(INFY, naive(clock() - timedelta(days=30)), naive(clock()), "day")
    assert len(days) == 31 and days[-1]["date"].date() == clock().date()
    assert all(d["low"] < min(d["open"], d["close"]) <= max(d["open"], d["close"]) < d["high"] for d in days)
    assert len({d["close"] for d in days}) == len(days)
    quote = official_kite.quote("NSE:INFY")["NSE:INFY"]
    assert quote["ohlc"]["close"] == days[-2]["close"]
    assert quote["ohlc"]["open"] == days[-1]["open"] and quote["last_price"] == days[-1]["close"]
    assert quote["net_change"] == pytest.approx(quote["last_price"] - days[-2]["close"], abs=0.01)
    assert official_kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"] == quote["last_price"]
    assert official_kite.ohlc("NSE:INFY")["NSE:INFY"]["ohlc"] == quote["ohlc"]
    daily_moves = [abs(b["close"] / a["close"] - 1) for a, b in pairwise(days)]
    assert 0.003 < sum(daily_moves) / len(daily_moves) < 0.04  # a stock's day, not a flat line


def test_nothing_is_dated_after_now(official_kite, clock):
    ahead = naive(clock() + timedelta(days=5))
    for interval in ("minute", "15minute", "day"):
        candles = official_kite.historical_data(INFY, naive(clock() - timedelta(days=2)), ahead, interval)
        assert candles and max(c["date"] for c in candles) <= clock()
    clock.advance(61)
    later = official_kite.historical_data(INFY, naive(clock() - timedelta(minutes=5)), naive(clock()), "minute")
    assert later[-1]["date"] == clock().replace(second=0, microsecond=0)


def test_the_last_candle_follows_the_live_price(official_kite, clock):
    for _ in range(5):
        clock.advance(13)
        candle = official_kite.historical_data(INFY, naive(clock() - timedelta(minutes=2)), naive(clock()), "minute")[
            -1
        ]
        last = official_kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
        assert candle["close"] == last and candle["low"] <= last <= candle["high"]


def test_the_walk_is_reproducible_from_its_seed(tmp_path, demo, clock):
    from kite_sandbox.serving import start_in_background

    def history(seed):
        app = create_sandbox_app(demo, clock=clock, enforce_rate_limits=False, seed=seed)
        server = start_in_background(app, "127.0.0.1", 0)
        try:
            kite = official_client_login(f"http://127.0.0.1:{server.effective_port}", demo)
            return kite.historical_data(INFY, naive(clock() - timedelta(days=3)), naive(clock()), "30minute")
        finally:
            server.close()

    assert history(7) == history(7)
    assert history(7) != history(8)


def test_instruments_include_live_futures_and_options_named_as_kite_names_them(official_kite, clock):
    nfo = official_kite.instruments("NFO")
    today = clock().date()
    assert nfo and all(row["expiry"] >= today for row in nfo)  # the recording's 2017-2018 contracts are gone
    kinds = {(row["name"], row["instrument_type"], row["segment"]) for row in nfo}
    assert {("NIFTY", "FUT", "NFO-FUT"), ("NIFTY", "CE", "NFO-OPT"), ("BANKNIFTY", "PE", "NFO-OPT")} <= kinds
    nifty = [row for row in nfo if row["name"] == "NIFTY"]
    assert {row["lot_size"] for row in nifty} == {65}
    expiries = sorted({row["expiry"] for row in nifty})
    assert all(e.weekday() == 1 for e in expiries)  # NSE's F&O expiries fall on Tuesdays
    monthly = [r for r in nifty if r["tradingsymbol"] == f"NIFTY{r['expiry']:%y%b}".upper() + f"{int(r['strike'])}CE"]
    weekly = [r for r in nifty if r["tradingsymbol"].startswith(f"NIFTY{expiries[0]:%y}")]
    assert monthly and weekly
    future = next(r for r in nifty if r["instrument_type"] == "FUT")
    quote = official_kite.quote(f"NFO:{future['tradingsymbol']}")[f"NFO:{future['tradingsymbol']}"]
    spot = official_kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"]
    assert spot < quote["last_price"] < spot * 1.02  # a future trades at a small premium to spot
    assert quote["oi"] > 0


def test_options_move_with_their_underlying(official_kite, sandbox_app, clock):
    market = sandbox_app.extensions["kite_sandbox"].market
    nifty = market.by_symbol("NSE", "NIFTY 50")
    calls = [i for i in market.instruments if i.name == "NIFTY" and i.instrument_type == "CE"]
    call = min(calls, key=lambda i: (i.expiry, abs(i.strike - market.price(nifty))))
    put = market.by_symbol("NFO", call.tradingsymbol[:-2] + "PE")
    key_call, key_put = f"NFO:{call.tradingsymbol}", f"NFO:{put.tradingsymbol}"
    before = official_kite.ltp(key_call, key_put)
    market.pin_price(nifty, market.price(nifty) + 200)
    after = official_kite.ltp(key_call, key_put)
    assert after[key_call]["last_price"] > before[key_call]["last_price"] + 50
    assert after[key_put]["last_price"] < before[key_put]["last_price"]


def test_a_historical_request_beyond_kites_range_is_refused(official_kite, clock):
    from kite_service.kite.sdk import kite_errors

    with pytest.raises(kite_errors.InputException, match="60 days"):
        official_kite.historical_data(INFY, naive(clock() - timedelta(days=61)), naive(clock()), "minute")
    # The longest range Kite allows is answered: read raw, as kiteconnect would parse 86,400 dates one by one
    answer = requests.get(
        f"{official_kite.root}/instruments/historical/{INFY}/minute",
        params={"from": naive(clock() - timedelta(days=60)), "to": naive(clock())},
        headers={"X-Kite-Version": "3", "Authorization": f"token {official_kite.api_key}:{official_kite.access_token}"},
        timeout=30,
    )
    assert answer.status_code == 200 and len(answer.json()["data"]["candles"]) == 60 * 1440 + 1


@pytest.mark.parametrize("kind", ["stock", "call", "put"])
def test_the_quotes_day_figures_are_the_days_minute_candles_as_time_passes(official_kite, sandbox_app, clock, kind):
    market = sandbox_app.extensions["kite_sandbox"].market
    instrument = market.by_symbol("NSE", "INFY")
    if kind != "stock":
        nifty = market.price(market.by_symbol("NSE", "NIFTY 50"))
        options = [i for i in market.instruments if i.name == "NIFTY" and i.instrument_type == kind[0].upper() + "E"]
        instrument = min(options, key=lambda i: (i.expiry, abs(i.strike - nifty)))
    key = f"{instrument.exchange}:{instrument.tradingsymbol}"
    for step in (0, 25, 40, 130, 4 * 60, 3 * 3600):  # within a minute, a minute on, a few, then hours on
        clock.advance(step)
        quote = official_kite.quote(key)[key]
        midnight = naive(clock()).replace(hour=0, minute=0, second=0)
        candles = official_kite.historical_data(instrument.token, midnight, naive(clock()), "minute")
        assert quote["ohlc"]["open"] == candles[0]["open"]
        assert quote["ohlc"]["high"] == max(c["high"] for c in candles)
        assert quote["ohlc"]["low"] == min(c["low"] for c in candles)
        assert quote["last_price"] == candles[-1]["close"]
        assert quote["volume"] == sum(c["volume"] for c in candles)
