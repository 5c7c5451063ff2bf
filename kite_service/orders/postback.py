"""Kite's order-update postback: parse the raw body and verify its checksum.

Only order_id and order_timestamp are signed, so those two are all a postback is trusted for
(orders/postback_followup.py asks Kite for the rest). Both must have Kite's formats: then the signed
string order_id + order_timestamp has one reading, and no digit can move from one to the other
under the same checksum to name another order.
"""

import hashlib
import hmac
import re

import orjson

REQUIRED_FIELDS = ("order_id", "order_timestamp", "checksum", "status")
ORDER_ID = re.compile(r"[0-9]{6,24}")  # opaque digits: 15 in Kite's recorded samples, 19 live today
ORDER_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


class PostbackError(Exception):
    """The postback was refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def expected_checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """sha256(order_id + order_timestamp + api_secret), as Kite computes it."""
    return hashlib.sha256((order_id + order_timestamp + api_secret).encode("utf-8")).hexdigest()


def verify_postback(raw_body: bytes, api_secret: str) -> dict:
    """The payload if it is a JSON object with Kite's formats and a valid checksum; raises PostbackError
    otherwise. Nothing in it but the order id is to be believed."""
    try:
        payload = orjson.loads(raw_body)  # refuses nesting deeper than 1,024 levels: never a RecursionError
    except orjson.JSONDecodeError:
        raise PostbackError(400, "Postback body is not JSON.") from None
    if not isinstance(payload, dict):
        raise PostbackError(400, "Postback body must be a JSON object.")
    for name in REQUIRED_FIELDS:
        if not isinstance(payload.get(name), str) or not payload[name]:
            raise PostbackError(400, f"Postback field '{name}' is missing or not a string.")
    if not ORDER_ID.fullmatch(payload["order_id"]):
        raise PostbackError(400, "Postback field 'order_id' is not a Kite order id (digits).")
    if not ORDER_TIMESTAMP.fullmatch(payload["order_timestamp"]):
        raise PostbackError(400, "Postback field 'order_timestamp' is not of the form YYYY-MM-DD HH:MM:SS.")
    expected = expected_checksum(payload["order_id"], payload["order_timestamp"], api_secret)
    if not hmac.compare_digest(payload["checksum"].encode("utf-8"), expected.encode("ascii")):
        raise PostbackError(401, "Postback checksum does not match: it was not sent by Kite for this app.")
    return payload
