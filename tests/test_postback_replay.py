"""One captured postback replayed at the running service: it costs a look-up or two at Kite, not one
per replay, and a script sharing the account's rate limit notices nothing (docs/reliability.md)."""

import json
import os
import threading
import time

import pytest
import requests

from kite_service.kite.client import NO_RETRY
from kite_service.orders.postback import expected_checksum
from sandbox_support import place_market_buy
from service_support import start_service

pytestmark = pytest.mark.long

REPLAY_SECONDS = 14 if os.environ.get("KITE_APP_FULL_COUNTS") == "1" else 5


def test_a_replayed_postback_costs_a_lookup_per_window_and_no_script_a_failed_call(tmp_path):
    service = start_service(tmp_path, {"ORDER_POLL_SECONDS": "60"})
    try:
        service.login()
        requests.post(  # the sandbox's own postbacks off: only the replayed one reaches the service
            f"{service.sandbox_url}/sandbox/control/postbacks",
            json={"api_secret": service.demo["api_secret"], "enabled": False},
            timeout=5,
        ).raise_for_status()
        kite = service.kite_api(retry=NO_RETRY)  # a 429 would raise, not be retried away
        order_id = place_market_buy(kite.kite)
        [order] = [o for o in kite.get_orders() if o["order_id"] == order_id]
        stamp = order["order_timestamp"].strftime("%Y-%m-%d %H:%M:%S")
        body = json.dumps(
            {
                "order_id": order_id,
                "order_timestamp": stamp,
                "status": "OPEN",
                "checksum": expected_checksum(order_id, stamp, service.demo["api_secret"]),
            }
        )
        script = {"calls": 0, "failures": 0, "longest": 0.0}
        stop = threading.Event()

        def trader_script():  # get_orders() five times a second, as the script did
            while not stop.wait(0.2):
                started = time.monotonic()
                try:
                    kite.get_orders()
                except Exception:  # counted
                    script["failures"] += 1
                script["calls"] += 1
                script["longest"] = max(script["longest"], time.monotonic() - started)

        thread = threading.Thread(target=trader_script)
        thread.start()
        session, replays, deadline = requests.Session(), 0, time.monotonic() + REPLAY_SECONDS
        while time.monotonic() < deadline:
            assert session.post(f"{service.url}/api/postback", data=body, timeout=5).status_code == 200
            replays += 1
        stop.set()
        thread.join(10)
        time.sleep(1)
        postbacks = service.status()["postbacks"]
    finally:
        service.stop()
    print(
        f"\nreplay: {replays} postbacks in {REPLAY_SECONDS} s; {postbacks['looked_up']} look-ups at Kite; "
        f"ignored {postbacks['ignored']}; the script: {script['calls']} calls, {script['failures']} failed, "
        f"longest {script['longest']:.2f} s"
    )
    assert replays > 100
    # The first look-up, then one at the end of each 10 s window (the order completes within 2 s:
    # then it is final and no more look-ups are made).
    assert 1 <= postbacks["looked_up"] <= REPLAY_SECONDS // 10 + 1
    assert script["failures"] == 0 and script["longest"] < 3  # unthrottled look-ups would hold it for 10 s and more
