"""POST /api/postback: only Kite's signed updates get in, and they join the order events."""

import json

import pytest
import responses

from conftest import API_SECRET, KITE_ROOT, ist, recorded
from kite_app import create_app
from kite_service.orders.postback import expected_checksum

NOW = ist(2026, 11, 20, 10, 0)  # the service's clock in these tests
TODAY = "2026-11-20 09:59:00"


@pytest.fixture
def app(config):
    return create_app(config, clock=lambda: NOW)


def signed(order_id="220303000308932", status="COMPLETE", filled=1, secret=API_SECRET, timestamp=TODAY) -> dict:
    payload = recorded("postback.json")
    payload.update(order_id=order_id, status=status, filled_quantity=filled, quantity=1, order_timestamp=timestamp)
    payload["checksum"] = expected_checksum(order_id, payload["order_timestamp"], secret)
    return payload


def post(client, body, content_type="application/json"):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/postback", data=raw, content_type=content_type)


def kite_says(kite, order_id, status, filled=0, message=None):
    """Kite's order history for `order_id`, ending in `status` (what a lookup at Kite finds)."""
    history = recorded("order_info.json")
    last = {**history["data"][-1], "order_id": order_id, "status": status, "status_message": message}
    last.update(quantity=1, filled_quantity=filled, pending_quantity=1 - filled, tradingsymbol="SBIN")
    last["average_price"] = 470 if filled else 0
    history["data"] = [*history["data"][:-1], last]
    kite.add(responses.GET, f"{KITE_ROOT}/orders/{order_id}", json=history)


def follow_up(app) -> int:
    """Run the look-ups scheduled, those due at the end of an order's window too."""
    return app.extensions["kite_app"].postbacks.run_pending(include_later=True)


def test_a_signed_postback_makes_the_service_ask_kite_and_announce_once(client, app, kite, logged_in, caplog):
    caplog.set_level("INFO", logger="kite_app.orders")
    kite_says(kite, "220303000308932", "COMPLETE", filled=1)
    response = post(client, signed())
    assert response.status_code == 200 and response.get_json()["status"] == "success"
    assert follow_up(app) == 1
    post(client, signed())  # sent again: the order is known to be final, so Kite is not asked again
    assert follow_up(app) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "kite_app.orders"]
    assert lines == [
        "Order 220303000308932 COMPLETE: BUY 1 NSE:SBIN filled 1/1 @ 470",
        "Postback for order 220303000308932 not looked up: final",
    ]


def test_a_forged_status_is_never_believed(client, app, kite, logged_in, log_file):
    forged = {**signed(), "status": "REJECTED", "status_message": "Forged\r\n2026-11-23 INFO fake line\x1b[31m!"}
    kite_says(kite, "220303000308932", "OPEN")
    assert post(client, forged).status_code == 200  # the checksum is genuine: only order_id is signed
    follow_up(app)
    kite_says(kite, "220303000308932", "COMPLETE", filled=1)
    assert post(client, forged).status_code == 200
    follow_up(app)
    log = log_file()
    assert "REJECTED" not in log and "Forged" not in log and "\x1b" not in log
    assert "Order 220303000308932 placed: BUY 1 NSE:SBIN LIMIT, status OPEN" in log
    assert "Order 220303000308932 COMPLETE" in log  # the real fill is announced


def test_kites_own_text_is_made_inert_before_it_is_logged(client, app, kite, logged_in, log_file):
    kite_says(kite, "220303000308932", "REJECTED", message="Bad\r\nWARNING forged line\x1b[2J\u202eevil")
    post(client, signed())
    follow_up(app)
    log = log_file()
    assert "\x1b" not in log and "\u202e" not in log
    [line] = [line for line in log.splitlines() if "REJECTED" in line]
    assert line.endswith("Bad\\r\\nWARNING forged line\\x1b[2J\\u202eevil")


def test_a_lookup_that_fails_leaves_the_order_to_the_poll(client, app, kite, logged_in, log_file):
    kite.add(responses.GET, f"{KITE_ROOT}/orders/220303000308932", status=500, json={"status": "error"})
    kite.add(responses.GET, f"{KITE_ROOT}/orders/220303000308932", status=500, json={"status": "error"})
    kite.add(responses.GET, f"{KITE_ROOT}/orders/220303000308932", status=500, json={"status": "error"})
    assert post(client, signed()).status_code == 200
    follow_up(app)
    assert "not checked with Kite" in log_file()
    assert app.extensions["kite_app"].events.watched_count == 0


def test_the_raw_body_counts_whatever_the_content_type(client, app):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        assert post(client, signed(order_id=f"90000000{len(content_type)}"), content_type).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        signed(secret="some-other-secret"),
        {**signed(), "checksum": "0" * 64},
        {**signed(), "checksum": "é" * 64},
        {**signed(), "order_timestamp": "2099-01-01 00:00:00"},  # signed fields changed after signing
    ],
    ids=["other-secret", "zeros", "non-ascii", "tampered"],
)
def test_a_wrong_checksum_is_refused_with_401(client, app, payload):
    response = post(client, payload)
    assert response.status_code == 401 and "checksum does not match" in response.get_json()["message"]
    assert app.extensions["kite_app"].events.watched_count == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b"\xff\xfe",
        json.dumps({**signed(), "order_id": 5}).encode(),
        b"[" * 8000 + b"]" * 8000,
        json.dumps({**signed(), "order_id": "ABC123"}).encode(),
        json.dumps({**signed(), "order_timestamp": "03/03/2022 09:24"}).encode(),
    ],
    ids=["empty", "text", "array", "binary", "id-not-string", "deeply-nested", "id-not-digits", "timestamp-form"],
)
def test_malformed_postbacks_are_refused_with_400(client, raw):
    response = post(client, raw)
    assert response.status_code == 400 and response.mimetype == "application/json"


def test_moving_the_boundary_between_order_id_and_timestamp_invents_no_order(client, app):
    genuine = signed()
    order_id, stamp = genuine["order_id"], genuine["order_timestamp"]
    for shifted_id, shifted_stamp in ((order_id + stamp[0], stamp[1:]), (order_id[:-1], order_id[-1] + stamp)):
        assert expected_checksum(shifted_id, shifted_stamp, API_SECRET) == genuine["checksum"]  # same signed text
        response = post(client, {**genuine, "order_id": shifted_id, "order_timestamp": shifted_stamp})
        assert response.status_code == 400
    assert follow_up(app) == 0


def test_postbacks_need_no_access_code_and_do_not_use_up_its_attempts(client):
    for _ in range(12):
        assert post(client, {**signed(), "checksum": "bad"}).status_code == 401
    assert client.get("/api/url?code=test-access-code-4711").status_code == 200


def test_only_post_is_allowed(client):
    response = client.get("/api/postback")
    assert response.status_code == 405 and set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


# -- replays ---------------------------------------------------------------------------------------------


class Monotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def monotonic(app):
    clock = Monotonic()
    app.extensions["kite_app"].postbacks._monotonic = clock
    return clock


def history_calls(kite) -> int:
    return sum(1 for call in kite.calls if "/orders/" in call.request.url)


def test_a_replayed_postback_costs_one_lookup_per_window(client, app, kite, logged_in, monotonic, caplog):
    """One captured postback sent 400 times over 10 s: two look-ups at Kite, not 400."""
    postbacks = app.extensions["kite_app"].postbacks
    kite_says(kite, "220303000308932", "OPEN")
    for _ in range(200):
        assert post(client, signed(status="OPEN", filled=0)).status_code == 200
    assert postbacks.run_pending() == 1
    kite_says(kite, "220303000308932", "OPEN")
    for _ in range(200):
        post(client, signed(status="OPEN", filled=0))
    assert postbacks.run_pending() == 0  # the next look-up waits for the end of the order's window
    monotonic.now += 10
    assert postbacks.run_pending() == 1
    assert history_calls(kite) == 2 and postbacks.ignored["folded"] == 398
    status = client.get("/api/status", headers={"X-Access-Code": "test-access-code-4711"}).get_json()
    assert status["postbacks"]["looked_up"] == 2 and status["postbacks"]["ignored"]["folded"] == 398
    lines = [r.getMessage() for r in caplog.records if "not looked up" in r.getMessage()]
    assert 1 <= len(lines) <= 10  # counted, and logged a few times a minute at most


def test_a_postback_inside_the_window_is_looked_up_at_its_end_not_dropped(client, app, kite, logged_in, monotonic):
    """The fill a minute after the order opened is found, just later: nothing is lost by the window."""
    postbacks = app.extensions["kite_app"].postbacks
    kite_says(kite, "220303000308932", "OPEN")
    post(client, signed(status="OPEN", filled=0))
    postbacks.run_pending()
    kite_says(kite, "220303000308932", "COMPLETE", filled=1)
    monotonic.now += 3
    post(client, signed())
    assert postbacks.run_pending() == 0
    monotonic.now += 7
    assert postbacks.run_pending() == 1
    assert app.extensions["kite_app"].events.is_final("220303000308932")


def test_no_lookup_for_an_order_known_to_be_final(client, app, kite, logged_in, monotonic):
    postbacks = app.extensions["kite_app"].postbacks
    kite_says(kite, "220303000308932", "COMPLETE", filled=1)
    post(client, signed())
    postbacks.run_pending()
    for _ in range(50):
        monotonic.now += 60
        response = post(client, signed())
        assert response.get_json()["message"] == "Order update received; nothing new to check with Kite."
    assert postbacks.run_pending(include_later=True) == 0
    assert history_calls(kite) == 1 and postbacks.ignored["final"] == 50


@pytest.mark.parametrize("timestamp", ["2026-11-19 15:00:00", "2026-11-20 05:59:59", "2022-03-03 09:24:25"])
def test_no_lookup_for_a_postback_of_an_earlier_trading_day(client, app, kite, logged_in, timestamp):
    """Its signed timestamp says when Kite sent it: before today's 06:00 IST it can only be a replay."""
    response = post(client, signed(timestamp=timestamp))
    assert response.status_code == 200
    assert follow_up(app) == 0 and len(kite.calls) == 0
    assert app.extensions["kite_app"].postbacks.ignored["earlier day"] == 1
