"""The day's P&L at the hub's live prices, equal to the sandbox's own positions answer, and the kill
switch pulled once when it reaches minus MAX_DAILY_LOSS: over the sandbox's real ticker and the hub."""

import time

from conftest import wait_for
from hub_support import sandbox_ticker, serve_hub  # noqa: F401 (fixtures)
from test_ticker_hub import sandbox_app  # noqa: F401 (a sandbox on the running clock: ticks in real time)


def marked_at(context, price: float) -> bool:
    """The watch has a tick of `price` for its one position."""
    positions = context.loss_watch.status()["positions"]
    return bool(positions) and positions[0]["last_price"] == price


def test_a_loss_past_max_daily_loss_pulls_the_kill_switch_once_and_the_pnl_is_kites(
    serve_hub,  # noqa: F811
    sandbox_app,  # noqa: F811
    official_kite,
    caplog,
):
    _url, app = serve_hub(MAX_DAILY_LOSS="1000")
    context = app.extensions["kite_app"]
    market = sandbox_app.extensions["kite_sandbox"].market
    infy = market.by_symbol("NSE", "INFY")
    market.pin_price(infy, 1500.0)
    buy = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 100}
    official_kite.place_order(variety="regular", product="MIS", order_type="LIMIT", price=1510, **buy)  # fills at 1500
    assert wait_for(lambda: sum(row["quantity"] for row in official_kite.positions()["net"]) == 100)  # both fills
    average = official_kite.positions()["net"][0]["buy_value"] / 100
    context.loss_watch.start()
    try:
        market.pin_price(infy, 1497.3)
        assert wait_for(lambda: marked_at(context, 1497.3)), context.loss_watch.status()
        kite_total = round(sum(row["m2m"] for row in official_kite.positions()["net"]), 2)
        assert context.loss_watch.status()["total"] == kite_total == round((1497.3 - average) * 100, 2)
        assert context.guard.latches.blocking() is None

        warn_price = round(average - 8.5, 1)  # 80 % to 100 % of the limit: a warning, no trip
        market.pin_price(infy, warn_price)
        assert wait_for(lambda: marked_at(context, warn_price))
        assert wait_for(lambda: any("80% of MAX_DAILY_LOSS" in r.getMessage() for r in caplog.records))
        assert context.guard.latches.blocking() is None

        market.pin_price(infy, round(average - 12, 1))  # about -1,200: past the limit
        latch = wait_for(lambda: context.guard.latches.blocking())
        assert latch.pulled_by == "MAX_DAILY_LOSS" and "reached minus MAX_DAILY_LOSS (1,000)" in latch.reason
        report = wait_for(lambda: context.kill_switch.report().get("done") and context.kill_switch.report(), 30)
        assert report["steps"][-1]["step"] == "flat"
        net = {row["product"]: row["quantity"] for row in official_kite.positions()["net"]}
        assert net["MIS"] == 0
        market.pin_price(infy, 1480.0)  # still losing: pulled once, not again
        time.sleep(1.5)
        trips = [r for r in caplog.records if "pulling the kill switch" in r.getMessage()]
        assert len(trips) == 1
    finally:
        context.loss_watch.stop()


def test_a_clients_max_loss_stops_that_client_alone(serve_hub, sandbox_app, official_kite):  # noqa: F811
    import json

    _url, app = serve_hub()
    context = app.extensions["kite_app"]
    registry, audit = context.gateway.clients, context.gateway.audit
    registry.add("bot", can_trade=True, max_loss=500)
    registry.add("other", can_trade=True)
    market = sandbox_app.extensions["kite_sandbox"].market
    infy = market.by_symbol("NSE", "INFY")
    market.pin_price(infy, 1500.0)
    buy = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "product": "MIS"}
    buy |= {"order_type": "LIMIT", "price": 1510}
    for client, quantity in (("bot", 10), ("other", 6)):  # placed through the gateway: the audit says whose
        order_id = official_kite.place_order(variety="regular", quantity=quantity, **buy)
        answer = json.dumps({"status": "success", "data": {"order_id": order_id}})
        audit.record(context.clock(), client, "POST", "/orders/regular", {**buy, "quantity": quantity}, 200, answer)
    assert wait_for(lambda: sum(row["quantity"] for row in official_kite.positions()["net"]) == 16)
    context.loss_watch.start()
    context.loss_watch._wake.set()
    try:
        market.pin_price(infy, 1440.0)  # bot: 10 x -60 = -600, past its 500; the account has no limit
        latch = wait_for(lambda: context.guard.latches.active().get("bot"))
        assert latch and latch.pulled_by == "bot's --max-loss" and context.guard.latches.blocking() is None
        report = wait_for(lambda: context.kill_switch.report("bot").get("done") and context.kill_switch.report("bot"))
        assert report["steps"][-1]["step"] == "flat", report
        net = {row["product"]: row["quantity"] for row in official_kite.positions()["net"]}
        assert net["MIS"] == 6  # the other client's 6 stay
    finally:
        context.loss_watch.stop()


def test_the_pnl_of_an_equity_and_an_index_option_equals_the_sandboxs_answer_to_the_paisa(
    serve_hub,  # noqa: F811
    sandbox_app,  # noqa: F811
    official_kite,
):
    _url, app = serve_hub(MAX_DAILY_LOSS="10000000")
    context = app.extensions["kite_app"]
    market = sandbox_app.extensions["kite_sandbox"].market
    infy = market.by_symbol("NSE", "INFY")
    option = next(i for i in market.instruments if i.exchange == "NFO" and i.name == "NIFTY" and i.strike)
    market.pin_price(infy, 1500.0)
    market.pin_price(option, 120.0)
    equity = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 7}
    official_kite.place_order(variety="regular", product="MIS", order_type="LIMIT", price=1510, **equity)
    contract = {"exchange": "NFO", "tradingsymbol": option.tradingsymbol, "transaction_type": "SELL"}
    official_kite.place_order(
        variety="regular", product="NRML", order_type="LIMIT", price=110, quantity=2 * option.lot_size, **contract
    )
    assert wait_for(lambda: len([r for r in official_kite.positions()["net"] if r["quantity"]]) == 2)
    context.loss_watch.start()
    try:
        market.pin_price(infy, 1503.7)
        market.pin_price(option, 131.45)

        def both_marked():
            positions = context.loss_watch.status()["positions"]
            return len(positions) == 2 and {p["last_price"] for p in positions} == {1503.7, 131.45}

        assert wait_for(both_marked), context.loss_watch.status()
        kite_rows = official_kite.positions()["net"]
        mine = {p["position"].split(" ")[0]: p["m2m"] for p in context.loss_watch.status()["positions"]}
        kites = {f"{r['exchange']}:{r['tradingsymbol']}": r["m2m"] for r in kite_rows}
        assert mine == kites  # each position to the paisa, and so the total
        assert context.loss_watch.status()["total"] == round(sum(kites.values()), 2)
    finally:
        context.loss_watch.stop()
