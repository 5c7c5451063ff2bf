"""Cover orders, iceberg legs, autoslice, auctions and freeze quantities, through the official client."""

import threading

import pytest

from kite_sandbox.server import create_sandbox_app
from kite_service.kite.sdk import kite_errors
from sandbox_support import cheap_nifty_call

INFY = {"exchange": "NSE", "tradingsymbol": "INFY"}


@pytest.fixture
def sandbox_app(demo, clock):
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)  # many calls a second; limits: elsewhere


@pytest.fixture
def market(sandbox_app):
    market = sandbox_app.extensions["kite_sandbox"].market
    market.pin_price(market.by_symbol("NSE", "INFY"), 1500.0)
    return market


def history(kite, order_id) -> dict:
    return kite.order_history(order_id)[-1]


def test_a_cover_order_gets_its_stop_leg_and_exit_order_squares_off(official_kite, market, clock):
    entry = official_kite.place_order(
        variety="co",
        transaction_type="BUY",
        quantity=5,
        product="CO",
        order_type="MARKET",
        market_protection=-1,
        trigger_price=1480,
        **INFY,
    )
    clock.advance(2)  # a market order fills 2 s after placing
    assert history(official_kite, entry)["status"] == "COMPLETE"
    [stop] = [o for o in official_kite.orders() if o["parent_order_id"] == entry]
    assert (stop["status"], stop["order_type"], stop["transaction_type"]) == ("TRIGGER PENDING", "SL-M", "SELL")
    assert stop["product"] == history(official_kite, entry)["product"] == "CO" and stop["trigger_price"] == 1480
    [position] = official_kite.positions()["net"]
    assert (position["product"], position["quantity"]) == ("CO", 5)
    official_kite.exit_order(variety="co", order_id=stop["order_id"], parent_order_id=entry)
    assert history(official_kite, stop["order_id"])["status"] == "COMPLETE"
    assert official_kite.positions()["net"][0]["quantity"] == 0


def test_a_cover_orders_stop_fires_when_the_price_falls_to_it(official_kite, market, clock):
    entry = official_kite.place_order(
        variety="co",
        transaction_type="BUY",
        quantity=1,
        product="CO",
        order_type="LIMIT",
        price=1500,
        trigger_price=1470,
        **INFY,
    )
    assert history(official_kite, entry)["status"] == "COMPLETE"  # marketable: filled at once
    market.pin_price(market.by_symbol("NSE", "INFY"), 1469.0)
    clock.advance(3)
    [stop] = [o for o in official_kite.orders() if o["parent_order_id"] == entry]
    assert stop["status"] == "COMPLETE" and stop["average_price"] == 1469.0
    with pytest.raises(kite_errors.InputException, match="Invalid trigger price entered"):
        official_kite.place_order(
            variety="co", transaction_type="BUY", quantity=1, product="CO", order_type="LIMIT", price=1469, **INFY
        )
    with pytest.raises(kite_errors.InputException, match="stop-loss should be between"):
        official_kite.place_order(
            variety="co",
            transaction_type="BUY",
            quantity=1,
            product="CO",
            order_type="LIMIT",
            price=1469,
            trigger_price=1000,
            **INFY,
        )


def test_iceberg_legs_are_placed_and_filled_one_after_another(official_kite, market):
    first = official_kite.place_order(
        variety="iceberg",
        transaction_type="BUY",
        quantity=10,
        product="CNC",
        order_type="LIMIT",
        price=1490,
        iceberg_legs=3,
        iceberg_quantity=4,
        **INFY,
    )
    orders = official_kite.orders()
    assert [o["order_id"] for o in orders] == [first] and orders[0]["status"] == "OPEN"  # one leg at a time
    assert orders[0]["meta"]["iceberg"] == {
        "leg": 1,
        "legs": 3,
        "leg_quantity": 4,
        "total_quantity": 10,
        "remaining_quantity": 6,
    }
    market.pin_price(market.by_symbol("NSE", "INFY"), 1489.0)  # the price comes to the limit
    legs = sorted(official_kite.orders(), key=lambda o: o["meta"]["iceberg"]["leg"])
    assert [(o["quantity"], o["status"]) for o in legs] == [(4, "COMPLETE"), (3, "COMPLETE"), (3, "COMPLETE")]
    assert [o["meta"]["iceberg"]["remaining_quantity"] for o in legs] == [6, 3, 0]
    assert sum(p["quantity"] for p in official_kite.positions()["net"]) == 10
    with pytest.raises(kite_errors.InputException, match="Invalid `iceberg_quantity`"):
        official_kite.place_order(
            variety="iceberg",
            transaction_type="BUY",
            quantity=10,
            product="CNC",
            order_type="LIMIT",
            price=1490,
            iceberg_legs=3,
            iceberg_quantity=3,
            **INFY,
        )


def test_autoslice_splits_an_order_above_the_freeze_quantity(official_kite, market):
    # The clock stands on 20 Nov 2026: NIFTY's freeze quantity is 3,510 (NSE/FAOP/76693, from 5 Oct 2026)
    call = cheap_nifty_call(market)
    fields = {"exchange": "NFO", "tradingsymbol": call.tradingsymbol, "transaction_type": "BUY", "product": "NRML"}
    fields |= {"order_type": "MARKET", "market_protection": -1}
    with pytest.raises(kite_errors.InputException, match=r"higher than the maximum quantity of 3510 \(54 lots\)"):
        official_kite.place_order(variety="regular", quantity=60 * 65, **fields)
    # Kite's own words and minimum (Kite forum, October 2026)
    with pytest.raises(kite_errors.InputException, match=r"^Quantity should be greater than or equal to 3510 for"):
        official_kite.place_autoslice_order(variety="regular", quantity=20 * 65, **fields)
    with pytest.raises(kite_errors.InputException, match="at most 35100 for order slicing: 10 orders of 3510"):
        official_kite.place_autoslice_order(variety="regular", quantity=3510 * 10 + 65, **fields)
    answer = official_kite.place_autoslice_order(variety="regular", quantity=120 * 65, **fields)
    children = [child["order_id"] for child in answer["children"]]
    assert len(children) == 3 and answer["order_id"] not in children
    by_id = {o["order_id"]: o for o in official_kite.orders()}
    assert [by_id[c]["quantity"] for c in children] == [3510, 3510, 780]
    assert all({"autoslice", f"autoslice:{answer['order_id']}"} <= set(by_id[c]["tags"]) for c in children)


def test_holdings_in_an_auction_can_be_sold_into_it(official_kite, market):
    auctions = {row["tradingsymbol"]: row for row in official_kite.get_auction_instruments()}
    assert set(auctions) == {"INFY", "TCS"}  # the demo account's holdings
    number = auctions["INFY"]["auction_number"]
    sale = {"variety": "auction", "quantity": 2, "product": "CNC", "order_type": "LIMIT", "price": 1510, **INFY}
    with pytest.raises(kite_errors.InputException, match="can only sell"):
        official_kite.place_order(transaction_type="BUY", auction_number=number, **sale)
    with pytest.raises(kite_errors.InputException, match="auction_number"):
        official_kite.place_order(transaction_type="SELL", auction_number="1", **sale)
    order_id = official_kite.place_order(transaction_type="SELL", auction_number=number, **sale)
    order = history(official_kite, order_id)
    assert order["variety"] == "auction" and official_kite.orders()[0]["auction_number"] == number
    with pytest.raises(kite_errors.InputException, match="cannot be modified"):
        official_kite.modify_order(variety="auction", order_id=order_id, price=1505)


def test_a_cover_orders_stop_cancelled_without_its_parent_leaves_the_position_open(official_kite, market):
    entry = official_kite.place_order(
        variety="co",
        transaction_type="BUY",
        quantity=2,
        product="CO",
        order_type="LIMIT",
        price=1500,
        trigger_price=1480,
        **INFY,
    )
    [stop] = [o for o in official_kite.orders() if o["parent_order_id"] == entry]
    official_kite.cancel_order(variety="co", order_id=stop["order_id"])  # no parent_order_id: a plain cancel
    assert history(official_kite, stop["order_id"])["status"] == "CANCELLED"
    assert official_kite.positions()["net"][0]["quantity"] == 2  # as Kite warns: the position is left open


def test_autoslice_children_are_one_request_against_kites_order_caps(demo, clock, sandbox_root_enforcing):
    from sandbox_support import official_client_login

    kite, market = official_client_login(sandbox_root_enforcing[0], demo), sandbox_root_enforcing[1]
    call = cheap_nifty_call(market)
    fields = {"exchange": "NFO", "tradingsymbol": call.tradingsymbol, "transaction_type": "BUY", "product": "NRML"}
    fields |= {"order_type": "LIMIT", "price": market.price(call), "quantity": 10 * 3510}
    answer = kite.place_autoslice_order(variety="regular", **fields)  # 10 children, all in this second
    assert len(answer["children"]) == 10 and all("order_id" in child for child in answer["children"])
    fields["quantity"] = 65
    for _ in range(9):  # the clock stands still: nine more requests make the second's ten
        kite.place_order(variety="regular", **fields)
    with pytest.raises(kite_errors.NetworkException, match="Too many requests"):
        kite.place_order(variety="regular", **fields)


@pytest.fixture
def sandbox_root_enforcing(demo, clock):
    """A sandbox enforcing Kite's rate limits and order caps, over real HTTP; (root, market)."""
    from kite_sandbox.serving import start_in_background

    app = create_sandbox_app(demo, clock=clock)
    server = start_in_background(app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.effective_port}", app.extensions["kite_sandbox"].market
    server.close()


def test_a_request_sees_the_matchers_pass_whole_never_half_of_it(official_kite, sandbox_app, market):
    """The sandbox's matcher thread places a cover order's stop leg; a client asking for its orders at that
    moment waits for the pass to end, so it never sees the entry filled and the stop leg missing."""
    desk = sandbox_app.extensions["kite_sandbox"].desk
    placing, release = threading.Event(), threading.Event()
    place = desk._book.place

    def slow_stop_leg(variety, params, **fields):
        if fields.get("parent_order_id") and threading.current_thread().name == "sandbox-matcher":
            placing.set()
            release.wait(5)
        return place(variety, params, **fields)

    desk._book.place = slow_stop_leg
    buy = {**INFY, "transaction_type": "BUY", "quantity": 1, "product": "CO"}
    entry = official_kite.place_order("co", order_type="LIMIT", price=1500, trigger_price=1480, **buy)
    assert placing.wait(5), "the matcher never came to the stop leg"
    threading.Timer(0.3, release.set).start()
    assert [o["order_id"] for o in official_kite.orders() if o["parent_order_id"] == entry], "stop leg missing"
