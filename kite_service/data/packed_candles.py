"""Candles as the cache keeps them: fixed-size records back to back, no Python object per candle.

A day of minute candles is one bytes value of CANDLE records. Read from the cache they stay
packed: iterating gives (at, open, high, low, close, volume, oi) tuples one at a time, and a
DataFrame is made from the bytes in one step (numpy reads the records as columns), so two years of
minute candles become a frame in tens of milliseconds instead of a million tuples first.
"""

import struct
from itertools import chain

import numpy

# start (s since 1970), open, high, low, close, volume, oi (NO_OI when Kite sent none), little-endian
CANDLE = struct.Struct("<q4dqq")
NO_OI = -1
FIELDS = ("at", "open", "high", "low", "close", "volume", "oi")
NUMPY_RECORD = numpy.dtype([(name, "<i8" if name in ("at", "volume", "oi") else "<f8") for name in FIELDS])


def pack(row: tuple) -> bytes:
    """One (at, open, high, low, close, volume, oi) row as a CANDLE record (oi None: NO_OI)."""
    at, open_, high, low, close, volume, oi = row
    return CANDLE.pack(at, open_, high, low, close, int(volume), NO_OI if oi is None else int(oi))


class PackedCandles:
    """Candles in time order as CANDLE records in one or more chunks (a cached day each)."""

    def __init__(self, chunks=()):
        self.chunks = [bytes(chunk) for chunk in chunks if chunk]

    @classmethod
    def of(cls, rows) -> "PackedCandles":
        """Rows (tuples as above, in time order) packed: about 0.3 µs a candle."""
        return cls([b"".join(map(pack, rows))])

    def __iter__(self):
        return chain.from_iterable(map(CANDLE.iter_unpack, self.chunks))

    def __len__(self) -> int:
        return sum(map(len, self.chunks)) // CANDLE.size

    def within(self, start: int, end: int) -> "PackedCandles":
        """The candles with start <= at <= end; only the first and last chunks can hold others."""
        if not self.chunks:
            return self
        chunks = list(self.chunks)
        for index in {0, len(chunks) - 1}:
            records = list(CANDLE.iter_unpack(chunks[index]))
            if records[0][0] < start or records[-1][0] > end:
                chunks[index] = b"".join(CANDLE.pack(*r) for r in records if start <= r[0] <= end)
        return PackedCandles(chunks)

    def columns(self):
        """A numpy record array of every candle (fields as FIELDS), reading the bytes in place."""
        return numpy.frombuffer(b"".join(self.chunks), dtype=NUMPY_RECORD)
