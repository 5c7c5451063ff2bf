"""Orders that fit before they are sent, against the sandbox over HTTP: a price off the tick size, a
quantity not in lots and one above the freeze limit are each refused with the nearest valid values
and nothing sent; autoslice carries what the freeze limit refuses, from Kite's slicing minimum up to
10 orders. The sandbox's clock stands on 20 November 2026 (tests/sandbox_support.py)."""

from datetime import date, datetime

import pytest

from kite_service.clock import IST
from kite_service.data.exchange_limits import FreezeLimits
from kite_service.data.order_fit import OrderMisfitError, check_order, most_per_order, placement_orders

NIFTY_LOT, NIFTY_MOST = 65, 3510  # NSE's freeze quantity from 5 Oct 2026: 54 whole lots of 65


def table_limits(tmp_path, overrides=()) -> FreezeLimits:
    return FreezeLimits(tmp_path, overrides, lambda: datetime(2026, 11, 20, 10, 0, tzinfo=IST))


@pytest.fixture
def api(sent, make_api):
    api = make_api()
    api.instruments()  # the day's list on the machine: orders are checked against it
    return api


def nifty_option(api) -> dict:
    return api.option_chain("NIFTY", strikes=0)["strikes"][0]["CE"]


def buy(api, instrument: dict, quantity: int, place=None, **extra):
    order = {
        "exchange": instrument["exchange"],
        "tradingsymbol": instrument["tradingsymbol"],
        "transaction_type": "BUY",
        "quantity": quantity,
        "product": "NRML" if instrument["exchange"] == "NFO" else "CNC",
        "order_type": "LIMIT",
        "price": extra.pop("price", 10.0),
        **extra,
    }
    return (place or api.place_order)(**order)


def test_a_price_off_the_tick_size_is_refused_with_the_nearest_valid_prices(api, sent):
    infy = api.instrument("NSE:INFY")  # 1,000 to 5,000: NSE's tick is 0.10
    with pytest.raises(OrderMisfitError, match=r"price 1500\.05 .* tick size 0\.1.* 1500\.0 and 1500\.1"):
        buy(api, infy, 1, price=1500.05)
    with pytest.raises(OrderMisfitError, match=r"trigger_price 1499\.95 .* 1499\.9 and 1500\.0"):
        buy(api, infy, 1, price=1500.0, order_type="SL", trigger_price=1499.95)
    assert sent == []  # nothing reached Kite


def test_a_quantity_not_in_whole_lots_is_refused_with_the_nearest_lots(api, sent):
    option = nifty_option(api)
    with pytest.raises(OrderMisfitError, match=r"quantity 70 is not whole lots of 65.* 65 \(1 lot\) or 130 \(2 lots\)"):
        buy(api, option, 70)
    with pytest.raises(OrderMisfitError, match=r"nearest valid quantities are 65 \(1 lot\)$"):
        buy(api, option, 20)
    assert sent == []


def test_above_the_freeze_limit_is_refused_unless_autoslice_carries_it(api, sent):
    option = nifty_option(api)
    with pytest.raises(OrderMisfitError, match=r"at most 3,510 \(54 lots\) in one order.*place_autoslice_order"):
        buy(api, option, NIFTY_MOST + NIFTY_LOT)
    with pytest.raises(OrderMisfitError, match=r"send at most 35,100 in one call"):
        buy(api, option, NIFTY_MOST * 10 + NIFTY_LOT, place=api.place_autoslice_order)
    with pytest.raises(OrderMisfitError, match=r"at least 3,510 \(54 lots\).*place_order\(\) instead"):
        buy(api, option, NIFTY_MOST - NIFTY_LOT, place=api.place_autoslice_order)  # Kite would refuse it
    assert sent == []
    answer = buy(api, option, NIFTY_MOST + NIFTY_LOT, place=api.place_autoslice_order)
    assert len(answer["children"]) == 2 and sent[-1]["autoslice"] == "true"
    assert isinstance(buy(api, option, NIFTY_MOST), str)  # what fits goes as it is
    assert [int(order["quantity"]) for order in sent] == [NIFTY_MOST + NIFTY_LOT, NIFTY_MOST]


@pytest.mark.parametrize(
    ("exchange", "name", "lot", "most"),
    [("BFO", "SENSEX", 20, 1000), ("BFO", "BANKEX", 30, 900), ("NFO", "NIFTYNXT50", 25, 1125)],
)
def test_bses_index_options_and_nifty_next_50_have_their_freeze_limits(exchange, name, lot, most, tmp_path):
    option = {"exchange": exchange, "tradingsymbol": f"{name}26DEC80000CE", "name": name}
    option |= {"lot_size": lot, "tick_size": 0.05}
    limits = table_limits(tmp_path)
    assert most_per_order(option, limits) == most
    check_order(option, {"quantity": most, "price": 10.0}, limits)
    with pytest.raises(OrderMisfitError, match=rf"at most {most:,} \({most // lot} lots\)"):
        check_order(option, {"quantity": most + lot, "price": 10.0}, limits)


def test_the_freeze_quantities_setting_overrides_the_table_and_status_names_each_source(tmp_path):
    option = {"exchange": "NFO", "tradingsymbol": "BANKNIFTY26DEC52000CE", "name": "BANKNIFTY"}
    option |= {"lot_size": 30, "tick_size": 0.05}
    limits = table_limits(tmp_path, overrides=(("BANKNIFTY", 900),))
    with pytest.raises(OrderMisfitError, match=r"at most 900 \(30 lots\)"):
        check_order(option, {"quantity": 930, "price": 10.0}, limits)
    in_use = limits.in_use()
    assert in_use["BANKNIFTY"] == {"quantity": 900, "source": "the FREEZE_QUANTITIES setting"}
    assert in_use["NIFTY"] == {"quantity": 3510, "source": "NSE/FAOP/76693 of 1 Oct 2026, from 5 Oct 2026"}
    assert in_use["SENSEX"]["source"].startswith("BSE")


def test_an_mcx_quantity_counts_contracts_so_any_whole_number_fits(tmp_path):
    crude = {"exchange": "MCX", "tradingsymbol": "CRUDEOIL26DECFUT", "name": "CRUDEOIL", "lot_size": 100}
    crude["tick_size"] = 1.0
    check_order(crude, {"quantity": 3, "price": 5400.0}, table_limits(tmp_path))  # 3 contracts of 100 barrels
    with pytest.raises(OrderMisfitError, match="tick size"):
        check_order(crude, {"quantity": 3, "price": 5400.5}, table_limits(tmp_path))  # prices are still checked


def test_a_placement_counts_toward_kites_caps_as_the_orders_kite_makes_of_it(tmp_path):
    limits, day = table_limits(tmp_path), date(2026, 11, 20)

    def orders(variety="regular", **params):
        return placement_orders(variety, params, limits, day)

    nifty = {"exchange": "NFO", "tradingsymbol": "NIFTY26DEC24000CE", "autoslice": "true"}
    assert orders(**nifty, quantity=str(NIFTY_MOST * 3)) == 3
    assert orders(**nifty, quantity=str(NIFTY_MOST * 3 + NIFTY_LOT)) == 4
    assert orders(**nifty, quantity=str(NIFTY_MOST * 30)) == 10  # autoslice's most
    next_50 = {"exchange": "NFO", "tradingsymbol": "NIFTYNXT5026DEC70000CE", "autoslice": "true"}
    assert orders(**next_50, quantity="2250") == 2  # NIFTYNXT50's 1,125, not a "NIFTYNXT" nobody knows
    stock = {"exchange": "NFO", "tradingsymbol": "INFY26DECFUT", "autoslice": "true", "quantity": "4000"}
    assert orders(**stock) == 10  # a freeze quantity not known here: the most it can make
    assert orders(**{**nifty, "autoslice": "false"}, quantity="65") == 1
    assert orders("iceberg", exchange="NFO", tradingsymbol="NIFTY26DEC24000CE", quantity="650", iceberg_legs="5") == 5
