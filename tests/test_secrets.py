"""Plant fresh values for every secret, drive every endpoint, job and failure path (tracebacks
included), then scan every log file, response body and header, notifier payload and file the
service wrote (except session.json and the credentials file) for them: whole, URL-encoded, or any
piece of half their length or 8 characters, whichever is longer."""

import base64
import json
import secrets
import threading
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus, urlencode, urlsplit

import pytest
import requests
import responses

import log_utils
from kite_app import create_app
from kite_service.clock import IST
from kite_service.kite.client import RetryPolicy
from kite_service.login.state import LoginStates
from kite_service.orders.postback import expected_checksum
from kite_service.runtime.maintenance import Maintenance
from scheduler import SchedulerRunner, build_scheduler

KITE = "http://kite.test"
LOGGED_IN_AT = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
WEBHOOK = "http://hooks.test/kite"
TELEGRAM = "http://telegram.test"


def planted() -> dict:
    token = secrets.token_hex
    return {
        "api_secret": token(16),
        "access_token": token(16),
        "public_token": token(16),
        "request_tokens": [token(10) for _ in range(4)],
        "access_code": token(12),
        "twofa_key": base64.b32encode(secrets.token_bytes(20)).decode(),
        "telegram_token": f"{secrets.randbelow(10**9)}:{token(17)}",
    }


def forms(secret: str) -> set:
    """The secret, its URL encodings, and every piece of it of max(8, half its length)."""
    size = max(8, (len(secret) + 1) // 2)
    pieces = {secret[i : i + size] for i in range(len(secret) - size + 1)}
    return {secret, quote(secret, safe=""), quote_plus(secret)} | pieces


def leaks(texts: list, values: list) -> list:
    found = []
    for value in values:
        for form in forms(value):
            hits = [t for t in texts if form in t]
            if hits:
                found.append((value, form, hits[0][max(0, hits[0].find(form) - 60) :][:160]))
                break
    return found


def test_the_scan_finds_whole_encoded_and_partial_forms():
    secret = "Ab3/xY+9zz-Q_77a"
    assert leaks(["...Ab3%2FxY%2B9zz-Q_77a..."], [secret])
    assert leaks(["token=Ab3/xY+9..."], [secret])  # the first half
    assert leaks(["...zz-Q_77a"], [secret])  # the last half
    assert not leaks(["Ab3/xY+", "nothing here"], [secret])  # 7 characters are not a piece


@pytest.fixture
def planted_app(tmp_path):
    values = planted()
    credentials = tmp_path / "login_credentials.json"
    credentials.write_text(
        json.dumps({"api_key": "leakapikey", "api_secret": values["api_secret"], "twofa_key": values["twofa_key"]})
    )
    config = {
        "CODE": values["access_code"],
        "CREDENTIALS_FILE": str(credentials),
        "SESSION_FILE": str(tmp_path / "data" / "session.json"),
        "LOG_DIR": str(tmp_path / "logs"),
        "KITE_API_ROOT": KITE,
        "KITE_LOGIN_URL": "http://login.test/connect/login",
        "KITE_TIMEOUT": "2",
        "ORDER_WEBHOOK_URL": WEBHOOK,
        "TELEGRAM_BOT_TOKEN": values["telegram_token"],
        "TELEGRAM_CHAT_ID": "4242",
        "TELEGRAM_API_BASE": TELEGRAM,
    }
    app = create_app(config, clock=lambda: LOGGED_IN_AT)  # the session below is valid whatever today's date
    app.extensions["kite_app"].watcher._api.kite.retry = RetryPolicy(retries=2, base_delay=0, max_delay=0)
    handler = log_utils.setup_logging(app.extensions["kite_app"].settings.log_dir, console=False)
    yield app, values, tmp_path
    import logging

    logging.getLogger().removeHandler(handler)
    handler.close()


def session_body(values, login_time="2026-11-23 09:00:00"):
    return {
        "status": "success",
        "data": {
            "user_id": "LK1234",
            "user_name": "Leak Test",
            "access_token": values["access_token"],
            "public_token": values["public_token"],
            "refresh_token": "",
            "login_time": login_time,
            "api_key": "leakapikey",
        },
    }


def kite_error(status, error_type, message):
    return {"status": status, "json": {"status": "error", "error_type": error_type, "message": message}}


def test_no_secret_leaks_anywhere(planted_app, monkeypatch):
    app, values, tmp = planted_app
    context = app.extensions["kite_app"]
    client = app.test_client()
    code, tokens = values["access_code"], values["request_tokens"]
    texts = []  # every response and every notifier payload

    def keep(response):
        texts.append(response.get_data(as_text=True) + "\n" + str(response.headers))
        return response

    def capture(request):
        texts.append(request.body.decode() if isinstance(request.body, bytes) else str(request.body))
        return 200, {"Content-Type": "application/json"}, "{}"

    with responses.RequestsMock(assert_all_requests_are_fired=False) as kite:
        kite.add_callback(responses.POST, WEBHOOK, callback=capture)
        telegram_url = f"{TELEGRAM}/bot{values['telegram_token']}/sendMessage"
        kite.add(responses.POST, telegram_url, body=requests.ConnectionError(f"refused {telegram_url}"))

        # Public endpoints and pages.
        for path in ("/", "/health", "/login", "/nope", "/api/postback"):
            keep(client.get(path))
        keep(client.post("/login", data={"code": code + "x"}))
        keep(client.post("/login", data={"code": "y" * 20000}))  # 413
        started = keep(client.post("/login", data={"code": code}))
        [state] = parse_qs(parse_qs(urlsplit(started.headers["Location"]).query)["redirect_params"][0])["state"]

        # The one-click login: success, replay, forged.
        kite.add(responses.POST, KITE + "/session/token", json=session_body(values))
        query = {"request_token": tokens[0], "status": "success", "action": "login", "state": state}
        keep(client.get("/api/callback?" + urlencode(query)))
        keep(client.get("/api/callback?" + urlencode(query)))
        keep(client.get("/api/callback?" + urlencode({**query, "state": LoginStates().issue()})))
        keep(client.get("/login?done=1"))

        # The manual login and each way it fails, with Kite echoing secrets back.
        keep(client.get(f"/api/url?code={code}"))
        keep(client.get("/api/url", headers={"X-Access-Code": code[:-1]}))
        failures = [
            kite_error(403, "TokenException", f"Token {tokens[1]} is invalid or has expired."),
            kite_error(500, "GeneralException", f"checksum mismatch api_secret={values['api_secret']}"),
            {"body": requests.ConnectionError(f"refused /session/token?request_token={tokens[2]}")},
            {"body": requests.ReadTimeout(f"timeout access_token={values['access_token']}")},
            {"status": 200, "body": f"<html>{values['api_secret']}</html>", "content_type": "text/html"},
        ]
        for failure in failures:
            kite.replace(responses.POST, KITE + "/session/token", **failure)
            keep(client.get("/api/token", query_string={"request_token": tokens[3]}, headers={"X-Access-Code": code}))
        kite.replace(responses.POST, KITE + "/session/token", json=session_body(values))
        keep(client.post(f"/api/token?code={code}", json={"request_token": tokens[3]}))

        def explode(*_args, **_kwargs):
            raise RuntimeError(f"boom {values['access_token']} {values['api_secret']} {code}")

        with monkeypatch.context() as patch:
            patch.setattr("kite_service.web.api.exchange_request_token", explode)
            keep(client.get(f"/api/token?code={code}&request_token={tokens[0]}"))

        # Postbacks: good, tampered, malformed.
        order = {"order_id": "9001", "order_timestamp": "2026-11-23 10:00:00", "status": "COMPLETE"}
        checksum = expected_checksum("9001", order["order_timestamp"], values["api_secret"])
        values["checksum"] = checksum
        order.update(
            checksum=checksum,
            filled_quantity=1,
            quantity=1,
            tradingsymbol="INFY",
            exchange="NSE",
            transaction_type="BUY",
            average_price=1500,
        )
        keep(client.post("/api/postback", data=json.dumps(order)))
        keep(client.post("/api/postback", data=json.dumps({**order, "order_id": "9002"})))
        keep(client.post("/api/postback", data=b"{not json"))
        keep(client.get(f"/api/status?code={code}"))

        # Jobs: the order check through success and every failure, maintenance, reminder, notifications.
        watcher = context.watcher
        orders_url = KITE + "/orders"
        book = [{**order, "order_id": "9003", "status": "REJECTED", "status_message": "no margin"}]
        kite.add(responses.GET, orders_url, json={"status": "success", "data": []})
        for answer in (
            {"json": {"status": "success", "data": book}},
            kite_error(500, "GeneralException", f"bad token {values['access_token']}"),
            {"body": requests.ConnectionError(f"GET /orders?access_token={values['access_token']}")},
            {"status": 200, "body": f"<p>{values['public_token']}</p>", "content_type": "text/html"},
            kite_error(403, "TokenException", f"Incorrect access_token {values['access_token']}"),
        ):
            kite.replace(responses.GET, orders_url, **answer)
            watcher._next_attempt = None
            watcher.poll_and_announce()
        Maintenance(context.settings, context.store, watcher).run()
        context.store.clear()
        context.reminder.run()
        context.notifications.deliver_due()

        # A job that raises inside the real scheduler: APScheduler logs the traceback itself.
        done = threading.Event()

        def failing_job():
            done.set()
            raise RuntimeError(f"Authorization: token leakapikey:{values['access_token']} code={code}")

        runner = SchedulerRunner(build_scheduler(failing_job, lambda: None, 0.1), tmp / "job.lock")
        runner.start()
        done.wait(5)
        runner.stop()

    log_text = "\n".join(p.read_text() for p in (tmp / "logs").glob("*.log"))
    assert "Logged in as LK1234" in log_text and "Traceback" in log_text and "failing_job" in log_text
    assert any("login_reminder" in t for t in texts) and any("9003" in t for t in texts)  # webhook payloads
    written = [
        p.read_text(errors="replace") for p in (tmp / "data").rglob("*") if p.is_file() and p.name != "session.json"
    ]
    secret_values = [
        values[name]
        for name in (
            "api_secret",
            "access_token",
            "public_token",
            "access_code",
            "twofa_key",
            "telegram_token",
            "checksum",
        )
    ] + values["request_tokens"]
    assert leaks([log_text, *texts, *written], secret_values) == []
    print(f"\nscanned {len(log_text)} log characters, {len(texts)} responses and payloads, {len(written)} files")


def test_the_same_run_would_be_caught_without_redaction(planted_app, monkeypatch):
    """The scan is not vacuous: with the known secrets forgotten, the first failing login leaks."""
    app, values, tmp = planted_app
    monkeypatch.setattr("kite_service.logs.redaction._registry.values", lambda: ())
    with responses.RequestsMock() as kite:
        kite.add(responses.POST, KITE + "/session/token", **kite_error(500, "GeneralException", values["api_secret"]))
        app.test_client().get(
            "/api/token",
            query_string={"request_token": values["request_tokens"][0]},
            headers={"X-Access-Code": values["access_code"]},
        )
    log_text = "\n".join(p.read_text() for p in Path(tmp / "logs").glob("*.log"))
    assert leaks([log_text], [values["api_secret"]])
