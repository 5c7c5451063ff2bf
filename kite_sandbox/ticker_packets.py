"""Kite's binary market-data packets, byte for byte (Kite's "WebSocket streaming" page; protocol notes §12).

A frame is an int16 count of packets, then each packet as an int16 length and its bytes. The
mode is told by the length alone: 8 bytes (ltp), 44 (quote) or 184 (full, with 5-level depth) for
tradable instruments, 28 (quote) or 32 (full) for indices. All fields are big-endian int32 (depth
order counts int16 and 2 bytes of padding); prices are integers in the segment's smallest unit.
"""

import struct
from typing import NamedTuple

MODE_LTP, MODE_QUOTE, MODE_FULL = "ltp", "quote", "full"
MODES = (MODE_LTP, MODE_QUOTE, MODE_FULL)
SEGMENT_INDICES = 9  # token & 0xFF
# Price divisors by segment (token & 0xFF): CDS 10^7, BCD 10^4, everything else paise.
DIVISORS = {3: 10_000_000, 6: 10_000}
DEFAULT_DIVISOR = 100
HEARTBEAT = b"\x00"  # one byte, sent when there is nothing else to send
DEPTH_LEVELS = 5
LTP_PACKET = struct.Struct(">II")
QUOTE_PACKET = struct.Struct(">II" + "I" * 9)
FULL_PACKET = struct.Struct(">II" + "I" * 9 + "I" * 5 + "IIHxx" * 2 * DEPTH_LEVELS)  # + 5 bids, 5 offers


class Tick(NamedTuple):
    """One instrument's market data at one moment, in rupees and Unix seconds."""

    token: int
    last_price: float
    last_quantity: int = 0
    average_price: float = 0.0
    volume: int = 0
    buy_quantity: int = 0
    sell_quantity: int = 0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    last_trade_time: int = 0
    oi: int = 0
    oi_day_high: int = 0
    oi_day_low: int = 0
    exchange_timestamp: int = 0
    bids: tuple = ()  # (quantity, price, orders) for each of 5 levels, best first
    offers: tuple = ()


def divisor(token: int) -> int:
    return DIVISORS.get(token & 0xFF, DEFAULT_DIVISOR)


def is_index(token: int) -> bool:
    return token & 0xFF == SEGMENT_INDICES


def packet(tick: Tick, mode: str) -> bytes:
    """The packet Kite sends for `tick` in `mode`."""
    scale = divisor(tick.token)

    def price(value: float) -> int:
        return round(value * scale)

    if mode == MODE_LTP:
        return LTP_PACKET.pack(tick.token, price(tick.last_price))
    if is_index(tick.token):
        body = LTP_PACKET.pack(tick.token, price(tick.last_price)) + struct.pack(
            ">IIIIi",
            price(tick.high),
            price(tick.low),
            price(tick.open),
            price(tick.close),
            price(tick.last_price) - price(tick.close),  # price change; the clients compute their own
        )
        return body if mode == MODE_QUOTE else body + struct.pack(">I", tick.exchange_timestamp)
    quote_fields = (
        tick.last_quantity,
        price(tick.average_price),
        tick.volume,
        tick.buy_quantity,
        tick.sell_quantity,
        price(tick.open),
        price(tick.high),
        price(tick.low),
        price(tick.close),
    )
    if mode == MODE_QUOTE:
        return QUOTE_PACKET.pack(tick.token, price(tick.last_price), *quote_fields)
    depth = []
    for side in (tick.bids, tick.offers):
        levels = list(side)[:DEPTH_LEVELS] + [(0, 0.0, 0)] * (DEPTH_LEVELS - len(side))
        for quantity, level, orders in levels:
            depth += (quantity, price(level), orders)
    return FULL_PACKET.pack(
        tick.token,
        price(tick.last_price),
        *quote_fields,
        tick.last_trade_time,
        tick.oi,
        tick.oi_day_high,
        tick.oi_day_low,
        tick.exchange_timestamp,
        *depth,
    )


def frame(packets: list) -> bytes:
    """One binary WebSocket message carrying `packets`."""
    return struct.pack(">H", len(packets)) + b"".join(struct.pack(">H", len(p)) + p for p in packets)
