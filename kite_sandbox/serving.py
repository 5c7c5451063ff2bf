"""Serving the sandbox: waitress's settings, the HTTP server and the ticker started together, and stopped.

One start-up for `python -m kite_sandbox` and for the service's `--sandbox` mode."""

import threading

from waitress.server import create_server

from .ticker import TickerServer

# Bodies beyond 1 MB refused unread, slow clients cost a socket, at most 1,000 connections.
WAITRESS_SETTINGS = {
    "threads": 8,
    "max_request_body_size": 1024 * 1024,
    "connection_limit": 1000,
    "channel_timeout": 30,
    "asyncore_use_poll": True,
}


class PortBusyError(OSError):
    """A port the sandbox needs is taken: `what` says which (the API or the ticker) and `port` which one."""

    def __init__(self, what: str, host: str, port: int, reason: str):
        super().__init__(f"cannot listen on {host}:{port} for the {what} ({reason})")
        self.what, self.host, self.port, self.reason = what, host, port, reason


class BackgroundServer:
    """The sandbox served by waitress on a daemon thread, with its matcher; close() stops both."""

    def __init__(self, app, host: str, port: int):
        self._server = create_server(app, host=host, port=port, **WAITRESS_SETTINGS)
        self.effective_port = self._server.effective_port
        self._matcher = app.extensions["kite_sandbox"].matcher
        self._closing = False
        self._matcher.start()
        threading.Thread(target=self._serve, name="kite-sandbox", daemon=True).start()

    def _serve(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            if not self._closing:  # closed from another thread: waitress's loop sees a dead socket
                raise

    def close(self) -> None:
        self._closing = True
        self._matcher.stop()
        self._server.close()


def start_in_background(app, host: str, port: int) -> BackgroundServer:
    """Serve `app` with waitress on a daemon thread; returns the server (call .close() to stop)."""
    return BackgroundServer(app, host, port)


class RunningSandbox:
    """The sandbox's API on `port` and its WebSocket ticker on `ticker_port` (default: port + 1), both
    serving; the ticker's URL is written beside the credentials. PortBusyError if either port is taken
    (then nothing is left running)."""

    def __init__(self, app, host: str, port: int, data_dir, ticker_port: int | None = None):
        sandbox = app.extensions["kite_sandbox"]
        try:
            self.server = start_in_background(app, host, port)
        except OSError as exc:
            raise PortBusyError("API", host, port, exc.strerror) from None
        ticker_port = ticker_port if ticker_port is not None else (port + 1 if port else 0)
        try:
            self.ticker = TickerServer(sandbox, host, ticker_port).start()
        except OSError as exc:
            self.server.close()
            raise PortBusyError("ticker", host, ticker_port, exc.strerror) from None
        self.root = f"http://{host}:{self.server.effective_port}"
        sandbox.credentials.record_ticker_url(data_dir, self.ticker.url)

    def close(self) -> None:
        self.ticker.close()
        self.server.close()
