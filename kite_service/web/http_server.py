"""The service's HTTP server (waitress): its settings, and its own refusals in Kite's error JSON.

waitress refuses some requests before Flask sees them: a body over its cap (413), a malformed
request (400), headers too large (431). It answers those in plain text, which the official
clients read as an unknown answer (`DataException`, code 502). Here they are Kite's error envelope
with the right status, so a program through the gateway raises the exception Kite's own refusal
would raise, and a person with curl reads the same JSON as from every other route.
"""

import json
from functools import partial

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from kite_service.day.feed import MAX_PAGES

MAX_REQUEST_BYTES = 16 * 1024  # Flask answers 413 above this
# Gateway calls may wait seconds for the account's rate-limit slot; 16 threads leave room for
# /health, /login and the rest while they do (gateway/slots.py takes at most 16 - 2). Each open
# /day page's event stream holds one more thread while it is open (at most MAX_PAGES of them).
REQUEST_THREADS = 16
# waitress's defaults suit a server behind a buffering proxy: it reads bodies of up to 1 GB (into
# temporary files past 512 kB) before Flask can refuse them, and 100 connections that trickle a
# header line now and then take it offline. A slow client costs a socket here, never a thread.
WAITRESS_SETTINGS = {
    "threads": REQUEST_THREADS + MAX_PAGES,
    "max_request_body_size": 4 * MAX_REQUEST_BYTES,  # beyond: refused unread (413 here); up to it, Flask's 413
    "connection_limit": 4000,
    "channel_timeout": 30,  # seconds a connection may stay silent
    # select() cannot watch more than 1,024 sockets. waitress's poll() loop builds its poll set anew
    # on every pass: a fifth of the throughput on loopback (bench section 5), the price of holding that many.
    "asyncore_use_poll": True,
}


class _KiteErrorTask(ErrorTask):
    """waitress's refusal, as Kite's error JSON (and the headers every answer of the service carries)."""

    def execute(self):
        error = self.request.error
        body = json.dumps(
            {
                "status": "error",
                "message": f"{error.reason}: {error.body}",
                "data": None,
                "error_type": "InputException" if error.code < 500 else "GeneralException",
            }
        ).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(
            [
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ]
        )
        self.set_close_on_finish()  # the rest of the request was never read
        self.content_length = len(body)
        self.write(body)


class _KiteErrorChannel(HTTPChannel):
    error_task_class = _KiteErrorTask


def create_http_server(app, host: str, port: int, **extra):
    """waitress serving `app` on host:port with the service's settings (`extra`: proxy settings)."""
    server = create_server(app, host=host, port=port, **WAITRESS_SETTINGS, **extra)
    # One listening socket, or several (a name with IPv4 and IPv6 addresses): each makes the channels.
    listeners = [server] if isinstance(server, BaseWSGIServer) else list(server.map.values())
    for listener in listeners:
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = _KiteErrorChannel
    if isinstance(server, BaseWSGIServer):
        server.close = partial(_close_after_answers, server, server.close)
    return server


def _close_after_answers(server, close) -> None:
    """Let the answers being written finish (up to 5 s), then close. waitress's server of several
    sockets does this; its server of one socket closes at once, and an answer still being written
    (a /day stream's last lines) then fails on the closed socket with a traceback in the log."""
    server.task_dispatcher.shutdown()
    close()
