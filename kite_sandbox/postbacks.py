"""Order-update postbacks to a configured URL, signed as Kite signs them."""

import hashlib
import json
import logging
import queue
import threading

import requests

from .order_record import FINAL_STATUSES

log = logging.getLogger("kite_sandbox.postbacks")

# What Kite posts (its postback docs): COMPLETE, CANCELLED, REJECTED, and UPDATE for a modification,
# a partial fill or a stop's trigger being hit (forum answers 33954, 37646). The states an order
# passes through on its way in (PUT ORDER REQ RECEIVED ... OPEN) are not posted (forum 3093).
POSTBACK_FIELDS = (
    "placed_by",
    "order_id",
    "exchange_order_id",
    "parent_order_id",
    "status",
    "status_message",
    "status_message_raw",
    "order_timestamp",
    "exchange_update_timestamp",
    "exchange_timestamp",
    "variety",
    "exchange",
    "tradingsymbol",
    "instrument_token",
    "order_type",
    "transaction_type",
    "validity",
    "product",
    "quantity",
    "disclosed_quantity",
    "price",
    "trigger_price",
    "average_price",
    "filled_quantity",
    "pending_quantity",
    "cancelled_quantity",
    "market_protection",
    "meta",
    "tag",
    "guid",
)


def postback_checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """Kite's postback checksum: sha256(order_id + order_timestamp + api_secret)."""
    return hashlib.sha256((order_id + order_timestamp + api_secret).encode()).hexdigest()


def postback_status(order: dict, previous: tuple | None) -> str | None:
    """The status Kite posts for this order update, or None when it posts nothing.

    `previous` is the (status, filled quantity) of the order's last update."""
    status = order["status"]
    if status in FINAL_STATUSES:
        return status
    if status == "MODIFIED":
        return "UPDATE"
    if status == "OPEN" and previous is not None:
        if previous[0] == "TRIGGER PENDING" or order["filled_quantity"] > previous[1]:
            return "UPDATE"
    return None


def postback_payload(order: dict, status: str, user_id: str, api_key: str, api_secret: str) -> dict:
    """The body Kite posts for an order update, with `status` as postback_status() gave it."""
    payload = {name: order.get(name) for name in POSTBACK_FIELDS}
    payload["status"] = status
    payload.update(
        user_id=user_id,
        app_id=0,
        unfilled_quantity=order["pending_quantity"],
        checksum=postback_checksum(order["order_id"], order["order_timestamp"], api_secret),
    )
    return {"user_id": payload.pop("user_id"), **payload}


class PostbackSender:
    """Posts updates from a background thread so the order engine never waits on the network."""

    def __init__(self, url: str, timeout: float = 5.0):
        self.url = url
        self._timeout = timeout
        self._queue: queue.Queue = queue.Queue()
        self._thread = None
        self._start_lock = threading.Lock()

    def send(self, payload: dict) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-postbacks", daemon=True)
                self._thread.start()
        self._queue.put(payload)

    def _run(self) -> None:
        while True:
            payload = self._queue.get()
            try:
                requests.post(
                    self.url,
                    data=json.dumps(payload),
                    timeout=self._timeout,
                    headers={"Content-Type": "application/json"},
                )
            except requests.RequestException as exc:
                log.warning("Postback for order %s failed: %s", payload.get("order_id"), type(exc).__name__)
            finally:
                self._queue.task_done()

    def wait_idle(self) -> None:
        """Block until every queued postback was attempted (for tests and shutdown)."""
        self._queue.join()
