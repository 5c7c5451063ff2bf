"""The gateway end to end: `kite_app.py --sandbox` as its own process, programs in others."""

import json
import subprocess
import sys

import pytest
import requests

from conftest import clock_env
from kite_service.config.settings import PROJECT_DIR
from kite_service.kite.sdk import KiteConnect, kite_errors
from service_support import start_service

pytestmark = pytest.mark.e2e


@pytest.fixture
def service(tmp_path):
    service = start_service(tmp_path)
    service.login()
    yield service
    service.stop()


def lowest_price(kite) -> float:
    return kite.quote(["NSE:INFY"])["NSE:INFY"]["lower_circuit_limit"]  # a buy there rests all day


def test_kiteapi_scripts_go_through_the_gateway_while_the_service_serves(service):
    kite = service.kite_api()
    order_id = kite.place_order(
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="BUY",
        quantity=1,
        product="CNC",
        order_type="LIMIT",
        price=lowest_price(kite),
    )
    [line] = [
        json.loads(row)
        for path in service.log_dir.glob("gateway_audit_*.jsonl")
        for row in path.read_text().splitlines()
    ]
    assert (line["client"], line["call"], line["order_id"]) == ("kiteapi", "POST /orders/regular", order_id)
    clients = {client["name"]: client for client in service.status()["gateway"]["clients"]}
    assert clients["kiteapi"]["today"]["orders"] == 1


def test_a_program_added_from_the_command_line_uses_the_official_client(service):
    answer = add_client(service, "strategy-a")
    kite = KiteConnect(answer["api_key"], access_token=answer["access_token"], root=answer["root"])
    assert answer["root"] == service.url
    assert kite.profile()["user_id"] == service.demo["user_id"]
    order_id = kite.place_order(
        "regular",
        exchange="NSE",
        tradingsymbol="INFY",
        transaction_type="BUY",
        quantity=1,
        product="CNC",
        order_type="LIMIT",
        price=lowest_price(kite),
    )
    assert kite.order_history(order_id)[-1]["tag"] == "strategy-a"


class FromAddress(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections leave from `address`: a program on another machine."""

    def __init__(self, address: str):
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._address, 0)
        return super().init_poolmanager(*args, **kwargs)


def from_address(kite: KiteConnect, address: str) -> KiteConnect:
    kite.reqsession.mount("http://", FromAddress(address))
    return kite


def test_orders_leave_from_the_registered_address_only_through_the_gateway(tmp_path):
    """The sandbox accepts order calls from 127.0.0.1 only (Kite's static-IP rule); a program on 127.0.0.2
    is refused going direct and succeeds through the gateway, which sends from the service's address."""
    service = start_service(tmp_path, extra_args=("--sandbox-order-ip", "127.0.0.1"))
    try:
        service.login()
        token_of_today = json.loads((service.sandbox_dir / "session.json").read_text())["access_token"]
        direct = from_address(
            KiteConnect(service.demo["api_key"], access_token=token_of_today, root=service.sandbox_url),
            "127.0.0.2",
        )
        order = {
            "exchange": "NSE",
            "tradingsymbol": "INFY",
            "transaction_type": "BUY",
            "quantity": 1,
            "product": "CNC",
            "order_type": "LIMIT",
            "price": lowest_price(direct),
        }  # reads: from anywhere
        with pytest.raises(kite_errors.PermissionException, match=r"IP \(127.0.0.2\) is not allowed"):
            direct.place_order("regular", **order)
        client = add_client(service, "remote-bot")
        through = from_address(
            KiteConnect(client["api_key"], access_token=client["access_token"], root=service.url), "127.0.0.2"
        )
        order_id = through.place_order("regular", **order)
        assert through.order_history(order_id)[-1]["status"] == "OPEN"
    finally:
        service.stop()


def add_client(service, name: str) -> dict:
    """`kite_app.py clients --sandbox add NAME --trade --json` for `service`: its JSON answer."""
    added = subprocess.run(
        [
            sys.executable,
            str(PROJECT_DIR / "kite_app.py"),
            "clients",
            "--sandbox",
            "--sandbox-dir",
            str(service.sandbox_dir),
            "add",
            name,
            "--trade",
            "--json",
        ],
        env={"PATH": "/usr/bin:/bin", **clock_env(), "KITE_APP_PORT": service.url.rsplit(":", 1)[1]},
        cwd=service.tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    return json.loads(added.stdout)


def test_tickers_of_scripts_and_programs_share_the_services_hub(service):
    with service.kite_api().ticker([408065], "ltp") as ticker:  # KiteAPI's: through the hub, as `kiteapi`
        [tick] = next(iter(ticker))
        assert tick["instrument_token"] == 408065 and tick["mode"] == "ltp"
        hub = service.status()["ticker_hub"]  # names: /api/status (behind the code); /health counts only
        assert [client["name"] for client in hub["clients"]] == ["kiteapi"]
        assert [(c["name"], c["instruments"]) for c in hub["upstream"]] == [("Order stream", 1)]  # one to Kite
    answer = add_client(service, "ticker-bot")
    assert answer["ticker_root"].startswith("ws://127.0.0.1:")
    from kite_service.ticker.script_ticker import ScriptTicker

    program = ScriptTicker(answer["ticker_root"], answer["api_key"], answer["access_token"]).subscribe([408065])
    with program:
        assert next(iter(program))[0]["mode"] == "quote"
