"""Fixtures for paper clients: the service (gateway over real HTTP, hub, paper desk) in front of the
sandbox and its real ticker, with every request the sandbox receives counted by route."""

import json
import threading
import time
from dataclasses import dataclass, field

import pytest
from flask import request
from websockets.sync.client import connect

from conftest import (
    free_port,
    wait_for,  # noqa: F401 (for the paper tests)
)
from kite_app import proxy_settings
from kite_sandbox.server import create_sandbox_app
from kite_service.gateway.local_client import LocalGateway
from kite_service.kite.sdk import KiteConnect
from kite_service.web.http_server import create_http_server

BUY = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "product": "CNC"}


@dataclass
class PaperService:
    root: str
    app: object
    market: object  # the sandbox's: pin prices here
    received: list = field(default_factory=list)  # (method, path) of every request the sandbox took
    hub_url: str = ""  # the ticker hub's ws:// root

    @property
    def context(self):
        return self.app.extensions["kite_app"]

    def client(self, name: str, paper: bool = True, capital: float = 1_000_000.0) -> KiteConnect:
        """The official client with a new gateway client's credentials (a paper one by default)."""
        clients = self.context.gateway.clients
        client, token = clients.add(name, can_trade=True, paper_capital=capital if paper else None)
        return KiteConnect(client.api_key, access_token=token, root=self.root)

    def ticker_socket(self, kite: KiteConnect):
        """A plain WebSocket to the hub with `kite`'s credentials, keeping every message."""
        url = f"{self.hub_url}/?api_key={kite.api_key}&access_token={kite.access_token}"
        return connect(url, max_queue=None, ping_interval=None)

    def order_calls_at_kite(self) -> list:
        """What reached the sandbox of Kite's order-class routes (placing, changing or cancelling
        anything: orders, GTTs, alerts, mutual funds, conversions); Kite's calculators are reads."""
        calculators = ("/margins/orders", "/margins/basket", "/charges/orders")  # reads, though POSTs
        return [(m, p) for m, p in self.received if m in ("POST", "PUT", "DELETE") and p not in calculators]

    def pin(self, symbol: str, price: float, exchange: str = "NSE"):
        instrument = self.market.by_symbol(exchange, symbol)
        self.market.pin_price(instrument, price)
        return instrument


@pytest.fixture
def sandbox_app(demo, running_clock):
    return create_sandbox_app(demo, clock=running_clock, enforce_rate_limits=False)  # ticks in real time


@pytest.fixture
def received(sandbox_app):
    """(method, path) of every API request the sandbox takes (asked for before anything calls it)."""
    seen = []

    @sandbox_app.before_request
    def note():
        if not request.path.startswith("/sandbox/"):
            seen.append((request.method, request.path))

    return seen


@pytest.fixture
def paper_service(sandbox_app, received, serve_hub):
    """The service in front of the sandbox: gateway over HTTP, hub and paper desk running."""
    port = free_port()
    hub_url, app = serve_hub(RATE_LIMITS="off", PAPER_MARKET_HOURS="always", PORT=str(port))
    context = app.extensions["kite_app"]
    server = create_http_server(app, "127.0.0.1", port, **proxy_settings(context.settings))
    threading.Thread(target=server.run, daemon=True).start()
    context.paper.start()
    root = f"http://127.0.0.1:{server.effective_port}"
    scripts = LocalGateway(context.settings.data_dir, context.gateway.clients, root, hub_url)
    assert scripts.open()  # as kite_app.serve does: KiteAPI finds the running gateway
    context.api.instrument("NSE:INFY")  # the day's instrument list, fetched once (seconds): not inside a test's call
    market = sandbox_app.extensions["kite_sandbox"].market
    received.clear()  # the set-up's login is not the programs'
    yield PaperService(root, app, market, received, hub_url)
    scripts.close()
    context.paper.stop()
    app.extensions["day_feed"].stop()
    server.close()


def order_updates(socket, seconds: float, until=lambda updates: False) -> list:
    """The order updates (their data) a hub connection receives within `seconds`, or until `until(updates)`."""
    updates, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline and not until(updates):
        try:
            message = socket.recv(timeout=max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        if isinstance(message, str) and json.loads(message).get("type") == "order":
            updates.append(json.loads(message)["data"])
    return updates
