"""The kill switch against the sandbox over real HTTP, the service in front of it: open orders of every
variety cancelled as Kite needs each, positions squared off, every order path refused while it is
on, and a restart that keeps it."""

import pytest
import requests

from conftest import ACCESS_CODE
from kite_api import KiteAPI
from kite_service.guard.rules import KillSwitchOn
from kite_service.kite.sdk import kite_errors
from test_gateway import kite_headers, market, sandbox_app, serve_gateway  # noqa: F401 (fixtures)

INFY = {"exchange": "NSE", "tradingsymbol": "INFY"}


@pytest.fixture
def service(serve_gateway, clock):  # noqa: F811
    """The service in front of the sandbox; the switch's sweep waits by moving the test's clock on
    3 s (the sandbox fills a MARKET order 2 s after it came)."""
    gateway = serve_gateway(KILL_SWEEP_SECONDS="20")
    gateway.app.extensions["kite_app"].kill_switch._sleep = lambda seconds: clock.advance(3)
    return gateway


def filled(clock, kite) -> None:
    """Time for the sandbox's MARKET orders to fill (it fills them on the next request after 2 s)."""
    clock.advance(3)
    kite.orders()


def book_of(sandbox_app):  # noqa: F811
    return sandbox_app.extensions["kite_sandbox"].book


def open_everything(trader, market) -> dict:  # noqa: F811
    """A resting limit order, a cover order with its stop leg, an iceberg, an AMO, a GTT and an MIS
    position: what a busy strategy leaves behind."""
    limit = {**INFY, "transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "price": 1400}
    placed = {"limit": trader.place_order(variety="regular", product="CNC", **limit)}
    placed["amo"] = trader.place_order(variety="amo", product="CNC", **limit)
    placed["iceberg"] = trader.place_order(
        variety="iceberg", product="CNC", **{**limit, "quantity": 10}, iceberg_legs=2, iceberg_quantity=5
    )
    cover = {**INFY, "transaction_type": "BUY", "quantity": 2, "order_type": "MARKET", "product": "MIS"}
    placed["cover"] = trader.place_order(variety="co", trigger_price=1480, market_protection=-1, **cover)
    intraday = {**INFY, "transaction_type": "BUY", "quantity": 5, "order_type": "MARKET", "product": "MIS"}
    placed["mis"] = trader.place_order(variety="regular", market_protection=-1, **intraday)
    placed["gtt"] = trader.place_gtt(
        trigger_type=trader.GTT_TYPE_SINGLE,
        trigger_values=[1300],
        last_price=1500,
        orders=[{"transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": 1300}],
        **INFY,
    )["trigger_id"]
    return placed


def test_the_switch_cancels_every_variety_squares_off_and_stops_every_path(service, market, sandbox_app, clock):  # noqa: F811
    trader = service.client("bot", can_trade=True)
    placed = open_everything(trader, market)
    filled(clock, trader)
    book = book_of(sandbox_app)
    assert book.orders[placed["amo"]]["status"] == "AMO REQ RECEIVED"
    stop_leg = next(o for o in book.orders.values() if o.get("parent_order_id") == placed["cover"])
    assert stop_leg["status"] == "TRIGGER PENDING"

    context = service.app.extensions["kite_app"]
    report = context.kill_switch.pull("test", "runaway bot", wait=True)

    statuses = {order_id: order["status"] for order_id, order in book.orders.items()}
    assert not [s for s in statuses.values() if s not in ("COMPLETE", "CANCELLED", "REJECTED")], statuses
    net = {(p["product"], p["tradingsymbol"]): p["quantity"] for p in trader.positions()["net"]}
    assert net[("MIS", "INFY")] == 0 and net[("CO", "INFY")] == 0  # the stop leg's exit squared the cover order
    assert trader.get_gtt(placed["gtt"])["status"] == "deleted"
    texts = [step["text"] for step in report["steps"]]
    assert texts[0].startswith("Kite App's kill switch is on: pulled by test (runaway bot)")
    assert any("(co)" in text and "cancelled" in text for text in texts)  # variety co with its parent
    assert any("(amo)" in text for text in texts) and any("(iceberg)" in text for text in texts)
    assert any(text.startswith("SELL 5 NSE:INFY MIS at market") for text in texts)
    assert report["steps"][-1]["step"] == "flat" and all(step["ok"] for step in report["steps"])

    # Every path refuses while it is on, with the switch's words; nothing reaches the sandbox
    before = len(book.orders)
    order = {**INFY, "transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "price": 1400, "product": "CNC"}
    with pytest.raises(kite_errors.PermissionException, match="kill switch is on: pulled by test"):
        trader.place_order(variety="regular", **order)
    script = KiteAPI(context.settings, clock=context.clock, through_gateway=False)
    with pytest.raises(KillSwitchOn, match=r"kite_app\.py kill --reset"):
        script.place_order(**order)
    assert len(book.orders) == before

    # Pulled again: nothing done twice
    again = context.kill_switch.pull("test", "twice", wait=True)
    assert again["already_on"] and len(again["steps"]) == len(report["steps"])

    # A restart keeps it: another service on the same folder refuses too
    restarted = service.app.extensions["kite_app"].guard.latches.__class__(context.settings.data_dir, context.clock)
    assert restarted.blocking("anyone") is not None

    # Reset needs the typed word, then orders go through again
    headers = {"X-Access-Code": ACCESS_CODE}
    refused = requests.post(f"{service.root}/api/kill/reset", json={}, headers=headers, timeout=5)
    assert refused.status_code == 400 and '"confirm": "RESET"' in refused.json()["message"]
    reset = requests.post(f"{service.root}/api/kill/reset", json={"confirm": "RESET"}, headers=headers, timeout=5)
    assert reset.json()["data"] == {"scope": "account", "was_on": True}
    assert trader.place_order(variety="regular", **order)


def test_kill_for_one_client_leaves_the_others_alone(service, market, sandbox_app, clock):  # noqa: F811
    runaway, steady = service.client("runaway", can_trade=True), service.client("steady", can_trade=True)
    limit = {**INFY, "transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "price": 1400, "product": "CNC"}
    intraday = {**INFY, "transaction_type": "BUY", "order_type": "MARKET", "product": "MIS", "market_protection": -1}
    theirs = [
        runaway.place_order(variety="regular", **limit),
        runaway.place_order(variety="regular", quantity=3, **intraday),
    ]
    mine = [
        steady.place_order(variety="regular", **limit),
        steady.place_order(variety="regular", quantity=4, **intraday),
    ]
    filled(clock, steady)
    context = service.app.extensions["kite_app"]
    report = context.kill_switch.pull("test", "one bot", client="runaway", wait=True)
    book = book_of(sandbox_app)
    assert book.orders[theirs[0]]["status"] == "CANCELLED" and book.orders[mine[0]]["status"] == "OPEN"
    net = {p["product"]: p["quantity"] for p in steady.positions()["net"] if p["tradingsymbol"] == "INFY"}
    assert net["MIS"] == 4  # 3 + 4 bought, the runaway's 3 sold
    assert report["steps"][-1]["text"] == "client 'runaway''s positions are flat and nothing is pending"
    with pytest.raises(kite_errors.PermissionException, match="kill switch for client 'runaway'"):
        runaway.place_order(variety="regular", **limit)
    assert steady.place_order(variety="regular", **limit)  # the others trade on


def test_a_refused_cancel_and_exit_are_reported_the_rest_done_and_nothing_loops(service, market, sandbox_app, clock):  # noqa: F811
    trader = service.client("bot", can_trade=True)
    limit = {**INFY, "transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "price": 1400, "product": "CNC"}
    stuck, other = trader.place_order(variety="regular", **limit), trader.place_order(variety="regular", **limit)
    intraday = {**INFY, "transaction_type": "BUY", "quantity": 2, "order_type": "MARKET", "product": "MIS"}
    trader.place_order(variety="regular", market_protection=-1, **intraday)
    filled(clock, trader)
    faults = sandbox_app.extensions["kite_sandbox"].faults
    faults.set(f"/orders/regular/{stuck}", "server-error", -1)  # Kite never cancels this one
    faults.set("/orders/regular", "server-error", -1)  # nor takes an exit
    context = service.app.extensions["kite_app"]
    report = context.kill_switch.pull("test", "faults", wait=True)
    failed = [step["text"] for step in report["steps"] if not step["ok"]]
    assert any(text.startswith(f"FAILED to cancel order {stuck}") for text in failed)
    assert sum(text.startswith("FAILED to exit SELL 2 NSE:INFY MIS") for text in failed) == 1  # never tried again
    assert book_of(sandbox_app).orders[other]["status"] == "CANCELLED"  # the rest was done
    assert report["steps"][-1]["text"].startswith("NOT FLAT: positions left {'NSE:INFY:MIS': 2}")
    assert report["left"] == {"NSE:INFY:MIS": 2}


def test_an_exit_still_pending_is_never_doubled(service, market, sandbox_app, clock):  # noqa: F811
    trader = service.client("bot", can_trade=True)
    intraday = {**INFY, "transaction_type": "BUY", "quantity": 5, "order_type": "MARKET", "product": "MIS"}
    trader.place_order(variety="regular", market_protection=-1, **intraday)
    filled(clock, trader)
    context = service.app.extensions["kite_app"]
    waits = iter([0, 0, 0])  # three sweeps while the exit has not filled yet, then time for it to fill
    context.kill_switch._sleep = lambda seconds: clock.advance(next(waits, 3))
    report = context.kill_switch.pull("test", "slow fill", wait=True)
    exits = [o for o in book_of(sandbox_app).orders.values() if o.get("tag") == "killswitch"]
    assert [(o["transaction_type"], o["quantity"]) for o in exits] == [("SELL", 5)]  # one exit, not four
    assert report["steps"][-1]["step"] == "flat"


def test_no_placement_reaches_kite_after_the_latch_while_20_programs_place_flat_out(service, market, sandbox_app):  # noqa: F811
    import threading
    import time

    sandbox = sandbox_app.extensions["kite_sandbox"]
    arrivals, place = [], sandbox.desk.place

    def recorded(variety, form):
        arrivals.append((time.monotonic(), form.get("tag")))
        return place(variety, form)

    sandbox.desk.place = recorded
    context = service.app.extensions["kite_app"]
    latches, latched_at = context.guard.latches, []
    pull_latch = latches.pull

    def timed_pull(*args, **kwargs):
        answer = pull_latch(*args, **kwargs)
        latched_at.append(time.monotonic())
        return answer

    latches.pull = timed_pull
    programs = [service.client(f"bot-{n}", can_trade=True) for n in range(20)]
    order = {**INFY, "transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT", "price": 1400, "product": "CNC"}
    stop, refused = threading.Event(), []

    def flat_out(kite):
        while not stop.is_set():
            try:
                kite.place_order(variety="regular", **order)
            except kite_errors.PermissionException:
                refused.append(1)
            except kite_errors.KiteException:
                pass

    threads = [threading.Thread(target=flat_out, args=(kite,)) for kite in programs]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    report = context.kill_switch.pull("test", "flood", wait=True)
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join(10)
    placed_before = [at for at, tag in arrivals if at <= latched_at[0] and tag != "killswitch"]
    after = [at for at, tag in arrivals if at > latched_at[0] and tag != "killswitch"]
    assert placed_before and refused and after == []
    assert report["steps"][-1]["step"] == "flat"  # every one that got in before was cancelled


def test_exits_above_the_freeze_quantity_are_sliced_in_whole_lots(service, market, sandbox_app, clock):  # noqa: F811
    from kite_sandbox.exchange_numbers import FREEZE_QUANTITIES, INDEX_LOT_SIZES, most_per_order

    day = clock().date()
    lot, freeze = INDEX_LOT_SIZES.on("NIFTY", day).value, FREEZE_QUANTITIES.on("NIFTY", day).value
    most = most_per_order(freeze, lot)  # one order's most: 3,510 (54 lots of 65)
    option = next(i for i in market.instruments if i.exchange == "NFO" and i.name == "NIFTY" and i.strike)
    market.pin_price(option, 2.0)  # a far option: 7,085 units within the demo account's funds
    trader = service.client("bot", can_trade=True)
    trader.place_autoslice_order(
        variety="regular",
        exchange="NFO",
        tradingsymbol=option.tradingsymbol,
        transaction_type="BUY",
        quantity=2 * most + lot,
        product="MIS",
        order_type="MARKET",
        market_protection=-1,
    )
    filled(clock, trader)
    report = service.app.extensions["kite_app"].kill_switch.pull("test", "freeze", wait=True)
    exits = [o for o in book_of(sandbox_app).orders.values() if o.get("tag") == "killswitch"]
    assert sorted(o["quantity"] for o in exits) == sorted([most, most, lot])
    assert report["steps"][-1]["step"] == "flat"
