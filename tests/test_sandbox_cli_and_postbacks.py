"""The sandbox run alone, its postbacks, and its separation from the service."""

import ast
import hashlib
import json
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

from conftest import free_sandbox_port, recorded
from kite_sandbox.server import create_sandbox_app
from kite_service.config.settings import PROJECT_DIR
from sandbox_support import exchange, log_in, place
from test_entrypoint import wait_until_up


def test_runs_alone_and_writes_its_credentials(tmp_path):
    port = free_sandbox_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kite_sandbox",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--redirect-url",
            "http://127.0.0.1:5001/api/callback",
        ],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        response = wait_until_up(port, process)
        assert response.status_code == 404 and response.json()["message"] == "Route not found"
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    creds = json.loads((tmp_path / "credentials.json").read_text())
    assert set(creds) == {"api_key", "api_secret", "user_id", "password", "totp_secret", "redirect_url", "ticker_url"}
    assert creds["redirect_url"] == "http://127.0.0.1:5001/api/callback"
    assert creds["ticker_url"] == f"ws://127.0.0.1:{port + 1}" and creds["ticker_url"] in stdout  # default: port + 1
    for value in (creds["api_key"], creds["api_secret"], creds["user_id"], creds["password"]):
        assert value in stdout
    assert (tmp_path / "credentials.json").stat().st_mode & 0o777 == 0o600


class Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list] = []

    def do_POST(self):
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_order_updates_are_posted_with_kites_checksum(demo, clock):
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.bodies = []
    app = create_sandbox_app(demo, clock=clock, postback_url=f"http://127.0.0.1:{server.server_port}/postback")
    sandbox = app.test_client()
    token = exchange(sandbox, demo, log_in(sandbox, demo)).get_json()["data"]["access_token"]
    auth = {"X-Kite-Version": "3", "Authorization": f"token {demo.api_key}:{token}"}
    market = app.extensions["kite_sandbox"].market
    infy = market.by_symbol("NSE", "INFY")
    market.pin_price(infy, 1500.0)
    place(sandbox, auth)  # a market order: COMPLETE 2 s later
    clock.advance(3)
    sandbox.get("/orders", headers=auth)
    resting = place(sandbox, auth, order_type="LIMIT", price=1400).get_json()["data"]["order_id"]
    sandbox.put(f"/orders/regular/{resting}", data={"price": 1401}, headers=auth)  # UPDATE
    sandbox.delete(f"/orders/regular/{resting}", headers=auth)  # CANCELLED
    place(sandbox, auth, order_type="LIMIT", price=1500, quantity=200)  # fills in two: UPDATE, then COMPLETE
    sandbox.get("/orders", headers=auth)
    place(sandbox, auth, order_type="SL", price=1515, trigger_price=1510)  # TRIGGER PENDING: not posted
    market.pin_price(infy, 1511.0)
    sandbox.get("/orders", headers=auth)  # the trigger is hit (UPDATE) and the limit fills (COMPLETE)
    app.extensions["kite_sandbox"].postbacks.wait_idle()
    server.shutdown()
    payloads = [json.loads(body) for body in Receiver.bodies]
    # Kite's postbacks: final statuses, and UPDATE for a modification, a partial fill or a trigger hit
    assert [p["status"] for p in payloads] == [
        "COMPLETE",
        "UPDATE",
        "CANCELLED",
        "UPDATE",
        "COMPLETE",
        "UPDATE",
        "COMPLETE",
    ]
    for payload in payloads:
        expected = hashlib.sha256((payload["order_id"] + payload["order_timestamp"] + demo.api_secret).encode())
        assert payload["checksum"] == expected.hexdigest()
    assert set(payloads[-1]) == set(recorded("postback.json"))


def test_the_service_imports_the_sandboxs_rules_and_books_but_never_its_servers():
    # The exchanges' numbers, and the order rules and books the paper clients run on (kite_service/paper);
    # the sandbox's servers (its HTTP app, its ticker, its command) stay out of the service.
    code = "import sys, kite_app, kite_api, scheduler; print(sorted(m for m in sys.modules if 'kite_sandbox' in m))"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    imported = set(ast.literal_eval(result.stdout.strip()))
    assert {"kite_sandbox.exchange_numbers", "kite_sandbox.orders", "kite_sandbox.order_rules"} <= imported
    assert not imported & {
        "kite_sandbox.server",
        "kite_sandbox.serving",
        "kite_sandbox.ticker",
        "kite_sandbox.__main__",
    }


def test_sessions_outlive_a_sandbox_restart_until_0600(demo, clock, tmp_path):
    from datetime import timedelta

    from kite_sandbox.server import create_sandbox_app
    from sandbox_support import exchange, log_in

    sessions = tmp_path / "sessions.json"
    first = create_sandbox_app(demo, clock=clock, sessions_file=sessions).test_client()
    token = exchange(first, demo, log_in(first, demo)).get_json()["data"]["access_token"]
    auth = {"X-Kite-Version": "3", "Authorization": f"token {demo.api_key}:{token}"}
    restarted = create_sandbox_app(demo, clock=clock, sessions_file=sessions).test_client()
    assert restarted.get("/user/profile", headers=auth).status_code == 200
    assert sessions.stat().st_mode & 0o777 == 0o600
    clock.advance(timedelta(hours=20).total_seconds())  # past 06:00 IST
    again = create_sandbox_app(demo, clock=clock, sessions_file=sessions).test_client()
    assert again.get("/user/profile", headers=auth).status_code == 403


def test_a_logout_outlives_a_sandbox_restart(demo, clock, tmp_path):
    from kite_sandbox.server import create_sandbox_app
    from sandbox_support import exchange, log_in

    sessions = tmp_path / "sessions.json"
    first = create_sandbox_app(demo, clock=clock, sessions_file=sessions).test_client()
    token = exchange(first, demo, log_in(first, demo)).get_json()["data"]["access_token"]
    auth = {"X-Kite-Version": "3", "Authorization": f"token {demo.api_key}:{token}"}
    first.delete(f"/session/token?api_key={demo.api_key}&access_token={token}", headers=auth)
    restarted = create_sandbox_app(demo, clock=clock, sessions_file=sessions).test_client()
    assert restarted.get("/user/profile", headers=auth).status_code == 403
