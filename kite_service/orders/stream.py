"""The order stream: a connection to Kite's WebSocket for order updates the moment they happen.

Kite sends every order update of the user over its ticker (wss://ws.kite.trade) as text, with the
postback's payload, on every connection. This one (ticker/upstream.py: the connection, its
reconnects, silence watchdog and session changes) feeds each update to the order events, which
announce every change once whichever of stream, postback and poll brings it first; the 20-second
poll stays as the safety net. The connection is an authenticated one to Kite itself (unlike a
postback, which anyone can POST), so its updates are believed as they come. The ticker hub puts
its first instruments on this same connection, so that it counts once against Kite's three.
"""

import logging

from kite_service.clock import now_ist
from kite_service.errors import StorageError
from kite_service.logs.text import clean_text
from kite_service.logs.throttle import LogThrottle
from kite_service.ticker.frames import text_message
from kite_service.ticker.upstream import SILENCE_SECONDS, StreamState, UpstreamConnection, connect

__all__ = ["SILENCE_SECONDS", "OrderStream", "StreamState"]

log = logging.getLogger("kite_app.stream")


class OrderStream(UpstreamConnection):
    """The upstream connection whose text messages are order updates for the order events."""

    def __init__(self, settings, api_key: str, store, events, clock=now_ist, opener=connect, on_binary=None):
        url = settings.kite_ticker_url
        super().__init__(url, api_key, store, clock=clock, opener=opener, name="Order stream", on_binary=on_binary)
        self._events = events
        self._throttle = LogThrottle(log)

    def _meanwhile(self) -> str:
        return " (the order check polls meanwhile)"

    def _handle(self, text: str) -> None:
        super()._handle(text)  # on_text: the ticker hub passes order updates on to its clients
        message = text_message(text)
        if message is None:
            return
        if message.get("type") == "order" and isinstance(message.get("data"), dict):
            try:
                self._events.observe([message["data"]], source="stream")
            except StorageError as exc:  # nothing announced: the order check finds the same change
                self._throttle.warning("unsaved stream updates", "Order stream update not saved yet: %s", exc)
        elif message.get("type") == "error":
            log.warning("Order stream: Kite says %s", clean_text(message.get("data"), 200))
