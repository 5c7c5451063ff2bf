"""Kite faults over real HTTP: the sandbox breaks GET /orders in one way after another while the
service runs; the service stays up, logs each fault once, recovers, and announces each order change once."""

import re
import time

import pytest
import requests

from service_support import start_service

pytestmark = pytest.mark.e2e

KINDS = ["unavailable-html", "malformed-json", "no-content-type", "rate-limited", "server-error", "connection-dropped"]


def set_fault(service, kind, times=-1):
    requests.post(
        f"{service.sandbox_url}/sandbox/control/fault",
        json={"api_secret": service.demo["api_secret"], "path": "/orders", "kind": kind, "times": times},
        timeout=5,
    ).raise_for_status()


def test_service_rides_out_a_series_of_kite_faults(tmp_path):
    service = start_service(tmp_path)
    try:
        service.login()
        service.wait_for_log(r"Order check resumed|Scheduler started")
        order_id = service.kite_api().place_order(
            tradingsymbol="RELIANCE",
            exchange="NSE",
            transaction_type="BUY",
            quantity=1,
            product="CNC",
            order_type="MARKET",
        )
        recoveries = []
        for number, kind in enumerate(KINDS, start=1):
            set_fault(service, kind)
            failed_lines = service.log().count("Order check failed")
            deadline = time.monotonic() + 15
            while service.log().count("Order check failed") == failed_lines and time.monotonic() < deadline:
                time.sleep(0.2)
            assert service.log().count("Order check failed") == failed_lines + 1, kind
            assert requests.get(f"{service.url}/health", timeout=5).json()["status"] == "up"
            time.sleep(2)  # a few more failing polls: still one line
            set_fault(service, None, 0)
            cleared = time.monotonic()
            deadline = cleared + 30
            while service.log().count("Order check recovered") < number and time.monotonic() < deadline:
                time.sleep(0.1)
            assert service.log().count("Order check recovered") == number, kind
            recoveries.append(round(time.monotonic() - cleared, 1))
        log = service.log()
        causes = re.findall(r"Order check failed: (.*?); next attempt", log)
        assert len(causes) == len(KINDS)
        assert log.count(f"Order {order_id} COMPLETE") == 1
        health = requests.get(f"{service.url}/health", timeout=5).json()
        assert health["last_order_check"]["ok"] is True and health["scheduler"]["running"] is True
        print(f"recovered {recoveries} s after each fault cleared; causes logged: {causes}")
    finally:
        service.stop()
