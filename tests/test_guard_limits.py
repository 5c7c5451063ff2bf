"""The guard's limits over real HTTP: each refuses exactly the orders it should, with Kite's error and
a message naming the limit, the figure and the setting, on the gateway and in KiteAPI alike, and the
sandbox playing Kite receives nothing of what was refused."""

import json

import pytest

from kite_api import KiteAPI
from kite_service.guard.rules import GuardRefusal
from kite_service.kite.sdk import kite_errors
from test_gateway import market, sandbox_app, serve_gateway  # noqa: F401 (fixtures)

INFY = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY"}
LIMITS = {
    "MAX_ORDER_QUANTITY": "10",
    "MAX_ORDER_VALUE": "14000",
    "ALLOWED_EXCHANGES": "NSE,NFO",
    "ALLOWED_PRODUCTS": "CNC,MIS",
}


@pytest.fixture
def placed(sandbox_app):  # noqa: F811
    """The order placements (and modifications) that reached the sandbox."""
    seen = []
    sandbox = sandbox_app.extensions["kite_sandbox"]
    place, modify = sandbox.desk.place, sandbox.desk.modify
    sandbox.desk.place = lambda variety, form: seen.append(("place", dict(form))) or place(variety, form)
    sandbox.desk.modify = lambda variety, order_id, form: (
        seen.append(("modify", dict(form))) or modify(variety, order_id, form)
    )
    return seen


def test_each_per_order_limit_refuses_exactly_what_it_should_and_nothing_is_sent(serve_gateway, market, placed):  # noqa: F811
    kite = serve_gateway(**LIMITS).client("bot", can_trade=True)

    def refused(match: str, variety="regular", **order):
        with pytest.raises(kite_errors.InputException, match=match):
            kite.place_order(variety=variety, **{**INFY, "product": "CNC", "order_type": "LIMIT", **order})

    ok = kite.place_order(variety="regular", **INFY, product="CNC", order_type="LIMIT", quantity=10, price=1400)
    refused(r"quantity 11 is above MAX_ORDER_QUANTITY \(10\)", quantity=11, price=1400)
    refused(r"value 14,010.00 \(10 x 1,401.00\) is above MAX_ORDER_VALUE \(14,000\)", quantity=10, price=1401)
    refused(r"value 15,000.00 \(10 x 1,500.00\)", quantity=10, order_type="MARKET", market_protection=-1)  # last price
    refused(r"exchange BSE is not in ALLOWED_EXCHANGES \(NFO,NSE\)", exchange="BSE", quantity=1, price=1400)
    refused(r"product NRML is not in ALLOWED_PRODUCTS \(CNC,MIS\)", product="NRML", quantity=1, price=1400)
    refused(r"quantity 20 is above", "iceberg", quantity=20, price=10, iceberg_legs=2, iceberg_quantity=10)  # the whole
    with pytest.raises(kite_errors.InputException, match="quantity 11 is above MAX_ORDER_QUANTITY"):
        kite.modify_order(variety="regular", order_id=ok, quantity=11)
    with pytest.raises(kite_errors.InputException, match="quantity 12 is above MAX_ORDER_QUANTITY"):
        kite.place_gtt(
            trigger_type=kite.GTT_TYPE_SINGLE,
            trigger_values=[1300],
            last_price=1500,
            orders=[
                {"transaction_type": "BUY", "quantity": 12, "order_type": "LIMIT", "product": "CNC", "price": 1300}
            ],
            exchange="NSE",
            tradingsymbol="INFY",
        )
    kite.modify_order(variety="regular", order_id=ok, price=1399)  # within every limit
    kite.cancel_order(variety="regular", order_id=ok)  # never checked
    assert [(kind, form.get("quantity"), form.get("price")) for kind, form in placed] == [
        ("place", "10", "1400"),
        ("modify", None, "1399"),
    ]


def test_orders_per_day_for_the_account_and_for_one_client(serve_gateway, market, placed):  # noqa: F811
    gateway = serve_gateway(MAX_ORDERS_PER_DAY="4")
    capped = gateway.client("capped", can_trade=True)
    gateway.app.extensions["kite_app"].gateway.clients.set_limits("capped", max_orders_per_day=2)
    free = gateway.client("free", can_trade=True)
    order = {**INFY, "product": "CNC", "order_type": "LIMIT", "quantity": 1, "price": 1400}
    capped.place_order(variety="regular", **order)
    capped.place_order(variety="regular", **order)
    with pytest.raises(
        kite_errors.InputException, match=r"client 'capped' placed 2 orders today, its --max-orders-per"
    ):
        capped.place_order(variety="regular", **order)
    free.place_order(variety="regular", **order)
    free.place_order(variety="regular", **order)
    with pytest.raises(kite_errors.InputException, match=r"reached MAX_ORDERS_PER_DAY \(4\)"):
        free.place_order(variety="regular", **order)
    assert len(placed) == 4
    status = gateway.app.test_client().get(
        "/api/status", headers={"X-Access-Code": gateway.app.extensions["kite_app"].settings.access_code}
    )
    guard = status.get_json()["guard"]
    assert guard["orders_today"] == {"account": 4, "capped": 2, "free": 2}
    assert guard["limits"]["MAX_ORDERS_PER_DAY"] == 4


def test_a_scripts_kiteapi_on_its_own_runs_the_same_checks(serve_gateway, market, placed):  # noqa: F811
    gateway = serve_gateway(**LIMITS)
    context = gateway.app.extensions["kite_app"]
    script = KiteAPI(context.settings, clock=context.clock, through_gateway=False)
    with pytest.raises(GuardRefusal, match=r"quantity 11 is above MAX_ORDER_QUANTITY \(10\)") as refusal:
        script.place_order(**INFY, product="CNC", order_type="LIMIT", quantity=11, price=1400)
    assert isinstance(refusal.value, kite_errors.InputException) and refusal.value.code == 400
    assert script.place_order(**INFY, product="CNC", order_type="LIMIT", quantity=2, price=1400)
    assert [form["quantity"] for _, form in placed] == ["2"]


def test_a_bad_limit_setting_is_a_clear_error(config):
    from kite_service.config.settings import load_settings
    from kite_service.errors import ConfigError

    for name, value, words in (
        ("MAX_ORDER_VALUE", "-5", "MAX_ORDER_VALUE must be a number above 0"),
        ("ALLOWED_EXCHANGES", "NSE,XYZ", "ALLOWED_EXCHANGES lists XYZ"),
        ("KILL_SQUARES_OFF", "some", "KILL_SQUARES_OFF must be intraday or all"),
    ):
        with pytest.raises(ConfigError, match=words):
            load_settings({**config, name: value})
    assert load_settings({**config, "MAX_DAILY_LOSS": "25,000"}).guard.max_daily_loss == 25000.0
    assert json.dumps(load_settings(config).guard.shown())  # shown as JSON in /api/status
