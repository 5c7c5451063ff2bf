"""Kite's binary ticks decoded into the dicts the official KiteTicker gives (`_parse_binary`), so that
code written for `on_ticks` works unchanged with the script ticker.

Same keys, the same prices (integer / the segment's divisor: currency 10^7, BSE currency and NCO
10^4, the rest 100), the same `change` and the same naive local datetimes
(`datetime.fromtimestamp`). One precompiled struct per packet layout instead of a slice and an
unpack per field: the decoding costs a fraction of KiteTicker's (bench).
"""

import struct
from datetime import datetime

from kite_service.ticker.frames import FULL, LTP, QUOTE, split

_DIVISORS = {3: 10_000_000.0, 6: 10_000.0, 12: 10_000.0}  # segment (token & 0xFF) -> price divisor
_INDICES = 9
_LTP = struct.Struct(">II")
_INDEX = struct.Struct(">IIIIII")  # token, last, high, low, open, close (then the change, unread)
_QUOTE = struct.Struct(">" + "I" * 11)
_FULL_EXTRA = struct.Struct(">IIIII")  # last trade time, oi, oi day high, oi day low, exchange timestamp
_LEVEL = struct.Struct(">IIH")


def _time(stamp: int):
    try:
        return datetime.fromtimestamp(stamp)
    except (OverflowError, OSError, ValueError):
        return None


def _change(last: float, close: float) -> float:
    return (last - close) * 100 / close if close != 0 else 0


def decode(packet: bytes) -> dict:
    """One packet as KiteTicker's tick dict."""
    length = len(packet)
    token = _LTP.unpack_from(packet)[0]
    segment = token & 0xFF
    divisor = _DIVISORS.get(segment, 100.0)
    tradable = segment != _INDICES
    if length == 8:
        return {
            "tradable": tradable,
            "mode": LTP,
            "instrument_token": token,
            "last_price": _LTP.unpack(packet)[1] / divisor,
        }
    if length in (28, 32):
        _, last, high, low, open_, close = _INDEX.unpack_from(packet)
        tick = {
            "tradable": tradable,
            "mode": QUOTE if length == 28 else FULL,
            "instrument_token": token,
            "last_price": last / divisor,
            "ohlc": {"high": high / divisor, "low": low / divisor, "open": open_ / divisor, "close": close / divisor},
        }
        tick["change"] = _change(tick["last_price"], tick["ohlc"]["close"])
        if length == 32:
            tick["exchange_timestamp"] = _time(struct.unpack_from(">I", packet, 28)[0])
        return tick
    _, last, quantity, average, volume, buys, sells, open_, high, low, close = _QUOTE.unpack_from(packet)
    tick = {
        "tradable": tradable,
        "mode": QUOTE if length == 44 else FULL,
        "instrument_token": token,
        "last_price": last / divisor,
        "last_traded_quantity": quantity,
        "average_traded_price": average / divisor,
        "volume_traded": volume,
        "total_buy_quantity": buys,
        "total_sell_quantity": sells,
        "ohlc": {"open": open_ / divisor, "high": high / divisor, "low": low / divisor, "close": close / divisor},
    }
    tick["change"] = _change(tick["last_price"], tick["ohlc"]["close"])
    if length == 184:
        traded, oi, oi_high, oi_low, stamp = _FULL_EXTRA.unpack_from(packet, 44)
        tick["last_trade_time"] = _time(traded)
        tick["oi"], tick["oi_day_high"], tick["oi_day_low"] = oi, oi_high, oi_low
        tick["exchange_timestamp"] = _time(stamp)
        levels = [_LEVEL.unpack_from(packet, offset) for offset in range(64, 184, 12)]
        tick["depth"] = {
            "buy": [{"quantity": q, "price": p / divisor, "orders": o} for q, p, o in levels[:5]],
            "sell": [{"quantity": q, "price": p / divisor, "orders": o} for q, p, o in levels[5:]],
        }
    return tick


def decode_frame(frame: bytes) -> list:
    """A binary message's ticks, in the order Kite sent them ([] for a heartbeat)."""
    return [decode(packet) for packet in split(frame).values()]
