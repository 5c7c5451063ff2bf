"""The script ticker (websockets, no twisted) against the sandbox's ticker and through the hub: ticks as
KiteTicker's dicts, start and stop again and again in one process, inside a running asyncio loop,
reconnected and resubscribed after a drop, refused credentials said plainly."""

import asyncio
import time

import pytest

from kite_sandbox.server import create_sandbox_app
from kite_service.ticker.script_ticker import ScriptTicker, TickerRefusedError

INFY, NIFTY = 408065, 256265


@pytest.fixture
def sandbox_app(demo, running_clock):
    return create_sandbox_app(demo, clock=running_clock, enforce_rate_limits=False)  # ticks in real time


@pytest.fixture
def market(sandbox_app):
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    return market


def straight_to_the_sandbox(sandbox_ticker, official_kite, **callbacks) -> ScriptTicker:
    return ScriptTicker(sandbox_ticker.url, official_kite.api_key, official_kite.access_token, **callbacks)


def first_ticks(ticker: ScriptTicker, wanted=lambda ticks: True, seconds: float = 8.0) -> list:
    deadline = time.monotonic() + seconds
    for ticks in ticker:
        if wanted(ticks) or time.monotonic() > deadline:
            return ticks
    return []


def test_ticks_are_kitetickers_dicts_in_the_mode_asked(sandbox_ticker, official_kite, market):
    with straight_to_the_sandbox(sandbox_ticker, official_kite).subscribe([INFY], "full") as ticker:
        [tick] = first_ticks(ticker)
    quote = official_kite.quote("NSE:INFY")["NSE:INFY"]
    assert (tick["mode"], tick["instrument_token"], tick["last_price"]) == ("full", INFY, 1500.0)
    assert tick["ohlc"] == quote["ohlc"] and tick["depth"]["sell"][0]["price"] == quote["depth"]["sell"][0]["price"]


def test_through_the_hub_with_callbacks_and_a_mode_change(hub, market):
    url, app = hub
    client, token = app.extensions["kite_app"].gateway.clients.add("script")
    seen = []
    ticker = ScriptTicker(url, client.api_key, token, on_ticks=seen.extend).subscribe([INFY, NIFTY], "ltp")
    ticker.start()
    try:
        assert wait_for(lambda: {t["instrument_token"] for t in seen} == {INFY, NIFTY})
        assert {t["mode"] for t in seen} == {"ltp"}
        ticker.set_mode("quote", [INFY])
        seen.clear()
        assert wait_for(lambda: any(t["mode"] == "quote" and t["instrument_token"] == INFY for t in seen))
        ticker.unsubscribe([NIFTY])
        time.sleep(1.2)
        seen.clear()
        assert wait_for(lambda: len(seen) >= 2) and {t["instrument_token"] for t in seen} == {INFY}
    finally:
        ticker.stop()


def test_start_and_stop_twenty_times_in_one_process(sandbox_ticker, official_kite, market):
    ticker = straight_to_the_sandbox(sandbox_ticker, official_kite).subscribe([INFY], "ltp")
    for _ in range(20):
        ticker.start()
        assert ticker.connected.wait(5)
        ticker.stop()
        assert not ticker.connected.is_set()
    with ticker:
        assert first_ticks(ticker)[0]["last_price"] == 1500.0  # and it still works
    assert len(sandbox_ticker._connections) == 0 or wait_for(lambda: len(sandbox_ticker._connections) == 0)


def test_inside_a_running_asyncio_loop_as_in_jupyter(sandbox_ticker, official_kite, market):
    async def notebook_cell():
        with straight_to_the_sandbox(sandbox_ticker, official_kite).subscribe([INFY], "quote") as ticker:
            return first_ticks(ticker)

    assert asyncio.run(notebook_cell())[0]["instrument_token"] == INFY
    assert asyncio.run(notebook_cell())[0]["instrument_token"] == INFY  # a cell run again


def test_a_dropped_connection_is_reconnected_and_resubscribed(sandbox_ticker, official_kite, market):
    with straight_to_the_sandbox(sandbox_ticker, official_kite).subscribe([INFY], "ltp") as ticker:
        first_ticks(ticker)
        assert sandbox_ticker.drop_all() == 1
        ticker.connected.clear()
        assert ticker.connected.wait(10)
        assert first_ticks(ticker)[0]["instrument_token"] == INFY


def test_refused_credentials_end_the_iterator_with_a_clear_error(sandbox_ticker, official_kite):
    ticker = ScriptTicker(sandbox_ticker.url, official_kite.api_key, "not-a-token").subscribe([INFY])
    with pytest.raises(TickerRefusedError, match="log in again"):
        for _ in ticker:
            pass


def test_a_callback_that_raises_does_not_stop_the_ticker(sandbox_ticker, official_kite, market):
    calls = []

    def broken(ticks):
        calls.append(ticks)
        raise ValueError("a bug in the strategy")

    ticker = straight_to_the_sandbox(sandbox_ticker, official_kite, on_ticks=broken).subscribe([INFY], "ltp")
    with ticker:
        assert wait_for(lambda: len(calls) >= 2)


def wait_for(condition, seconds: float = 8.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_an_unexpected_error_restarts_the_ticker_instead_of_ending_it(
    sandbox_ticker, official_kite, market, monkeypatch
):
    from kite_service.ticker import script_ticker

    real, failures = script_ticker.decode_frame, []

    def fails_once(frame):
        if not failures:
            failures.append(frame)
            raise RuntimeError("odd data")
        return real(frame)

    monkeypatch.setattr(script_ticker, "decode_frame", fails_once)
    got = []
    ticker = straight_to_the_sandbox(sandbox_ticker, official_kite, on_ticks=got.extend).subscribe([INFY], "ltp")
    with ticker:  # callbacks with a deadline: a ticker that ended would fail this, not hang it
        assert wait_for(lambda: got, seconds=12) and got[0]["instrument_token"] == INFY
    assert failures
