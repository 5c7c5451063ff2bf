"""Kite's binary ticker frames taken apart and put together, without decoding a price.

A frame is an int16 count of packets, then each packet as an int16 length and its bytes; a packet
starts with its instrument token (int32, big-endian). Its length tells its mode: 8 bytes (ltp), 44
(quote) or 184 (full) for tradable instruments, 28 (quote) or 32 (full) for indices. Each mode's
packet is the start of the richer one's (Kite's "WebSocket streaming" page), so the hub cuts a
packet down to the mode a client asked for and never encodes one anew. A one-byte frame is a
heartbeat. All in network byte order.
"""

import json
import struct
from functools import lru_cache

LTP, QUOTE, FULL = "ltp", "quote", "full"
MODES = (LTP, QUOTE, FULL)
RANK = {LTP: 0, QUOTE: 1, FULL: 2}  # a richer mode carries everything a poorer one does
HEARTBEAT = b"\x00"
LTP_LENGTH = 8
QUOTE_LENGTH = 44
INDEX_QUOTE_LENGTH = 28
INDEX_LENGTHS = (INDEX_QUOTE_LENGTH, 32)  # an index's quote and full packets
_SHORT = struct.Struct(">H")
_TOKEN = struct.Struct(">I")


class FrameError(ValueError):
    """A binary message that is not a well-formed ticker frame (it is dropped, never passed on)."""


def split(frame: bytes) -> dict:
    """{token: packet} of a frame; a heartbeat gives {}. FrameError if the lengths do not add up."""
    if len(frame) < 2:
        return {}
    view = memoryview(frame)
    (count,) = _SHORT.unpack_from(view, 0)
    packets, offset, end = {}, 2, len(frame)
    for _ in range(count):
        if offset + 2 > end:
            raise FrameError(f"frame of {end} bytes ends inside its packet lengths")
        (length,) = _SHORT.unpack_from(view, offset)
        offset += 2
        if length < LTP_LENGTH or offset + length > end:
            raise FrameError(f"packet of {length} bytes at {offset} does not fit a frame of {end}")
        packet = frame[offset : offset + length]
        packets[_TOKEN.unpack_from(packet)[0]] = packet
        offset += length
    if offset != end:
        raise FrameError(f"{end - offset} bytes after the frame's {count} packets")
    return packets


def split_pieces(frame: bytes) -> dict:
    """{token: its packet with the 2-byte length before it}, a frame's parts ready to be joined again
    (join_pieces) without packing a length anew. FrameError if the lengths do not add up."""
    if len(frame) < 2:
        return {}
    (count,) = _SHORT.unpack_from(frame, 0)
    if count and (len(frame) - 2) % count == 0:  # every packet alike (3,000 in full mode): one pass in C
        step = (len(frame) - 2) // count
        if step > LTP_LENGTH + 2 and frame[2::step] == bytes([(step - 2) >> 8]) * count:
            if frame[3::step] == bytes([(step - 2) & 0xFF]) * count:
                tokens = _uniform(count, step).unpack(frame)
                return dict(
                    zip(tokens, [frame[offset : offset + step] for offset in range(2, len(frame), step)], strict=True)
                )
    pieces, offset, end = {}, 2, len(frame)
    unpack_short, unpack_token = _SHORT.unpack_from, _TOKEN.unpack_from
    for _ in range(count):
        if offset + 2 > end:
            raise FrameError(f"frame of {end} bytes ends inside its packet lengths")
        (length,) = unpack_short(frame, offset)
        if length < LTP_LENGTH or offset + 2 + length > end:
            raise FrameError(f"packet of {length} bytes at {offset + 2} does not fit a frame of {end}")
        pieces[unpack_token(frame, offset + 2)[0]] = frame[offset : offset + 2 + length]
        offset += 2 + length
    if offset != end:
        raise FrameError(f"{end - offset} bytes after the frame's {count} packets")
    return pieces


@lru_cache(maxsize=64)
def _uniform(count: int, step: int) -> struct.Struct:
    """The tokens of `count` packets of `step` bytes each (their length included), after the count."""
    return struct.Struct(">2x" + f"2xI{step - 6}x" * count)


_LTP_PREFIX = _SHORT.pack(LTP_LENGTH)
_QUOTE_PREFIX = _SHORT.pack(QUOTE_LENGTH)
_INDEX_QUOTE_PREFIX = _SHORT.pack(INDEX_QUOTE_LENGTH)


def pieces_in_mode(pieces: dict, mode: str) -> dict:
    """split_pieces()'s pieces cut to `mode` (as cut() does packets)."""
    if mode == FULL:
        return pieces
    if mode == LTP:
        return {t: _LTP_PREFIX + p[2:10] if len(p) > 10 else p for t, p in pieces.items()}
    return {
        t: _QUOTE_PREFIX + p[2:46] if len(p) > 46 else (_INDEX_QUOTE_PREFIX + p[2:30] if len(p) == 34 else p)
        for t, p in pieces.items()
    }


def join_pieces(pieces: list) -> bytes:
    """One frame of split_pieces()'s pieces (a heartbeat when there are none)."""
    return _SHORT.pack(len(pieces)) + b"".join(pieces) if pieces else HEARTBEAT


def mode_of(packet: bytes) -> str:
    """The mode a packet was sent in, from its length."""
    length = len(packet)
    if length == LTP_LENGTH:
        return LTP
    if length in (QUOTE_LENGTH, INDEX_QUOTE_LENGTH):
        return QUOTE
    return FULL


def cut(packet: bytes, mode: str) -> bytes:
    """`packet` in `mode`: its first bytes, or all of it when it carries no more than `mode` asks."""
    if mode == LTP:
        return packet[:LTP_LENGTH]
    if mode == QUOTE:
        length = len(packet)
        if length > QUOTE_LENGTH:
            return packet[:QUOTE_LENGTH]
        if length == INDEX_LENGTHS[1]:
            return packet[:INDEX_QUOTE_LENGTH]
    return packet


def join(packets: list) -> bytes:
    """One frame carrying `packets` (a heartbeat when there are none)."""
    if not packets:
        return HEARTBEAT
    return _SHORT.pack(len(packets)) + b"".join(_SHORT.pack(len(packet)) + packet for packet in packets)


def text_message(text: str) -> dict | None:
    """A text message of Kite's ticker ({"type": "order" | "error" | ..., "data": ...}), or None if it is not one."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
