"""The hub's frame surgery: a frame taken apart and put together is Kite's frame again, and a packet
cut to a poorer mode is exactly the packet Kite sends in that mode."""

import random

import pytest

from conftest import MOCKS
from kite_sandbox.ticker_packets import Tick, frame, packet
from kite_service.ticker.frames import (
    FrameError,
    cut,
    join,
    join_pieces,
    mode_of,
    pieces_in_mode,
    split,
    split_pieces,
)


def random_tick(token: int, rng: random.Random) -> Tick:
    price = round(rng.uniform(10, 400 if token & 0xFF == 3 else 50_000), 2)  # CDS prices are in 10^-7 rupees
    levels = tuple((rng.randint(1, 900), round(price + step * 0.05, 2), rng.randint(1, 20)) for step in range(5))
    return Tick(
        token=token,
        last_price=price,
        last_quantity=rng.randint(1, 500),
        average_price=price,
        volume=rng.randint(0, 10**8),
        buy_quantity=rng.randint(0, 10**6),
        sell_quantity=rng.randint(0, 10**6),
        open=price,
        high=price + 5,
        low=price - 5,
        close=price - 1,
        last_trade_time=1_780_000_000,
        oi=rng.randint(0, 10**6),
        exchange_timestamp=1_780_000_001,
        bids=levels,
        offers=levels,
    )


@pytest.mark.parametrize("token", [408065, 256265, (412 << 8) + 3])  # a stock, an index, a currency pair
def test_a_cut_packet_is_kites_packet_in_that_mode(token):
    rng = random.Random(token)
    for _ in range(50):
        tick = random_tick(token, rng)
        full = packet(tick, "full")
        for mode in ("ltp", "quote", "full"):
            assert cut(full, mode) == packet(tick, mode)
            assert mode_of(packet(tick, mode)) == mode
        assert cut(packet(tick, "quote"), "ltp") == packet(tick, "ltp")
        assert cut(packet(tick, "ltp"), "full") == packet(tick, "ltp")  # never more than there is


@pytest.mark.parametrize("mode", ["ltp", "quote", "full"])
def test_recorded_frames_come_apart_and_back_together_byte_for_byte(mode):
    recorded = (MOCKS / f"ticker-packets/{mode}Mode_binary.packet").read_bytes()
    packets = split(recorded)
    assert list(packets) == [884737] and mode_of(packets[884737]) == mode
    assert join(list(packets.values())) == recorded


def test_frames_of_many_instruments():
    rng = random.Random(7)
    ticks = [random_tick(token, rng) for token in range(1000, 4000)]
    modes = [rng.choice(["ltp", "quote", "full"]) for _ in ticks]
    made = frame([packet(tick, mode) for tick, mode in zip(ticks, modes, strict=True)])
    packets = split(made)
    assert len(packets) == 3000 and [mode_of(p) for p in packets.values()] == modes
    assert join(list(packets.values())) == made


def test_heartbeats_and_broken_frames():
    assert split(b"\x00") == {} and join([]) == b"\x00"
    whole = frame([packet(Tick(token=408065, last_price=1500.0), "quote")])
    for broken in (whole[:-1], whole + b"\x00", whole[:3], b"\x00\x02" + whole[2:]):
        with pytest.raises(FrameError):
            split(broken)


@pytest.mark.parametrize("tokens", [range(1000, 1300), [408065, 256265, 408321], [408065]])  # alike, mixed, one
def test_pieces_cut_and_joined_give_the_same_frames_as_packets(tokens):
    rng = random.Random(len(tokens))
    made = frame([packet(random_tick(token, rng), "full") for token in tokens])
    pieces, packets = split_pieces(made), split(made)
    assert list(pieces) == list(packets) and join_pieces(list(pieces.values())) == made
    for mode in ("ltp", "quote", "full"):
        in_mode = pieces_in_mode(pieces, mode)
        assert join_pieces(list(in_mode.values())) == join([cut(p, mode) for p in packets.values()]), mode
    for broken in (made[:-1], made + b"\x00"):
        with pytest.raises(FrameError):
            split_pieces(broken)
