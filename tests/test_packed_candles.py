"""Cached candles stay packed: read back as the same rows, cut to a range, and as numpy columns."""

from kite_service.data.packed_candles import NO_OI, PackedCandles

DAY = 86400


def day_of_candles(day: int, oi=None) -> list:
    start = 1_767_225_600 + day * DAY  # a midnight
    return [(start + 60 * m, 100.0 + m, 101.0 + m, 99.0 + m, 100.5 + m, 1000 + m, oi) for m in range(1440)]


def test_rows_come_back_as_they_went_in_with_no_oi_marked():
    rows = day_of_candles(0) + day_of_candles(1)
    packed = PackedCandles(PackedCandles.of(day_of_candles(n)).chunks[0] for n in (0, 1))
    assert len(packed) == 2880
    assert list(packed) == [(*row[:6], NO_OI) for row in rows]


def test_a_range_keeps_only_its_candles_from_the_first_and_last_days():
    days = [PackedCandles.of(day_of_candles(n, oi=7)).chunks[0] for n in range(3)]
    start, end = day_of_candles(0)[1000][0], day_of_candles(2)[99][0]
    cut = PackedCandles(days).within(start, end)
    kept = list(cut)
    assert (kept[0][0], kept[-1][0], len(kept)) == (start, end, 440 + 1440 + 100)
    assert all(row[6] == 7 for row in kept)


def test_columns_are_the_rows_fields():
    packed = PackedCandles.of(day_of_candles(0))
    columns = packed.columns()
    assert columns["at"].tolist() == [row[0] for row in packed]
    assert columns["close"].tolist() == [row[4] for row in packed]
    assert columns["volume"].tolist() == [row[5] for row in packed]
