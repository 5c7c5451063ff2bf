"""Paper clients through the gateway, with the official Python client: fills from the live depth the
hub carries (the sandbox's real ticker), Kite's shapes back, and nothing of theirs at Kite's order book."""

from hub_support import sandbox_ticker, serve_hub  # noqa: F401 (fixtures)
from paper_support import BUY, paper_service, received, sandbox_app, wait_for  # noqa: F401 (fixtures)


def test_a_market_buy_fills_at_the_ask_and_a_sell_at_the_bid_level_by_level(paper_service):  # noqa: F811
    paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("rehearsal")
    depth = kite.quote("NSE:INFY")["NSE:INFY"]["depth"]  # a read: Kite's (here the sandbox's) own
    asks, bids = depth["sell"], depth["buy"]
    wanted = asks[0]["quantity"] + 5  # more than the best offer: the rest at the next level
    order_id = kite.place_order(variety="regular", order_type="MARKET", quantity=wanted, market_protection=-1, **BUY)
    assert wait_for(lambda: kite.order_history(order_id)[-1]["status"] == "COMPLETE")
    trades = kite.order_trades(order_id)
    assert [(t["quantity"], t["average_price"]) for t in trades] == [
        (asks[0]["quantity"], asks[0]["price"]),
        (5, asks[1]["price"]),
    ]
    sell = {**BUY, "transaction_type": "SELL"}
    order_id = kite.place_order(variety="regular", order_type="MARKET", quantity=3, market_protection=-1, **sell)
    assert wait_for(lambda: kite.order_history(order_id)[-1]["status"] == "COMPLETE")
    assert [(t["quantity"], t["average_price"]) for t in kite.order_trades(order_id)] == [(3, bids[0]["price"])]
    assert paper_service.order_calls_at_kite() == []
