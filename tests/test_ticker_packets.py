"""Kite's binary ticker packets: ours reproduce Zerodha's recorded bytes, and the official parser reads them."""

import base64
import json
from datetime import datetime

import pytest

from conftest import MOCKS
from kite_sandbox.ticker_packets import HEARTBEAT, Tick, frame, packet


def recorded_mock(name: str):
    """Zerodha's recorded ticker data (kiteconnect-mocks and kiteconnectjs's test frames)."""
    return MOCKS / name


def official_parser():
    from kiteconnect import KiteTicker  # the official client's own decoder

    return KiteTicker.__new__(KiteTicker)


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def tick_from_recorded(data: dict) -> Tick:
    ohlc = data.get("ohlc", {})
    depth = data.get("depth", {"buy": [], "sell": []})
    return Tick(
        token=data["instrument_token"],
        last_price=data["last_price"],
        last_quantity=data.get("last_quantity", 0),
        average_price=data.get("average_price", 0.0),
        volume=data.get("volume", 0),
        buy_quantity=data.get("buy_quantity", 0),
        sell_quantity=data.get("sell_quantity", 0),
        open=ohlc.get("open", 0.0),
        high=ohlc.get("high", 0.0),
        low=ohlc.get("low", 0.0),
        close=ohlc.get("close", 0.0),
        last_trade_time=epoch(data["last_trade_time"]) if "last_trade_time" in data else 0,
        oi=data.get("oi", 0),
        oi_day_high=data.get("oi_day_high", 0),
        oi_day_low=data.get("oi_day_low", 0),
        exchange_timestamp=epoch(data["timestamp"]) if "timestamp" in data else 0,
        bids=tuple((d["quantity"], d["price"], d["orders"]) for d in depth["buy"]),
        offers=tuple((d["quantity"], d["price"], d["orders"]) for d in depth["sell"]),
    )


@pytest.mark.parametrize("mode", ["full", "quote"])
def test_our_packets_are_zerodhas_recorded_bytes(mode):
    recorded_bytes = base64.b64decode(recorded_mock(f"ticker_{mode}.packet").read_text())
    decoded = json.loads(recorded_mock(f"ticker_{mode}.json").read_text())
    assert packet(tick_from_recorded(decoded), mode) == recorded_bytes


def test_ltp_packet_decodes_to_the_recorded_tick():
    decoded = json.loads(recorded_mock("ticker_ltp.json").read_text())
    ours = frame([packet(tick_from_recorded(decoded), "ltp")])
    [tick] = official_parser()._parse_binary(ours)
    assert tick == {key: decoded[key] for key in ("tradable", "mode", "instrument_token", "last_price")}


@pytest.mark.parametrize(("mode", "size"), [("ltp", 12), ("quote", 48), ("full", 188)])
def test_recorded_frames_come_out_byte_for_byte(mode, size):
    """kiteconnectjs's recorded frames (instrument 884737): decoded by the official parser, re-encoded by us."""
    recorded_frame = recorded_mock(f"ticker-packets/{mode}Mode_binary.packet").read_bytes()
    assert len(recorded_frame) == size
    [decoded] = official_parser()._parse_binary(recorded_frame)
    data = {
        "instrument_token": decoded["instrument_token"],
        "last_price": decoded["last_price"],
        "last_quantity": decoded.get("last_traded_quantity", 0),
        "average_price": decoded.get("average_traded_price", 0.0),
        "volume": decoded.get("volume_traded", 0),
        "buy_quantity": decoded.get("total_buy_quantity", 0),
        "sell_quantity": decoded.get("total_sell_quantity", 0),
        "ohlc": decoded.get("ohlc", {}),
        "oi": decoded.get("oi", 0),
        "oi_day_high": decoded.get("oi_day_high", 0),
        "oi_day_low": decoded.get("oi_day_low", 0),
        "depth": decoded.get("depth", {"buy": [], "sell": []}),
    }
    if mode == "full":
        data["last_trade_time"] = decoded["last_trade_time"].isoformat()
        data["timestamp"] = decoded["exchange_timestamp"].isoformat()
    assert frame([packet(tick_from_recorded(data), mode)]) == recorded_frame


def test_index_packets_have_the_index_layout():
    nifty = Tick(token=256265, last_price=24012.35, open=23950.0, high=24050.5, low=23900.25, close=23980.0)
    parser = official_parser()
    quote, full = (parser._parse_binary(frame([packet(nifty, mode)]))[0] for mode in ("quote", "full"))
    assert len(packet(nifty, "quote")) == 28 and len(packet(nifty, "full")) == 32
    assert quote["tradable"] is False and quote["mode"] == "quote" and full["mode"] == "full"
    assert quote["ohlc"] == {"open": 23950.0, "high": 24050.5, "low": 23900.25, "close": 23980.0}
    assert quote["last_price"] == 24012.35


def test_currency_prices_use_kites_divisors():
    cds = Tick(token=(412 << 8) + 3, last_price=83.1275)  # CDS: 10^7
    [decoded] = official_parser()._parse_binary(frame([packet(cds, "ltp")]))
    assert decoded["last_price"] == pytest.approx(83.1275)
    assert packet(cds, "ltp")[4:] == (831275000).to_bytes(4, "big")


def test_a_frame_counts_its_packets_and_a_heartbeat_is_one_byte():
    ticks = [Tick(token=408065, last_price=1500.5), Tick(token=256265, last_price=24000.0)]
    many = frame([packet(t, "ltp") for t in ticks])
    assert many[:2] == b"\x00\x02" and len(many) == 2 + 2 * (2 + 8)
    assert [t["last_price"] for t in official_parser()._parse_binary(many)] == [1500.5, 24000.0]
    assert len(HEARTBEAT) == 1 and official_parser()._parse_binary(HEARTBEAT) == []
