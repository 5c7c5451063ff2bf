"""Kite's order-update postback: parse the raw body and verify its checksum."""

import hashlib
import hmac
import json

REQUIRED_FIELDS = ("order_id", "order_timestamp", "checksum", "status")


class PostbackError(Exception):
    """The postback was refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def expected_checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """sha256(order_id + order_timestamp + api_secret), as Kite computes it."""
    return hashlib.sha256((order_id + order_timestamp + api_secret).encode("utf-8")).hexdigest()


def verify_postback(raw_body: bytes, api_secret: str) -> dict:
    """The payload if it is a JSON object with a valid checksum; raises PostbackError otherwise."""
    try:
        payload = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError):
        raise PostbackError(400, "Postback body is not JSON.") from None
    if not isinstance(payload, dict):
        raise PostbackError(400, "Postback body must be a JSON object.")
    for name in REQUIRED_FIELDS:
        if not isinstance(payload.get(name), str) or not payload[name]:
            raise PostbackError(400, f"Postback field '{name}' is missing or not a string.")
    expected = expected_checksum(payload["order_id"], payload["order_timestamp"], api_secret)
    if not hmac.compare_digest(payload["checksum"].encode("utf-8"), expected.encode("ascii")):
        raise PostbackError(401, "Postback checksum does not match: it was not sent by Kite for this app.")
    return payload
