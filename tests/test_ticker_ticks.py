"""The script ticker's decoding gives exactly the dicts the official KiteTicker's parser gives."""

import random

import pytest

from conftest import MOCKS
from kite_sandbox.ticker_packets import frame, packet
from kite_service.ticker.ticks import decode_frame
from test_ticker_frames import random_tick


def official_parser():
    from kiteconnect import KiteTicker  # the official client's own decoder

    return KiteTicker.__new__(KiteTicker)


@pytest.mark.parametrize("token", [408065, 256265, (412 << 8) + 3, (77 << 8) + 6])  # stock, index, CDS, BCD
def test_every_mode_decodes_as_kitetickers_parser_does(token):
    rng = random.Random(token)
    parser = official_parser()
    for _ in range(30):
        tick = random_tick(token, rng)
        for mode in ("ltp", "quote", "full"):
            made = frame([packet(tick, mode)])
            assert decode_frame(made) == parser._parse_binary(made), mode


@pytest.mark.parametrize("mode", ["ltp", "quote", "full"])
def test_zerodhas_recorded_frames_decode_alike(mode):
    recorded = (MOCKS / f"ticker-packets/{mode}Mode_binary.packet").read_bytes()
    assert decode_frame(recorded) == official_parser()._parse_binary(recorded)


def test_a_heartbeat_has_no_ticks():
    assert decode_frame(b"\x00") == []
