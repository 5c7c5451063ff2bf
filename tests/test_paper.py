"""Paper clients through the gateway, with the official Python client: fills from the live depth the
hub carries (the sandbox's real ticker), Kite's shapes back, and nothing of theirs at Kite's order book."""

from conftest import recorded
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


def test_a_limit_fills_only_when_the_market_crosses_it_and_a_stop_triggers_on_the_last_price(paper_service):  # noqa: F811
    infy = paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("limits")
    limit = kite.place_order(variety="regular", order_type="LIMIT", quantity=2, price=1490.0, **BUY)
    sell = {**BUY, "transaction_type": "SELL", "product": "MIS"}
    stop = kite.place_order(variety="regular", order_type="SL", quantity=2, price=1480.0, trigger_price=1485.0, **sell)
    assert wait_for(lambda: kite.order_history(stop)[-1]["status"] == "TRIGGER PENDING")
    assert kite.order_history(limit)[-1]["status"] == "OPEN"  # the offers are above 1,490
    paper_service.market.pin_price(infy, 1484.0)  # below the stop's trigger and the buy's limit
    assert wait_for(lambda: kite.order_history(limit)[-1]["status"] == "COMPLETE")
    buy_fill = kite.order_trades(limit)[0]["average_price"]
    ask = kite.quote("NSE:INFY")["NSE:INFY"]["depth"]["sell"][0]["price"]
    assert buy_fill == ask <= 1490.0  # at the offer: the limit or better
    assert wait_for(lambda: kite.order_history(stop)[-1]["status"] == "COMPLETE")
    stop_fill = kite.order_trades(stop)[0]["average_price"]
    assert 1480.0 <= stop_fill < 1484.0  # triggered at 1,484, sold at the bid, within its limit


def test_a_stop_whose_trigger_was_crossed_still_fills_when_the_price_comes_back(paper_service):  # noqa: F811
    infy = paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("comeback")
    sell = {**BUY, "transaction_type": "SELL", "product": "MIS"}
    stop = kite.place_order(variety="regular", order_type="SL", quantity=1, price=1495.0, trigger_price=1496.0, **sell)
    paper_service.market.pin_price(infy, 1470.0)  # through the trigger and far past the limit: no bid at 1,495
    assert wait_for(lambda: kite.order_history(stop)[-1]["status"] == "OPEN")  # triggered, now a limit at 1,495
    assert kite.order_history(stop)[-1]["filled_quantity"] == 0
    paper_service.market.pin_price(infy, 1500.0)  # back: bids above the limit
    assert wait_for(lambda: kite.order_history(stop)[-1]["status"] == "COMPLETE")
    assert kite.order_trades(stop)[0]["average_price"] >= 1495.0


def test_nothing_fills_on_a_stale_price_and_the_order_says_why(paper_service, monkeypatch):  # noqa: F811
    from kite_service.paper import market as paper_market

    paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("stale")
    monkeypatch.setattr(paper_market, "FRESH_SECONDS", -1.0)  # every price is too old: as if ticks stopped
    order_id = kite.place_order(variety="regular", order_type="MARKET", quantity=1, market_protection=-1, **BUY)
    assert wait_for(lambda: "old" in (kite.order_history(order_id)[-1]["status_message"] or ""))
    last = kite.order_history(order_id)[-1]
    assert last["status"] == "OPEN" and last["filled_quantity"] == 0
    assert "fills need a tick within" in last["status_message"]
    monkeypatch.setattr(paper_market, "FRESH_SECONDS", 30.0)
    assert wait_for(lambda: kite.order_history(order_id)[-1]["status"] == "COMPLETE")
    assert kite.order_history(order_id)[-1]["status_message"] is None


def test_no_order_class_call_of_a_paper_client_reaches_kite_while_a_live_clients_does(paper_service):  # noqa: F811
    import pytest
    import requests
    from kiteconnect import exceptions

    paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("paperonly")
    resting = kite.place_order(variety="regular", order_type="LIMIT", quantity=1, price=1400.0, **BUY)
    kite.modify_order(variety="regular", order_id=resting, price=1401.0)
    kite.cancel_order(variety="regular", order_id=resting)
    filled = kite.place_order(variety="regular", order_type="MARKET", quantity=1, market_protection=-1, **BUY)
    assert wait_for(lambda: kite.order_history(filled)[-1]["status"] == "COMPLETE")
    mis = kite.place_order(
        variety="regular", order_type="MARKET", quantity=2, market_protection=-1, **{**BUY, "product": "MIS"}
    )
    assert wait_for(lambda: kite.order_history(mis)[-1]["status"] == "COMPLETE")
    kite.convert_position(
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="BUY",
        position_type="day",
        quantity=1,
        old_product="MIS",
        new_product="CNC",
    )
    gtt = kite.place_gtt(
        trigger_type=kite.GTT_TYPE_SINGLE,
        tradingsymbol="INFY",
        exchange="NSE",
        trigger_values=[1300.0],
        last_price=1500.0,
        orders=[{"transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": 1300.0}],
    )["trigger_id"]
    kite.modify_gtt(
        trigger_id=gtt,
        trigger_type=kite.GTT_TYPE_SINGLE,
        tradingsymbol="INFY",
        exchange="NSE",
        trigger_values=[1310.0],
        last_price=1500.0,
        orders=[{"transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": 1310.0}],
    )
    kite.delete_gtt(gtt)
    headers = {"Authorization": f"token {kite.api_key}:{kite.access_token}", "X-Kite-Version": "3"}
    alert = {
        "name": "dip",
        "type": "simple",
        "lhs_exchange": "NSE",
        "lhs_tradingsymbol": "INFY",
        "lhs_attribute": "LastTradedPrice",
        "operator": "<=",
        "rhs_type": "constant",
        "rhs_constant": "1300",
    }
    created = requests.post(f"{paper_service.root}/alerts", data=alert, headers=headers, timeout=10)
    assert created.status_code == 200, created.text
    for call in (
        lambda: kite.place_mf_order(tradingsymbol="INF090I01239", transaction_type="BUY", amount=5000),
        lambda: kite.cancel_mf_order("123"),
        lambda: kite.place_mf_sip(tradingsymbol="INF090I01239", amount=5000, instalments=12, frequency="monthly"),
        lambda: kite.modify_mf_sip("123", amount=6000),
        lambda: kite.cancel_mf_sip("123"),
    ):
        with pytest.raises(exceptions.PermissionException, match="not paper-traded"):
            call()
    assert paper_service.order_calls_at_kite() == []  # reads went (quotes), nothing that changes anything

    live = paper_service.client("live", paper=False)
    live_id = live.place_order(variety="regular", order_type="MARKET", quantity=1, market_protection=-1, **BUY)
    assert paper_service.order_calls_at_kite() == [("POST", "/orders/regular")]
    assert live_id not in {order["order_id"] for order in kite.orders()}  # the paper book is its own
    assert {order["order_id"] for order in kite.orders()} >= {resting, filled, mis}


def test_a_restart_keeps_the_paper_book_and_its_resting_orders_still_fill(paper_service):  # noqa: F811
    from kite_service.paper.desk import PaperDesk
    from kite_service.paper.store import PaperStore

    infy = paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("keeper", capital=200_000.0)
    filled = kite.place_order(variety="regular", order_type="MARKET", quantity=3, market_protection=-1, **BUY)
    assert wait_for(lambda: kite.order_history(filled)[-1]["status"] == "COMPLETE")
    resting = kite.place_order(variety="regular", order_type="LIMIT", quantity=2, price=1450.0, **BUY)
    legs = [{"transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": 1300.0}]
    kite.place_gtt(
        trigger_type=kite.GTT_TYPE_SINGLE,
        tradingsymbol="INFY",
        exchange="NSE",
        trigger_values=[1300.0],
        last_price=1500.0,
        orders=legs,
    )
    before = (kite.orders(), kite.trades(), kite.positions()["net"], kite.margins("equity"), kite.get_gtts())

    context = paper_service.context
    old = context.paper
    old.stop()  # the service stops: the desk's thread ends and its file is closed
    context.paper = PaperDesk(old.market, PaperStore(old._store.path), context.ticker_hub, old._hours, context.clock)
    context.paper.start()
    try:
        after = (kite.orders(), kite.trades(), kite.positions()["net"], kite.margins("equity"), kite.get_gtts())
        assert after[0] == before[0] and after[1] == before[1]
        assert after[4] == before[4] and len(after[4]) == 1  # the GTT kept too
        assert [(p["quantity"], p["average_price"]) for p in after[2]] == [(3, before[2][0]["average_price"])]
        assert after[3]["net"] == before[3]["net"]  # cash: 2,00,000 less what the fills and the open order hold
        assert after[3]["available"]["opening_balance"] == 200_000.0
        paper_service.market.pin_price(infy, 1440.0)  # the market comes to the resting order
        assert wait_for(lambda: kite.order_history(resting)[-1]["status"] == "COMPLETE")
        assert kite.positions()["net"][0]["quantity"] == 5
    finally:
        context.paper.stop()


def test_positions_and_pnl_equal_kites_formula_over_the_fills(paper_service):  # noqa: F811
    infy = paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("pnl")
    mis = {**BUY, "product": "MIS"}
    for side, quantity in (("BUY", 15), ("SELL", 4)):
        order_id = kite.place_order(
            variety="regular",
            order_type="MARKET",
            quantity=quantity,
            market_protection=-1,
            **{**mis, "transaction_type": side},
        )
        assert wait_for(lambda o=order_id: kite.order_history(o)[-1]["status"] == "COMPLETE")
    paper_service.market.pin_price(infy, 1512.3)
    assert wait_for(lambda: kite.positions()["net"][0]["last_price"] == 1512.3)
    trades = kite.trades()
    bought = sum(t["quantity"] * t["average_price"] for t in trades if t["transaction_type"] == "BUY")
    sold = sum(t["quantity"] * t["average_price"] for t in trades if t["transaction_type"] == "SELL")
    row = kite.positions()["net"][0]
    assert row["quantity"] == 11 and row["product"] == "MIS"
    # Kite's formula (facts §13): pnl = (sell value - buy value) + quantity * last price * multiplier
    assert row["pnl"] == round(sold - bought + 11 * 1512.3 * 1, 2)
    assert row["buy_value"] == round(bought, 2) and row["sell_value"] == round(sold, 2)


def test_clients_add_paper_list_and_paper_reset(paper_service, capsys):  # noqa: F811
    from kite_service.gateway.cli import main

    settings = paper_service.context.settings
    assert main(["add", "rehearsal", "--paper", "--capital", "2,50,000"], settings) == 0
    assert "paper account at live prices" in capsys.readouterr().out
    assert main(["list"], settings) == 0
    listed = capsys.readouterr().out
    assert "rehearsal" in listed and "paper (250,000 since" in listed
    assert main(["add", "x", "--capital", "5"], settings) == 2  # capital without --paper
    capsys.readouterr()

    paper_service.pin("INFY", 1500.0)
    client = next(c for c in paper_service.context.gateway.clients.all() if c.name == "rehearsal")
    account = paper_service.context.paper.account(client)
    assert account.capital == 250_000.0
    kite = paper_service.client("resettable", capital=100_000.0)
    order_id = kite.place_order(variety="regular", order_type="MARKET", quantity=1, market_protection=-1, **BUY)
    assert wait_for(lambda: kite.order_history(order_id)[-1]["status"] == "COMPLETE")
    assert main(["paper-reset", "resettable"], settings) == 0
    assert kite.orders() == [] and kite.positions()["net"] == []
    assert kite.margins("equity")["net"] == 100_000.0
    assert main(["paper-reset", "rehearsal-not"], settings) == 1


def test_order_updates_go_to_the_paper_clients_ticker_and_nobody_elses(paper_service):  # noqa: F811
    from paper_support import order_updates

    paper_service.pin("INFY", 1500.0)
    paper, live = paper_service.client("paperticker"), paper_service.client("liveticker", paper=False)
    with paper_service.ticker_socket(paper) as paper_socket, paper_service.ticker_socket(live) as live_socket:
        order_id = paper.place_order(variety="regular", order_type="MARKET", quantity=1, market_protection=-1, **BUY)
        heard = order_updates(paper_socket, 10, until=lambda u: u and u[-1]["status"] == "COMPLETE")
        assert [u["status"] for u in heard if u["order_id"] == order_id][-1] == "COMPLETE"
        assert set(heard[-1]) == set(recorded("postback.json"))  # Kite's order update, field for field
        live_id = live.place_order(variety="regular", order_type="MARKET", quantity=1, market_protection=-1, **BUY)
        live_heard = order_updates(live_socket, 10, until=lambda u: u and u[-1]["status"] == "COMPLETE")
        assert {u["order_id"] for u in live_heard} == {live_id}  # the account's own, not the paper one
        assert live_id not in {u["order_id"] for u in order_updates(paper_socket, 0.5)}


def test_the_javascript_client_runs_a_strategy_on_a_paper_client(paper_service, node):  # noqa: F811
    import json
    import subprocess

    from sandbox_support import JS_CLIENT

    paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("js-strategy")
    command = [node, "paper_strategy.js", kite.api_key, kite.access_token, paper_service.root]
    run = subprocess.run(command, cwd=JS_CLIENT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert [o["order_id"] for o in seen["orders"]] == seen["ids"] and {o["status"] for o in seen["orders"]} == {
        "COMPLETE"
    }
    assert sum(t["quantity"] for t in seen["trades"]) == 3
    assert [(p["tradingsymbol"], p["quantity"]) for p in seen["positions"]["net"]] == [("INFY", 1)]
    assert paper_service.order_calls_at_kite() == []


def test_kite_api_runs_a_strategy_on_a_paper_client_and_every_answer_has_kites_recorded_shape(paper_service):  # noqa: F811
    import requests

    from kite_api import KiteAPI
    from test_sandbox_shapes import assert_same_shape

    paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("api-strategy")
    context = paper_service.context
    api = KiteAPI(context.settings, clock=context.clock, client=(kite.api_key, kite.access_token))
    order_id = api.place_order(
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="BUY",
        quantity=2,
        product="MIS",
        order_type="MARKET",
        market_protection=-1,
    )
    assert wait_for(lambda: api.get_order_history(order_id)[-1]["status"] == "COMPLETE")
    stop = api.place_order(
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="SELL",
        quantity=2,
        product="MIS",
        order_type="SL",
        price=1400.0,
        trigger_price=1401.0,
    )
    assert api.get_positions()["net"][0]["quantity"] == 2
    assert [o["order_id"] for o in api.get_orders()] == [order_id, stop]
    headers = {"Authorization": f"token {kite.api_key}:{kite.access_token}", "X-Kite-Version": "3"}
    for path, fixture in (
        ("/orders", "orders.json"),
        (f"/orders/{order_id}", "order_info.json"),
        (f"/orders/{order_id}/trades", "order_trades.json"),
        ("/trades", "trades.json"),
        ("/portfolio/positions", "positions.json"),
        ("/user/margins", "margins.json"),
        ("/user/margins/equity", "margins_equity.json"),
    ):
        body = requests.get(paper_service.root + path, headers=headers, timeout=10).json()
        assert body["status"] == "success", (path, body)
        assert_same_shape(body["data"], [recorded(fixture)["data"]], path)
    assert paper_service.order_calls_at_kite() == []


def test_the_guard_checks_a_paper_clients_orders_by_its_own_limits_apart_from_the_accounts(paper_service):  # noqa: F811
    import pytest
    from kiteconnect import exceptions

    paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("limited")
    paper_service.context.gateway.clients.set_limits("limited", max_orders_per_day=2)
    for _ in range(2):
        kite.place_order(variety="regular", order_type="LIMIT", quantity=1, price=1400.0, **BUY)
    with pytest.raises(exceptions.InputException, match="--max-orders-per-day"):
        kite.place_order(variety="regular", order_type="LIMIT", quantity=1, price=1400.0, **BUY)
    counts = paper_service.context.guard.orders_today()
    assert counts["limited"] == 2 and counts.get("account", 0) == 0  # not the account's 5,000 a day
    assert len(kite.orders()) == 2


def test_the_day_page_shows_paper_programs_apart_with_their_own_pnl(paper_service):  # noqa: F811
    from day_support import Figures, open_page

    infy = paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("daypaper", capital=300_000.0)
    order_id = kite.place_order(variety="regular", order_type="MARKET", quantity=4, market_protection=-1, **BUY)
    assert wait_for(lambda: kite.order_history(order_id)[-1]["status"] == "COMPLETE")
    paper_service.market.pin_price(infy, 1520.0)
    assert wait_for(lambda: kite.positions()["net"][0]["last_price"] == 1520.0)
    page = open_page(paper_service.root).get(f"{paper_service.root}/day", timeout=10)
    assert page.status_code == 200
    row = Figures(page.text).rows("paper")["daypaper"]
    assert float(row["pnl"]) == kite.positions()["net"][0]["pnl"] > 0  # Kite's formula, at the live price
    assert float(row["available"]) == kite.margins("equity")["net"]
    assert (row["orders"], row["open_orders"], row["positions"]) == ("1", "0", "1")
    programs = Figures(page.text).rows("program")
    assert "daypaper" in programs  # listed with the programs too (its calls and ticker)


def test_the_kill_switch_on_a_paper_client_flattens_its_paper_account_and_sends_nothing_to_kite(paper_service):  # noqa: F811
    import pytest
    from kiteconnect import exceptions

    paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("killpaper")
    filled = kite.place_order(variety="regular", order_type="MARKET", quantity=6, market_protection=-1, **BUY)
    assert wait_for(lambda: kite.order_history(filled)[-1]["status"] == "COMPLETE")
    resting = kite.place_order(variety="regular", order_type="LIMIT", quantity=1, price=1400.0, **BUY)
    report = paper_service.context.kill_switch.pull("a test", "rehearsing the stop", client="killpaper", wait=True)
    assert (
        report["steps"][-1]["step"] == "flat"
        and "1 open order(s) cancelled, 1 position(s)" in report["steps"][-1]["text"]
    )
    assert kite.order_history(resting)[-1]["status"] == "CANCELLED"
    assert wait_for(lambda: kite.positions()["net"][0]["quantity"] == 0)
    assert {o["tag"] for o in kite.orders() if o["transaction_type"] == "SELL"} == {"killswitch"}
    with pytest.raises(exceptions.PermissionException):
        kite.place_order(variety="regular", order_type="LIMIT", quantity=1, price=1400.0, **BUY)
    assert paper_service.order_calls_at_kite() == []


def test_an_open_orders_margin_is_kites_own_from_its_calculator(paper_service):  # noqa: F811
    paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("margins", capital=500_000.0)
    order = {**BUY, "product": "MIS", "variety": "regular", "order_type": "LIMIT", "quantity": 10, "price": 1450.0}
    kite_says = kite.basket_order_margins([order], consider_positions=False, mode="compact")["initial"]["total"]
    paper_service.received.clear()
    kite.place_order(**order)
    assert ("POST", "/margins/basket") in paper_service.received  # asked of Kite, read-only
    assert kite.margins("equity")["net"] == round(500_000.0 - kite_says, 2)
    kite.place_order(**{**order, "price": 1440.0})  # the same instrument, product and side: not asked again
    assert paper_service.received.count(("POST", "/margins/basket")) == 1
    assert paper_service.order_calls_at_kite() == []  # a calculation asked, nothing placed


def test_a_paper_clients_max_loss_pulls_the_kill_switch_on_its_paper_account_alone(paper_service):  # noqa: F811
    infy = paper_service.pin("INFY", 1500.0)
    kite = paper_service.client("capped")
    paper_service.context.gateway.clients.set_limits("capped", max_loss=150.0)
    order_id = kite.place_order(variety="regular", order_type="MARKET", quantity=10, market_protection=-1, **BUY)
    assert wait_for(lambda: kite.order_history(order_id)[-1]["status"] == "COMPLETE")
    paper_service.market.pin_price(infy, 1490.0)  # about -101: within the limit
    assert wait_for(lambda: kite.positions()["net"][0]["last_price"] == 1490.0)
    assert paper_service.context.guard.latches.blocking("capped") is None
    paper_service.market.pin_price(infy, 1484.0)  # about -161: past it
    latch = wait_for(lambda: paper_service.context.guard.latches.blocking("capped"))
    assert latch.pulled_by == "capped's --max-loss" and "reached minus its --max-loss (150)" in latch.reason
    assert wait_for(lambda: kite.positions()["net"][0]["quantity"] == 0)  # exited in the paper account
    assert paper_service.context.guard.latches.blocking() is None  # the account's own trading goes on
    assert paper_service.order_calls_at_kite() == []
