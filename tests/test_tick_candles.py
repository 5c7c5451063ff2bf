"""Candles built from ticks: OHLC from last prices, volume from the change in volume_traded, closed
after the minute and a grace; and against the sandbox's own minute candles for the same minutes."""

from datetime import datetime, timedelta

from kite_sandbox.ticker import tick_for
from kite_sandbox.ticker_packets import packet
from kite_service.clock import IST
from kite_service.data.tick_candles import TickCandles
from kite_service.ticker.ticks import decode

INFY = 408065
TEN = datetime(2026, 11, 20, 10, 0, tzinfo=IST)


class Clock:
    def __init__(self, moment: datetime):
        self.at = moment.timestamp()

    def __call__(self) -> float:
        return self.at


def tick(at: datetime, price: float, traded: int) -> dict:
    stamp = datetime.fromtimestamp(at.timestamp())  # naive local, as KiteTicker gives it
    return {"instrument_token": INFY, "last_price": price, "volume_traded": traded, "exchange_timestamp": stamp}


def test_a_minute_closes_after_its_grace_with_late_ticks_in_and_later_ones_out():
    clock = Clock(TEN)
    closed = []
    candles = TickCandles(grace_seconds=2, on_candle=closed.append, clock=clock)
    candles.add([tick(TEN, 100.0, 1000), tick(TEN + timedelta(seconds=20), 102.0, 1010)])
    candles.add([tick(TEN + timedelta(seconds=40), 99.0, 1025)])
    clock.at = (TEN + timedelta(seconds=61)).timestamp()
    assert candles.add([tick(TEN + timedelta(seconds=61), 99.5, 1030)]) == [] and closed == []
    assert candles.add([tick(TEN + timedelta(seconds=59), 101.0, 1040)]) == []  # late, within the grace
    clock.at = (TEN + timedelta(seconds=62)).timestamp()
    [minute] = candles.close_due()
    assert minute == {
        "instrument_token": INFY,
        "date": TEN,
        "open": 100.0,
        "high": 102.0,
        "low": 99.0,
        "close": 101.0,
        "volume": 35,  # 1040 - 1000 less the 10:01 tick's 5: the first tick seen adds none
        "ticks": 4,
    } and closed == [minute]
    candles.add([tick(TEN + timedelta(seconds=58), 98.0, 1041)])
    assert candles.late == 1  # its minute had closed: not added


def test_n_minute_candles_start_at_0915_as_kites_do():
    clock = Clock(TEN)
    for minutes, at, start in ((5, (9, 17), (9, 15)), (10, (9, 26), (9, 25)), (60, (10, 14), (9, 15))):
        candles = TickCandles(minutes=minutes, grace_seconds=0, clock=clock)
        moment = TEN.replace(hour=at[0], minute=at[1])
        clock.at = moment.timestamp()
        candles.add([tick(moment, 100.0, 1)])
        clock.at += 3600 * 2
        assert candles.close_due()[0]["date"] == TEN.replace(hour=start[0], minute=start[1]), minutes


def test_candles_from_the_sandboxs_ticks_against_its_own_minute_candles(market):
    infy = market.by_token(INFY)
    first = TEN - timedelta(minutes=30)
    clock = Clock(first)
    candles = TickCandles(grace_seconds=2, clock=clock)
    built = []
    for second in range(30 * 60 + 3):  # a tick a second, as Kite's ticker sends them
        moment = first + timedelta(seconds=second)
        clock.at = moment.timestamp()
        built += candles.add([decode(packet(tick_for(market, infy, moment), "full"))])
    kite = market.candles(infy, "minute", first, TEN - timedelta(minutes=1), oi=False)
    assert len(built) == len(kite) == 30
    for ours, theirs in zip(built, kite, strict=True):
        _, open_, high, low, close, volume = theirs
        assert ours["date"].strftime("%Y-%m-%dT%H:%M:%S+0530") == theirs[0]
        # The sandbox's walk moves once a second, as its ticks come: the same open, high and low. Its
        # candle closes on the minute's last price, the ticks on second 59's: up to 2 ticks apart.
        assert (ours["open"], ours["high"], ours["low"]) == (open_, high, low)
        assert abs(ours["close"] - close) <= 2 * infy.tick_size + 1e-9
        assert abs(volume - ours["volume"]) <= 0.1 * volume  # a boundary's trades fall in the next minute
    total, ours_total = sum(row[5] for row in kite), sum(candle["volume"] for candle in built)
    assert abs(total - ours_total) <= 0.005 * total  # over the half hour they agree
