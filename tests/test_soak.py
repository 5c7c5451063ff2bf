"""Soak: the whole service (sandbox, order check every 0.2 s) under a steady mixed load.

Resident memory, open file descriptors and threads are sampled after a warm-up and at the end;
their growth is printed and bounded. Log rotation at the IST day boundary and pruning of old
logs are run on a simulated clock over 40 days.
CI runs 30 s; KITE_APP_FULL_COUNTS=1 runs 5 minutes (docs/reliability.md).
"""

import json
import logging
import os
import threading
import time
from datetime import datetime, timedelta

import pytest
import requests

import log_utils
from kite_service.clock import IST
from kite_service.orders.postback import expected_checksum
from kite_service.runtime.maintenance import Maintenance
from service_support import CODE, start_service

pytestmark = pytest.mark.long

DURATION = 300 if os.environ.get("KITE_APP_FULL_COUNTS") == "1" else 30
WARM_UP = DURATION * 0.2
ORDERS = 20  # resting orders the postbacks name


def sample(pid: int) -> dict:
    status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    return {
        "rss_kb": int(status["VmRSS"].split()[0]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(status["Threads"]),
    }


def test_steady_load_leaves_memory_fds_and_threads_flat(tmp_path):
    service = start_service(tmp_path, {"ORDER_POLL_SECONDS": "0.2"})
    pid = service.process.pid
    demo = service.demo
    stop = threading.Event()
    counts = {"requests": 0, "server_errors": 0}
    lock = threading.Lock()
    orders = []  # (order_id, order_timestamp) of real orders at the sandbox, for genuine postbacks

    def postback(n):
        order_id, timestamp = orders[n % len(orders)]
        status = ["OPEN", "UPDATE", "COMPLETE"][n % 3]
        body = {"order_id": order_id, "order_timestamp": timestamp, "status": status, "filled_quantity": n % 3}
        body["checksum"] = expected_checksum(order_id, timestamp, demo["api_secret"])
        return json.dumps(body)

    def client(worker):
        session = requests.Session()
        calls = [
            lambda n: session.get(f"{service.url}/health", timeout=10),
            lambda n: session.get(f"{service.url}/api/status", headers={"X-Access-Code": CODE}, timeout=10),
            lambda n: session.get(f"{service.url}/api/url", headers={"X-Access-Code": CODE}, timeout=10),
            lambda n: session.get(f"{service.url}/login", timeout=10),
            lambda n: session.post(f"{service.url}/api/postback", data=postback(n), timeout=10),
            lambda n: session.get(
                f"{service.url}/api/token",
                params={"request_token": f"stale{n:06d}"},
                headers={"X-Access-Code": CODE},
                timeout=10,
            ),
            lambda n: session.get(f"{service.url}/api/callback?state=forged.1.x&status=success", timeout=10),
        ]
        n = worker
        while not stop.is_set():
            started = time.monotonic()
            response = calls[n % len(calls)](n)
            took = time.monotonic() - started
            with lock:
                counts["requests"] += 1
                counts["server_errors"] += response.status_code >= 500
                if took > 2:
                    counts.setdefault("slow", []).append(f"{response.request.path_url[:40]} {took:.1f} s")
            n += 4

    try:
        service.login()
        kite = service.kite_api()
        price = round(kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"] * 0.85, 1)  # rests all day (tick 0.10)
        for _ in range(ORDERS):
            kite.place_order(
                exchange="NSE",
                tradingsymbol="INFY",
                transaction_type="BUY",
                quantity=1,
                product="CNC",
                order_type="LIMIT",
                price=round(price, 2),
            )
        orders.extend((o["order_id"], o["order_timestamp"].strftime("%Y-%m-%d %H:%M:%S")) for o in kite.get_orders())
        workers = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(WARM_UP)
        before = sample(pid)
        time.sleep(DURATION - WARM_UP)
        after = sample(pid)
        stop.set()
        for worker in workers:
            worker.join(30)
        health = requests.get(f"{service.url}/health", timeout=5).json()
        postbacks = service.status()["postbacks"]
    finally:
        stop.set()
        service.stop()

    growth = {key: after[key] - before[key] for key in before}
    print(
        f"\nsoak {DURATION} s: {counts['requests']} requests ({counts['requests'] / DURATION:.0f}/s), "
        f"{counts['server_errors']} 5xx; postbacks: {postbacks}; "
        f"before {before}, after {after}, growth {growth}; "
        f"slow: {counts.get('slow', [])[:10]}"
    )
    assert counts["server_errors"] == 0 and counts["requests"] > DURATION * 20
    # Genuine postbacks for orders that stay open: each order looked up at least once (and at most once
    # per window), the replays in between folded, none refused or left unchecked.
    assert ORDERS <= postbacks["looked_up"] <= ORDERS * (DURATION // 10 + 2)
    assert postbacks["ignored"]["folded"] > 0
    log = service.log()
    assert "Postback refused" not in log and "not checked with Kite" not in log
    assert health["last_order_check"]["ok"] and health["scheduler"]["running"]
    assert growth["fds"] <= 2 and growth["threads"] <= 1
    assert growth["rss_kb"] <= 8 * 1024  # 8 MB over the measured part of the run
    assert len(list(service.log_dir.glob("*.log"))) == 1


def test_logs_switch_files_at_ist_midnight_and_old_ones_are_pruned_over_40_days(settings, store):
    handler = log_utils.DailyFileHandler(settings.log_dir)
    handler.setFormatter(log_utils.RedactingFormatter())
    logger = logging.getLogger("kite_app.soak")
    start = datetime(2026, 10, 1, 23, 59, 30, tzinfo=IST)

    class Watcher:
        last_outcome = None
        events = type("Events", (), {"watched_count": 0, "prune": staticmethod(lambda now: None)})

    for day in range(40):
        for seconds in (0, 40):  # 23:59:30 and 00:00:10: either side of midnight
            moment = start + timedelta(days=day, seconds=seconds)
            record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, "tick %s", (moment,), None)
            record.created = moment.timestamp()
            handler.emit(record)
        Maintenance(settings, store, Watcher(), clock=lambda d=day: start + timedelta(days=d, seconds=40)).run()
    handler.close()
    files = sorted(p.name for p in settings.log_dir.glob("*.log"))
    assert len(files) == settings.log_retention_days + 1  # today and the 30 days before
    assert files[-1] == "kite_app_2026-11-10.log"
    first_day = (settings.log_dir / files[-1]).read_text()
    assert "2026-11-10 00:00:10" in first_day and "23:59:30" not in first_day
