"""The gateway end to end: `kite_app.py --sandbox` as its own process, programs in others."""

import json
import subprocess
import sys

import pytest

from conftest import clock_env
from kite_service.config.settings import PROJECT_DIR
from kite_service.kite.sdk import KiteConnect
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
    added = subprocess.run(
        [
            sys.executable,
            str(PROJECT_DIR / "kite_app.py"),
            "clients",
            "--sandbox",
            "--sandbox-dir",
            str(service.sandbox_dir),
            "add",
            "strategy-a",
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
    answer = json.loads(added.stdout)
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
