"""Plant known secret values, drive every endpoint and job through success and failure, then
search every log file and response for them."""

import json
import threading

import requests
import responses

from conftest import (
    ACCESS_CODE,
    API_SECRET,
    FAST_RETRY,
    KITE_ROOT,
    TWOFA_KEY,
    recorded,
    session_response,
)
from kite_api import KiteAPI
from maintenance import Maintenance
from order_events import OrderEvents
from order_watch import OrderWatcher
from rate_limit import kite_limiters
from scheduler import SchedulerRunner, build_scheduler

ACCESS_TOKEN = "planted-access-token-7f3a"
PUBLIC_TOKEN = ACCESS_TOKEN + "-public"
REQUEST_TOKENS = ["plantedreqtokenA1", "plantedreqtokenB2", "plantedreqtokenC3"]
SECRETS = [API_SECRET, ACCESS_TOKEN, PUBLIC_TOKEN, ACCESS_CODE, TWOFA_KEY, *REQUEST_TOKENS]


def test_no_planted_secret_reaches_logs_or_responses(app, client, kite, settings, store, log_file, monkeypatch):
    bodies = []

    def call(method, url, **kwargs):
        response = getattr(client, method)(url, **kwargs)
        bodies.append(response.get_data(as_text=True) + str(response.headers))
        return response

    token_url = KITE_ROOT + "/session/token"
    # Endpoints: success, wrong code, each failure kind.
    call("get", "/")
    call("get", f"/api/url?code={ACCESS_CODE}")
    call("get", "/api/url", headers={"X-Access-Code": ACCESS_CODE + "x"})
    kite.add(responses.POST, token_url, body=session_response(ACCESS_TOKEN), content_type="application/json")
    assert call("get", f"/api/token?code={ACCESS_CODE}&request_token={REQUEST_TOKENS[0]}").status_code == 200
    kite.add(
        responses.POST,
        token_url,
        status=403,
        json={"status": "error", "message": f"Token {REQUEST_TOKENS[1]} invalid", "error_type": "TokenException"},
    )
    call("post", f"/api/token?code={ACCESS_CODE}", json={"request_token": REQUEST_TOKENS[1]})
    kite.add(
        responses.POST,
        token_url,
        status=500,
        json={
            "status": "error",
            "error_type": "GeneralException",
            "message": f"checksum mismatch for api_secret={API_SECRET}",
        },
    )
    call("post", f"/api/token?code={ACCESS_CODE}", data={"request_token": REQUEST_TOKENS[2]})
    kite.add(responses.POST, token_url, body=requests.ConnectionError(f"refused; request_token={REQUEST_TOKENS[2]}"))
    call("get", f"/api/token?code={ACCESS_CODE}&request_token={REQUEST_TOKENS[2]}")
    call("get", f"/nope?code={ACCESS_CODE}")

    def explode(*_args, **_kwargs):
        raise RuntimeError(f"unexpected with {ACCESS_TOKEN} and {API_SECRET}")

    with monkeypatch.context() as patch:
        patch.setattr("http_api.exchange_request_token", explode)
        call("get", f"/api/token?code={ACCESS_CODE}&request_token={REQUEST_TOKENS[0]}")

    # Jobs: the order check in success, Kite failure, network failure and an unexpected traceback.
    api = KiteAPI(settings, retry=FAST_RETRY, limiters=kite_limiters())
    watcher = OrderWatcher(api, OrderEvents(settings.order_state_file))
    kite.add(responses.GET, KITE_ROOT + "/orders", json=recorded("orders.json"))
    watcher.poll()
    kite.add(
        responses.GET,
        KITE_ROOT + "/orders",
        status=500,
        json={"status": "error", "message": f"bad {ACCESS_TOKEN}", "error_type": "GeneralException"},
    )
    watcher._next_attempt = None
    watcher.poll()
    for _ in range(3):
        kite.add(
            responses.GET,
            KITE_ROOT + "/orders",
            body=requests.ConnectionError(f"GET /orders?access_token={ACCESS_TOKEN} refused"),
        )
    watcher._next_attempt = None
    watcher.poll()
    with monkeypatch.context() as patch:
        patch.setattr(api, "get_orders", explode)
        watcher._next_attempt = None
        watcher.poll()
    Maintenance(settings, store, watcher).run()

    # A job that raises inside the real scheduler: APScheduler logs the traceback itself.
    done = threading.Event()

    def failing_job():
        done.set()
        raise RuntimeError(f"job failure Authorization: token key:{ACCESS_TOKEN} code={ACCESS_CODE}")

    runner = SchedulerRunner(build_scheduler(failing_job, lambda: None, 0.1), settings.data_dir / "t.lock")
    runner.start()
    done.wait(5)
    runner.stop()

    # KiteAPI failures that carry URLs with tokens in them.
    kite.add(
        responses.DELETE,
        KITE_ROOT + "/session/token",
        body=requests.ConnectionError(f"/session/token?access_token={ACCESS_TOKEN}"),
    )
    try:
        api.kite.invalidate_access_token()
    except Exception as exc:
        bodies.append(str(exc))

    text = log_file()
    assert "Logged in as XX0000" in text and "job failure" in text and "Traceback" in text
    everything = text + "\n".join(bodies)
    leaks = [secret for secret in SECRETS if secret in everything]
    assert leaks == []


def test_no_secret_leaks_from_login_pages_postbacks_status_or_notifiers(config, kite, log_file, tmp_path):
    from urllib.parse import parse_qs, urlencode, urlsplit

    from kite_app import create_app
    from postback import expected_checksum

    bot_token = "424242:planted-telegram-bot-token"
    telegram = "http://telegram.test"
    config.update(TELEGRAM_BOT_TOKEN=bot_token, TELEGRAM_CHAT_ID="7", TELEGRAM_API_BASE=telegram)
    app = create_app(config)
    client = app.test_client()
    context = app.extensions["kite_app"]
    texts = []

    def keep(response):
        texts.append(response.get_data(as_text=True) + str(response.headers))
        return response

    keep(client.get("/login"))
    keep(client.post("/login", data={"code": ACCESS_CODE + "-wrong"}))
    started = keep(client.post("/login", data={"code": ACCESS_CODE}))
    [state] = parse_qs(parse_qs(urlsplit(started.headers["Location"]).query)["redirect_params"][0])["state"]
    kite.add(
        responses.POST,
        KITE_ROOT + "/session/token",
        body=session_response(ACCESS_TOKEN),
        content_type="application/json",
    )
    query = {"request_token": REQUEST_TOKENS[0], "status": "success", "state": state}
    keep(client.get("/api/callback?" + urlencode(query)))
    keep(client.get("/api/callback?" + urlencode({**query, "request_token": REQUEST_TOKENS[1]})))  # replay
    keep(client.get("/login?done=1"))
    keep(client.get("/health"))
    keep(client.get("/api/status", headers={"X-Access-Code": ACCESS_CODE}))

    payload = {**recorded("postback.json"), "order_id": "777", "status": "COMPLETE"}
    checksum = expected_checksum("777", payload["order_timestamp"], API_SECRET)
    keep(client.post("/api/postback", data=json.dumps({**payload, "checksum": checksum})))
    keep(client.post("/api/postback", data=json.dumps({**payload, "order_id": "778", "checksum": checksum})))

    kite.add(responses.POST, f"{telegram}/bot{bot_token}/sendMessage", body=requests.ConnectionError(bot_token))
    context.notifications.deliver_due()
    files = [p.read_text() for p in context.settings.data_dir.glob("*.json") if p.name != "session.json"]

    everything = log_file() + "\n".join(texts + files)
    assert "Postback refused (HTTP 401)" in everything and "Notification via telegram failed" in everything
    planted = [*SECRETS, bot_token, checksum]
    assert [secret for secret in planted if secret in everything] == []
