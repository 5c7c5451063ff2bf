"""Injected faults: answers a failing Kite (or the network in front of it) gives, for tests.

Set through POST /sandbox/control/fault {"path": "/orders", "kind": "...", "times": N}; the next
N requests to that path (all of them for times = -1) get the fault instead of the real answer.
"""

import threading

from flask import Response

from .error_responses import failure

FAULT_KINDS = {
    "server-error": lambda: failure(500, "GeneralException", "Internal server error"),
    "unavailable-html": lambda: Response(
        "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>",
        status=503,
        mimetype="text/html",
    ),
    "rate-limited": lambda: failure(429, "NetworkException", "Too many requests"),
    "no-content-type": lambda: _without_content_type(Response('{"status": "success", "data": []}', status=200)),
    "malformed-json": lambda: Response('{"status": "success", "data": [{"order_id": ', mimetype="application/json"),
    "token-expired": lambda: failure(403, "TokenException", "Incorrect `api_key` or `access_token`."),
    "connection-dropped": lambda: _dropped_part_way(),
}

# The start of an answer; the connection then closes with most of the promised body unsent.
_ANSWER_START = b'{"status": "success", "data": {"candles": [["2026-01-01T09:15:00+0530", '


def _dropped_part_way() -> Response:
    """An answer cut off part-way, as a network drop mid-transfer: the headers promise a long body,
    a few bytes come and the connection closes (waitress closes a connection whose application wrote
    fewer bytes than its Content-Length), so the client reads an incomplete body."""
    response = Response(iter([_ANSWER_START]), mimetype="application/json")
    response.headers["Content-Length"] = str(len(_ANSWER_START) * 1000)
    return response


def _without_content_type(response: Response) -> Response:
    response.headers.pop("Content-Type", None)
    return response


class Faults:
    """Which paths fail next, and how; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending = {}  # path -> [kind, remaining (-1 = until cleared)]

    def set(self, path: str, kind: str | None, times: int = 1) -> None:
        with self._lock:
            if kind is None or times == 0:
                self._pending.pop(path, None)
            else:
                self._pending[path] = [kind, times]

    def take(self, path: str):
        """The fault response for this request, or None."""
        with self._lock:
            entry = self._pending.get(path)
            if entry is None:
                return None
            kind, remaining = entry
            if remaining > 0:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._pending[path]
        return FAULT_KINDS[kind]()
