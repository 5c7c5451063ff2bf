"""The exchanges' numbers that change: freeze quantities, lot sizes and tick sizes, each a dated table
with its source.

Kite has no API for freeze quantities, and its instrument list carries each instrument's lot size and
tick size of the day: that list, and Kite's own refusal, win over every table here. The tables are
what the sandbox cuts its contracts and checks its orders with, and what the service checks an order
against before Kite has answered (kite_service/data/exchange_limits.py; settings override them and
Kite's refusals correct them for the rest of the trading day).

Each value comes with the circular that set it and the day it took effect; a table without a source
fails tests/test_exchange_numbers.py. When NSE publishes a new circular, add a revision (never edit an
old one): a day's lookup takes the newest revision in force that day.

Sources: NSE's "Quantity Freeze Limits for Indices" circulars (monthly, NSE/FAOP/...), NSE's lot-size
circulars (twice a year), NSE's tick-size circulars (NSE/FAOP/67134 of 13 March 2025, from 15 April
2025; NSE/FAOP/70382 of 23 September 2025, from 3 November 2025), as Zerodha and other brokers
republish them.
"""

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Revision:
    """Values that took effect on `effective` (a trading day, or the first expiry they apply to)."""

    effective: date
    source: str  # the circular (number, date) or the page the values were read from
    values: Mapping[str, int]


@dataclass(frozen=True)
class Sourced:
    """One value and where it came from, as /api/status shows it."""

    value: int
    source: str
    effective: date | None = None


class DatedTable:
    """Revisions of one kind of number, oldest first. A revision may list only the names it changed:
    a name's value on a day is that of the newest revision in force that names it."""

    def __init__(self, what: str, revisions: list):
        self.what = what
        self.revisions = tuple(sorted(revisions, key=lambda r: r.effective))
        self._days = [r.effective for r in self.revisions]

    def on(self, name: str, day: date) -> Sourced | None:
        """`name`'s value in force on `day`, with its source; None before the first revision naming it."""
        for revision in reversed(self.revisions[: bisect_right(self._days, day)]):
            if name in revision.values:
                return Sourced(revision.values[name], revision.source, revision.effective)
        return None

    def on_or_oldest(self, name: str, day: date) -> Sourced | None:
        """As on(), but for a day before the first revision naming `name`, that revision's value (a
        sandbox whose clock is set before the table)."""
        found = self.on(name, day)
        if found is None:
            first = next((r for r in self.revisions if name in r.values), None)
            found = first and Sourced(first.values[name], first.source, first.effective)
        return found

    def names(self) -> set:
        return {name for revision in self.revisions for name in revision.values}


@dataclass(frozen=True)
class PriceBands:
    """A tick size by price band: `bands` are (below this price, tick), the last tick above them all."""

    what: str
    effective: date
    source: str
    bands: tuple
    above: float

    def tick(self, price: float) -> float:
        for upper, tick in self.bands:
            if price < upper:
                return tick
        return self.above


def _nse_index_freeze(bank: int, nifty: int, fin: int, midcap: int, next50: int) -> dict:
    return {"BANKNIFTY": bank, "NIFTY": nifty, "FINNIFTY": fin, "MIDCPNIFTY": midcap, "NIFTYNXT50": next50}


# The most units of an index's options or futures one order may carry (the exchange refuses more).
# One order carries the freeze quantity's whole lots: NIFTY's 3,510 with lots of 65 is 54 lots.
FREEZE_QUANTITIES = DatedTable(
    "freeze quantity",
    [
        Revision(date(2025, 12, 1), "NSE/FAOP/71540, from 1 Dec 2025", _nse_index_freeze(600, 1800, 1200, 2800, 600)),
        Revision(date(2026, 1, 1), "NSE/FAOP/72094, from 1 Jan 2026", _nse_index_freeze(600, 1800, 1200, 2800, 600)),
        Revision(date(2026, 2, 1), "NSE/FAOP/72534, from 1 Feb 2026", _nse_index_freeze(600, 1800, 1800, 2800, 600)),
        Revision(date(2026, 3, 2), "NSE/FAOP/73039, from 2 Mar 2026", _nse_index_freeze(600, 1800, 1200, 2800, 600)),
        Revision(date(2026, 4, 1), "NSE/FAOP/73531, from 1 Apr 2026", _nse_index_freeze(900, 1800, 1800, 2800, 600)),
        Revision(date(2026, 5, 4), "NSE/FAOP/73991, from 4 May 2026", _nse_index_freeze(900, 1800, 1800, 2800, 600)),
        Revision(date(2026, 6, 1), "NSE/FAOP/74469, from 1 Jun 2026", _nse_index_freeze(900, 1800, 1800, 2800, 600)),
        Revision(date(2026, 7, 1), "NSE/FAOP/74942, from 1 Jul 2026", _nse_index_freeze(600, 1800, 1800, 2800, 600)),
        Revision(date(2026, 8, 3), "NSE/FAOP/75521, from 3 Aug 2026", _nse_index_freeze(600, 1800, 1800, 2800, 600)),
        # Doubled, in whole lots. Kite's autoslice refusal for NIFTY names 3,510 (Kite forum comments
        # 53037 and 53057, October 2026). The figures as brokers' published tables carry them.
        Revision(
            date(2026, 10, 5),
            "NSE/FAOP/76693 of 1 Oct 2026, from 5 Oct 2026",
            _nse_index_freeze(1440, 3510, 3240, 5760, 1125),
        ),
        # BSE's index options (BFO), as brokers list them (ICICI Direct's "What is a Quantity Freeze
        # Limit" FAQ, early 2026; one other broker lists BANKEX at 600).
        Revision(date(2026, 2, 1), "BSE's freeze limits from the Feb 2026 expiries", {"SENSEX": 1000, "BANKEX": 900}),
    ],
)

# Lots of index derivatives, by the first expiry they apply to.
INDEX_LOT_SIZES = DatedTable(
    "index lot size",
    [
        Revision(
            date(2026, 1, 1),
            "NSE/FAOP/70616 of 3 Oct 2025, from the Jan 2026 expiries",
            {"NIFTY": 65, "BANKNIFTY": 30, "FINNIFTY": 60, "MIDCPNIFTY": 120, "NIFTYNXT50": 25},
        ),
    ],
)

# Lots of stock derivatives: NSE's revision of 30 March 2026 (increases from the July 2026 expiries,
# decreases from May 2026; 151 stocks unchanged), the values of the names the sandbox trades.
STOCK_LOT_SIZES = DatedTable(
    "stock lot size",
    [
        Revision(
            date(2026, 7, 1),
            "NSE/FAOP/73549 of 30 Mar 2026, from the Jul 2026 expiries",
            {
                "INFY": 400,
                "RELIANCE": 500,
                "TCS": 225,
                "HDFCBANK": 650,
                "SBIN": 750,
                "ICICIBANK": 700,
                "ITC": 1725,
                "AXISBANK": 625,
                "KOTAKBANK": 2000,
                "LT": 175,
                "BHARTIARTL": 475,
            },
        ),
    ],
)

# NSE's tick sizes since 15 April 2025, by the previous month's close, revised monthly.
STOCK_TICKS = PriceBands(
    "NSE stocks and stock futures",
    date(2025, 4, 15),
    "NSE/FAOP/67134 of 13 Mar 2025, from 15 Apr 2025",
    ((250, 0.01), (1000, 0.05), (5000, 0.10), (10000, 0.50), (20000, 1.00)),
    5.00,
)
INDEX_FUTURE_TICKS = PriceBands(
    "NSE index futures, by index level",
    date(2025, 4, 15),
    "NSE/FAOP/67134 of 13 Mar 2025, from 15 Apr 2025",
    ((15000, 0.05), (30000, 0.10)),
    0.20,
)
STOCK_OPTION_TICKS = PriceBands(
    "NSE stock options, by the underlying's price",
    date(2025, 11, 3),
    "NSE/FAOP/70382 of 23 Sep 2025, from 3 Nov 2025",
    ((250, 0.01),),
    0.05,
)
INDEX_OPTION_TICK = 0.05  # unchanged by NSE/FAOP/67134 (options kept 0.05)

ALL_TABLES = (FREEZE_QUANTITIES, INDEX_LOT_SIZES, STOCK_LOT_SIZES, STOCK_TICKS, INDEX_FUTURE_TICKS, STOCK_OPTION_TICKS)


def tick_size(kind: str, reference_price: float, underlying_is_index: bool = False) -> float:
    """NSE's tick size of an equity ('EQ'), future ('FUT') or option ('CE'/'PE'): `reference_price`
    is the stock's or the future's underlying's (the band's previous month's close)."""
    if kind in ("CE", "PE"):
        return INDEX_OPTION_TICK if underlying_is_index else STOCK_OPTION_TICKS.tick(reference_price)
    if kind == "FUT" and underlying_is_index:
        return INDEX_FUTURE_TICKS.tick(reference_price)
    return STOCK_TICKS.tick(reference_price)


def most_per_order(freeze: int, lot: int) -> int:
    """The most one order may carry: the freeze quantity's whole lots (NIFTY: 3,510 is 54 lots of 65)."""
    lot = max(int(lot), 1)
    return int(freeze) // lot * lot


def autoslice_minimum(freeze: int, lot: int) -> int:
    """The least quantity Kite slices: one order's most. Kite refuses less with "Quantity should be
    greater than or equal to 3510 for order slicing" for NIFTY (forum comments 53037 and 53057,
    October 2026), NIFTY's freeze quantity since 5 October 2026."""
    return most_per_order(freeze, lot)


# Kite's web app slices up to 20 orders; for the API Zerodha asks for at most 10 "to stay in line
# with the 10 orders-per-second limit" (Kite forum, staff, comment 52316, March 2026).
AUTOSLICE_MOST_ORDERS = 10
