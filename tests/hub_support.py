"""Fixtures for the ticker hub's tests: the sandbox's ticker, and the service's hub in front of it."""

import json
from functools import partial

import pytest

from conftest import make_session
from kite_app import create_app
from kite_sandbox.ticker import TickerServer
from kite_service.login.session_store import SessionStore
from kite_service.runtime.context import no_session_for_today
from kite_service.ticker.hub_server import HubServer
from kite_service.ticker.local_server import HubCaps


@pytest.fixture
def sandbox_ticker(sandbox_app, sandbox_root):
    server = TickerServer(sandbox_app.extensions["kite_sandbox"], "127.0.0.1", 0).start()
    yield server
    server.close()


@pytest.fixture
def serve_hub(tmp_path, config, demo, official_kite, sandbox_ticker, running_clock):
    """serve_hub(logged_in=True): the service's ticker hub in front of the sandbox; (its URL, the app)."""
    started = []

    def serve(logged_in: bool = True, caps: HubCaps | None = None, **extra) -> tuple:
        credentials = tmp_path / "demo_credentials.json"
        credentials.write_text(json.dumps({"api_key": demo.api_key, "api_secret": demo.api_secret}))
        settings = {"CREDENTIALS_FILE": str(credentials), "KITE_API_ROOT": official_kite.root, **extra}
        app = create_app({**config, **settings, "KITE_TICKER_URL": sandbox_ticker.url}, clock=running_clock)
        context = app.extensions["kite_app"]
        if logged_in:
            SessionStore(context.settings.session_file).save(
                make_session(official_kite.access_token, login_time=running_clock(), api_key=demo.api_key)
            )
        session_problem = partial(no_session_for_today, context)
        server = HubServer(
            context.ticker_hub,
            context.gateway.clients,
            "127.0.0.1",
            0,
            trusted_proxy=context.settings.trusted_proxy,
            session_problem=session_problem,
            caps=caps,
        )
        started.append((server.start(), context))
        return f"ws://127.0.0.1:{server.port}", app

    yield serve
    for server, context in started:
        server.close()
        context.ticker_hub.stop()
        if context.stream is not None:
            context.stream.stop()


@pytest.fixture
def hub(serve_hub):
    return serve_hub()
