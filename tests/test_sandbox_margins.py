"""The margin calculators and the contract note: the figures the account itself blocks and pays."""

import pytest

from kite_sandbox.server import create_sandbox_app


@pytest.fixture
def sandbox_app(demo, clock):
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)  # many calls a second; limits: elsewhere


def available(kite) -> float:
    return kite.margins("equity")["net"]


def nifty_contracts(market):
    spot = market.price(market.by_symbol("NSE", "NIFTY 50"))
    options = [i for i in market.instruments if i.name == "NIFTY" and i.instrument_type == "CE"]
    call = min(options, key=lambda i: (i.expiry, abs(i.strike - spot)))
    future = min(
        (i for i in market.instruments if i.name == "NIFTY" and i.instrument_type == "FUT"), key=lambda i: i.expiry
    )
    return call, future


def order(instrument, side, product, price, quantity=None):
    return {
        "exchange": instrument.exchange,
        "tradingsymbol": instrument.tradingsymbol,
        "transaction_type": side,
        "variety": "regular",
        "product": product,
        "order_type": "LIMIT",
        "quantity": quantity or instrument.lot_size,
        "price": price,
    }


def test_order_margins_are_what_placing_the_order_blocks(official_kite, market):
    call, future = nifty_contracts(market)
    infy = market.by_symbol("NSE", "INFY")
    market.pin_price(infy, 1500.0)
    far = lambda i, side: round(market.price(i) * (0.9 if side == "BUY" else 1.08) / i.tick_size) * i.tick_size  # noqa: E731
    cases = [
        order(infy, "BUY", "CNC", 1400.0, 10),  # delivery: the full value
        order(infy, "SELL", "MIS", 1600.0, 10),  # intraday short: a fifth
        order(call, "BUY", "NRML", far(call, "BUY")),  # an option bought: the premium
        order(future, "SELL", "NRML", far(future, "SELL")),  # a future: span and exposure
    ]
    for case in cases:
        [margin] = official_kite.order_margins([case])
        before = available(official_kite)
        order_id = official_kite.place_order(**case)
        assert official_kite.order_history(order_id)[-1]["status"] == "OPEN"  # resting, away from the market
        assert before - available(official_kite) == pytest.approx(margin["total"], abs=0.01), case
        parts = margin["span"] + margin["exposure"] + margin["option_premium"] + margin["var"]
        assert parts == pytest.approx(margin["total"])
        official_kite.cancel_order("regular", order_id)
    [premium] = official_kite.order_margins([cases[2]])
    assert premium["option_premium"] == premium["total"] > 0 and premium["span"] == 0
    [short_future] = official_kite.order_margins([cases[3]])
    assert short_future["span"] == pytest.approx(3 * short_future["exposure"])  # 9 % and 3 % of the value


def test_a_basket_nets_orders_in_one_instrument_and_can_count_positions(official_kite, market):
    _, future = nifty_contracts(market)
    price = market.price(future)
    buy, sell = order(future, "BUY", "NRML", price), order(future, "SELL", "NRML", price)
    both = official_kite.basket_order_margins([buy, sell], consider_positions=False)
    assert both["initial"]["total"] == pytest.approx(2 * both["orders"][0]["total"])
    assert both["final"]["total"] == 0  # a buy and a sell of one future cancel out
    assert both["charges"]["brokerage"] == pytest.approx(2 * both["orders"][0]["charges"]["brokerage"])
    above = round(round(price * 1.01 / future.tick_size) * future.tick_size, 2)  # on its tick (0.10 for NIFTY)
    official_kite.place_order(**{**buy, "order_type": "LIMIT", "price": above})
    exit_only = official_kite.basket_order_margins([sell], consider_positions=True)
    fresh = official_kite.basket_order_margins([sell], consider_positions=False)
    assert exit_only["final"]["total"] == 0 and fresh["final"]["total"] > 0  # selling what is held blocks nothing
    compact = official_kite.basket_order_margins([sell], consider_positions=False, mode="compact")
    assert set(compact["orders"][0]) == {"type", "tradingsymbol", "exchange", "charges", "total"}


def test_contract_note_charges_follow_zerodhas_schedule(official_kite, market):
    call, _ = nifty_contracts(market)
    premium = market.price(call)
    notes = official_kite.get_virtual_contract_note(
        [
            {**order(call, "BUY", "NRML", 0), "average_price": premium, "order_type": "MARKET"},
            {**order(call, "SELL", "NRML", 0), "average_price": premium, "order_type": "MARKET"},
            {**order(market.by_symbol("NSE", "INFY"), "BUY", "CNC", 0, 10), "average_price": 1500.0},
        ]
    )
    bought, sold, delivery = (note["charges"] for note in notes)
    turnover = premium * call.lot_size
    assert bought["brokerage"] == sold["brokerage"] == 20  # Rs 20 an executed options order
    assert bought["transaction_tax"] == 0 and sold["transaction_tax"] == pytest.approx(turnover * 0.0015)
    assert bought["stamp_duty"] == pytest.approx(turnover * 0.00003) and sold["stamp_duty"] == 0
    gst_base = sold["brokerage"] + sold["exchange_turnover_charge"] + sold["sebi_turnover_charge"]
    assert sold["gst"]["total"] == pytest.approx(gst_base * 0.18)
    assert delivery["brokerage"] == 0 and delivery["transaction_tax"] == pytest.approx(15000 * 0.001)
    assert [note["price"] for note in notes] == [premium, premium, 1500.0]  # answered in the order asked
