"""The exchanges' numbers that change: every table names its source, a day's lookup takes the revision
in force that day, and the sandbox's instrument list and order checks follow NSE's tick and lot sizes."""

import importlib
import pkgutil
from datetime import date

import pytest

import kite_sandbox
import kite_service
from kite_sandbox import exchange_numbers
from kite_sandbox.exchange_numbers import FREEZE_QUANTITIES, DatedTable, PriceBands, tick_size
from kite_service.kite.sdk import kite_errors


def every_table() -> list:
    """Each DatedTable and PriceBands defined in any module of the two packages: (where, table)."""
    found = []
    for package in (kite_sandbox, kite_service):
        for module_info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module_info.name.endswith("__main__"):
                continue
            module = importlib.import_module(module_info.name)
            for name, value in vars(module).items():
                if isinstance(value, DatedTable | PriceBands) and getattr(module, name) is value:
                    found.append((f"{module_info.name}.{name}", value))
    return found


def test_every_table_of_changing_numbers_names_its_source_and_effective_date():
    tables = every_table()
    assert {id(table) for _, table in tables} >= {id(table) for table in exchange_numbers.ALL_TABLES}
    for where, table in tables:
        revisions = table.revisions if isinstance(table, DatedTable) else [table]
        assert revisions, f"{where} has no revision"
        for revision in revisions:
            assert isinstance(revision.effective, date), f"{where}: a revision without its effective date"
            source = revision.source.strip()
            assert len(source) >= 12 and any(word in source for word in ("NSE", "BSE", "circular")), (
                f"{where}: a revision of {revision.effective} without its source (the circular and its date)"
            )


@pytest.mark.parametrize(
    ("name", "day", "quantity"),
    [
        ("BANKNIFTY", date(2026, 5, 15), 900),  # April to June 2026
        ("BANKNIFTY", date(2026, 7, 15), 600),
        ("FINNIFTY", date(2025, 12, 15), 1200),
        ("FINNIFTY", date(2026, 2, 15), 1800),
        ("FINNIFTY", date(2026, 3, 15), 1200),
        ("NIFTY", date(2026, 10, 4), 1800),  # the day before NSE's revision of 5 October 2026
        ("NIFTY", date(2026, 10, 5), 3510),
        ("SENSEX", date(2026, 11, 20), 1000),  # BSE's own revision, beside NSE's monthly ones
    ],
)
def test_a_freeze_quantity_is_the_one_in_force_that_day(name, day, quantity):
    found = FREEZE_QUANTITIES.on(name, day)
    assert found.value == quantity and found.effective <= day and found.source


def test_nses_tick_sizes_by_price_band_index_level_and_underlying():
    stock = [(249.95, 0.01), (250, 0.05), (999.95, 0.05), (1500, 0.10), (7000, 0.50), (15000, 1.00), (25000, 5.00)]
    assert [tick_size("EQ", price) for price, _ in stock] == [tick for _, tick in stock]
    assert tick_size("FUT", 1500) == 0.10  # a stock future: its stock's band
    assert [tick_size("FUT", level, underlying_is_index=True) for level in (12500, 24000, 52000)] == [0.05, 0.10, 0.20]
    assert [tick_size("CE", price) for price in (180, 420)] == [0.01, 0.05]  # stock options, from 3 Nov 2025
    assert tick_size("PE", 52000, underlying_is_index=True) == 0.05


def test_the_sandboxs_instrument_list_carries_nses_ticks_and_lots(official_kite, market):
    rows = {f"{r['exchange']}:{r['tradingsymbol']}": r for r in official_kite.instruments()}
    assert rows["NSE:INFY"]["tick_size"] == 0.1 and rows["NSE:ITC"]["tick_size"] == 0.05
    futures = {r["name"]: r for r in rows.values() if r["instrument_type"] == "FUT"}
    assert (futures["NIFTY"]["tick_size"], futures["BANKNIFTY"]["tick_size"]) == (0.1, 0.2)
    assert (futures["HDFCBANK"]["lot_size"], futures["ITC"]["lot_size"]) == (650, 1725)  # NSE, July 2026 expiries
    assert futures["NIFTYNXT50"]["lot_size"] == 25 and "NSE:NIFTY NEXT 50" in rows
    options = [r for r in rows.values() if r["name"] == "BANKNIFTY" and r["instrument_type"] == "CE"]
    assert {r["tick_size"] for r in options} == {0.05}


def test_a_price_off_nses_tick_is_refused_by_the_sandbox_in_kites_words(official_kite):
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1, "product": "CNC"}
    with pytest.raises(kite_errors.InputException) as refused:
        official_kite.place_order(variety="regular", order_type="LIMIT", price=1500.05, **order)
    assert str(refused.value) == (
        "Tick size for this script is 0.10. Kindly enter price in the multiple of tick size for this script"
    )
    assert official_kite.place_order(variety="regular", order_type="LIMIT", price=1500.1, **order)


def test_mtf_orders_are_taken_on_nse(official_kite):
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1, "product": "MTF"}
    order_id = official_kite.place_order(variety="regular", order_type="LIMIT", price=1400, **order)
    assert official_kite.order_history(order_id)[-1]["product"] == "MTF"


def test_each_iceberg_leg_counts_toward_the_days_5000_orders(official_kite, sandbox_app, market):
    order = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "product": "CNC"}
    official_kite.place_order(variety="regular", order_type="LIMIT", price=1400, quantity=1, **order)  # starts the day
    sandbox_app.extensions["kite_sandbox"].book._caps.placed_today = 4990  # as if 4,990 placed: 10 left today
    iceberg = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "product": "CNC"}
    iceberg |= {"order_type": "LIMIT", "price": 1400, "quantity": 20, "iceberg_legs": 20, "iceberg_quantity": 1}
    with pytest.raises(kite_errors.NetworkException, match="5000 orders a day"):
        official_kite.place_order(variety="iceberg", **iceberg)  # 20 legs: more than the day has left
    iceberg |= {"quantity": 10, "iceberg_legs": 10}
    official_kite.place_order(variety="iceberg", **iceberg)  # its 10 legs take the day's last 10
    with pytest.raises(kite_errors.NetworkException, match="5000 orders a day"):
        official_kite.place_order(variety="regular", order_type="LIMIT", price=1400, quantity=1, **order)
