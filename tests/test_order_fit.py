"""Orders that fit before they are sent, against the sandbox over HTTP: a price off the tick size, a
quantity not in lots and one above the freeze limit are each refused with the nearest valid values
and nothing sent; autoslice carries what the freeze limit refuses, up to Kite's 10 orders."""

import pytest

from kite_service.data.order_fit import OrderMisfitError, check_order, most_per_order

NIFTY_LOT, NIFTY_MOST = 65, 1755  # NSE's freeze quantity 1,800: 27 whole lots of 65


@pytest.fixture
def sent(sandbox_app):
    """The order placements the sandbox received. Ask for it before make_api (Flask's hooks)."""
    from flask import request

    seen = []

    @sandbox_app.after_request
    def note(response):
        if request.method == "POST" and request.path.startswith("/orders/"):
            seen.append(dict(request.form))
        return response

    return seen


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
    infy = api.instrument("NSE:INFY")
    with pytest.raises(OrderMisfitError, match=r"price 1500\.03 .* tick size 0\.05.* 1500\.00 and 1500\.05"):
        buy(api, infy, 1, price=1500.03)
    with pytest.raises(OrderMisfitError, match=r"trigger_price 1499\.99 .* 1499\.95 and 1500\.00"):
        buy(api, infy, 1, price=1500.0, order_type="SL", trigger_price=1499.99)
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
    with pytest.raises(OrderMisfitError, match=r"at most 1,755 \(27 lots\) in one order.*place_autoslice_order"):
        buy(api, option, NIFTY_MOST + NIFTY_LOT)
    with pytest.raises(OrderMisfitError, match=r"send at most 17,550 in one call"):
        buy(api, option, NIFTY_MOST * 10 + NIFTY_LOT, place=api.place_autoslice_order)
    assert sent == []
    answer = buy(api, option, NIFTY_MOST + NIFTY_LOT, place=api.place_autoslice_order)
    assert len(answer["children"]) == 2 and sent[-1]["autoslice"] == "true"
    assert isinstance(buy(api, option, NIFTY_MOST), str)  # what fits goes as it is
    assert [int(order["quantity"]) for order in sent] == [NIFTY_MOST + NIFTY_LOT, NIFTY_MOST]


@pytest.mark.parametrize(
    ("exchange", "name", "lot", "most"),
    [("BFO", "SENSEX", 20, 1000), ("BFO", "BANKEX", 30, 900), ("NFO", "NIFTYNXT50", 25, 600)],
)
def test_bses_index_options_and_nifty_next_50_have_their_freeze_limits(exchange, name, lot, most):
    option = {"exchange": exchange, "tradingsymbol": f"{name}26DEC80000CE", "name": name}
    option |= {"lot_size": lot, "tick_size": 0.05}
    assert most_per_order(option) == most
    check_order(option, {"quantity": most, "price": 10.0})
    with pytest.raises(OrderMisfitError, match=rf"at most {most:,} \({most // lot} lots\)"):
        check_order(option, {"quantity": most + lot, "price": 10.0})


def test_an_mcx_quantity_counts_contracts_so_any_whole_number_fits():
    crude = {"exchange": "MCX", "tradingsymbol": "CRUDEOIL26DECFUT", "name": "CRUDEOIL", "lot_size": 100}
    crude["tick_size"] = 1.0
    check_order(crude, {"quantity": 3, "price": 5400.0})  # 3 contracts of 100 barrels
    with pytest.raises(OrderMisfitError, match="tick size"):
        check_order(crude, {"quantity": 3, "price": 5400.5})  # prices are still checked
