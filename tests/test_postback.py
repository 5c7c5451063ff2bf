"""POST /api/postback: only Kite's signed updates get in, and they join the order events."""

import json

import pytest

from conftest import API_SECRET, recorded
from postback import expected_checksum


def signed(order_id="220303000308932", status="COMPLETE", filled=1, secret=API_SECRET) -> dict:
    payload = recorded("postback.json")
    payload.update(order_id=order_id, status=status, filled_quantity=filled, quantity=1)
    payload["checksum"] = expected_checksum(order_id, payload["order_timestamp"], secret)
    return payload


def post(client, body, content_type="application/json"):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/postback", data=raw, content_type=content_type)


def test_a_signed_postback_becomes_one_order_event(client, caplog):
    caplog.set_level("INFO", logger="kite_app.orders")
    response = post(client, signed())
    assert response.status_code == 200 and response.get_json() == {"status": "success", "new_events": 1}
    assert post(client, signed()).get_json()["new_events"] == 0  # Kite may send it again
    lines = [r.getMessage() for r in caplog.records if r.name == "kite_app.orders"]
    assert lines == ["Order 220303000308932 COMPLETE: BUY 1 NSE:SBIN filled 1/1 @ 470"]


def test_the_raw_body_counts_whatever_the_content_type(client):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        assert post(client, signed(order_id=f"9{len(content_type)}"), content_type).status_code == 200


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
    [b"", b"not json", b"[1, 2]", b"\xff\xfe", json.dumps({**signed(), "order_id": 5}).encode()],
    ids=["empty", "text", "array", "binary", "id-not-string"],
)
def test_malformed_postbacks_are_refused_with_400(client, raw):
    response = post(client, raw)
    assert response.status_code == 400 and response.mimetype == "application/json"


def test_postbacks_need_no_access_code_and_do_not_use_up_its_attempts(client):
    for _ in range(12):
        assert post(client, {**signed(), "checksum": "bad"}).status_code == 401
    assert client.get("/api/url?code=test-access-code-4711").status_code == 200


def test_only_post_is_allowed(client):
    response = client.get("/api/postback")
    assert response.status_code == 405 and set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
