"""Shared fixtures: an app on temporary files, a Flask test client, recorded Kite responses."""

import json
import logging
import os
import random
import socket
import time
from datetime import datetime
from pathlib import Path

import pytest
import responses

import log_utils
from kite_api import KiteAPI
from kite_app import create_app
from kite_service.clock import IST, now_ist
from kite_service.config.settings import ENVIRONMENT_NAMES, load_settings
from kite_service.kite.client import RetryPolicy
from kite_service.kite.rate_limit import OrderCaps, kite_limiters
from kite_service.login.session_store import Session, SessionStore

pytest_plugins = ["sandbox_support", "hub_support"]

MOCKS = Path(__file__).parent / "fixtures" / "kite_mocks"
KITE_ROOT = "http://kite.test"
ACCESS_CODE = "test-access-code-4711"
API_KEY = "testapikey1"
API_SECRET = "test-api-secret-0815"
TWOFA_KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
FAST_RETRY = RetryPolicy(retries=2, base_delay=0, max_delay=0)


def wait_for(condition, seconds: float = 15.0):
    """The condition's first true value within `seconds` (polled every 50 ms), else its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


def recorded(name: str) -> dict:
    """A recorded Kite response file, parsed."""
    return json.loads((MOCKS / name).read_text())


def recorded_text(name: str) -> str:
    return (MOCKS / name).read_text()


def session_response(access_token="live-access-token-1", login_time=None) -> str:
    """The recorded /session/token answer with our own token and a login time (default: now)."""
    body = recorded("generate_session.json")
    login = login_time or now_ist()
    body["data"].update(
        access_token=access_token,
        public_token=access_token + "-public",
        login_time=login.strftime("%Y-%m-%d %H:%M:%S"),
    )
    return json.dumps(body)


def make_session(access_token="live-access-token-1", login_time=None, api_key=API_KEY) -> Session:
    data = json.loads(session_response(access_token, login_time))["data"]
    data["login_time"] = datetime.strptime(data["login_time"], "%Y-%m-%d %H:%M:%S")
    return Session.from_kite(data, api_key, login_time or now_ist())


@pytest.fixture(autouse=True)
def once_per_process_warnings_given(monkeypatch):
    """KiteAPI warns once per process that it runs without the service; the suite runs in several
    worker processes in any order, so each test starts as if that warning had been given already
    (a test of the warning itself sets the flag back)."""
    monkeypatch.setattr(KiteAPI, "_warned_alone", True)
    monkeypatch.setattr(KiteAPI, "_warned_ticker_alone", True)


@pytest.fixture
def config(tmp_path) -> dict:
    """Settings as create_app(test_config) takes them, all files under tmp_path."""
    credentials = tmp_path / "login_credentials.json"
    credentials.write_text(json.dumps({"api_key": API_KEY, "api_secret": API_SECRET, "twofa_key": TWOFA_KEY}))
    return {
        "CODE": ACCESS_CODE,
        "CREDENTIALS_FILE": str(credentials),
        "SESSION_FILE": str(tmp_path / "data" / "session.json"),
        "LOG_DIR": str(tmp_path / "logs"),
        "KITE_API_ROOT": KITE_ROOT,
        "KITE_LOGIN_URL": "http://login.test/connect/login",
        "KITE_TIMEOUT": "2",
    }


@pytest.fixture
def settings(config):
    return load_settings(config)


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(settings) -> SessionStore:
    return SessionStore(settings.session_file)


@pytest.fixture
def logged_in(store) -> Session:
    """A valid session in session.json, as after a login a minute ago."""
    session = make_session()
    store.save(session)
    return session


@pytest.fixture
def kite_api(settings) -> KiteAPI:
    """KiteAPI on the temporary files, with its own limiters, order caps and instant retries."""
    return KiteAPI(settings, retry=FAST_RETRY, limiters=kite_limiters(), order_caps=OrderCaps())


@pytest.fixture
def kite():
    """`responses` mock of Kite; every registered response must be used."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def log_file(settings):
    """Route all logging into today's daily file under the test's log dir; yields a reader."""
    handler = log_utils.setup_logging(settings.log_dir, console=False)

    def read() -> str:
        handler.flush()
        return "\n".join(p.read_text() for p in sorted(Path(settings.log_dir).glob("*.log")))

    yield read
    logging.getLogger().removeHandler(handler)
    handler.close()


# Ports for the servers tests start, below the kernel's ephemeral range (32768 and up on Linux, where
# every outgoing connection of every worker takes its own port): a port picked from that range could
# be taken by another worker's client between the pick and the server's bind. Each pytest-xdist worker
# picks from a slice of its own, so two workers never pick the same port either.
PORTS_FROM, PORTS_PER_WORKER = 20000, 1500


def _port_candidates() -> list:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = PORTS_FROM + (int(worker) % 8 if worker.isdigit() else 0) * PORTS_PER_WORKER
    ports = list(range(first, first + PORTS_PER_WORKER - 1))  # the last one is the one before's +1
    random.shuffle(ports)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port free now in this worker's own slice, for a server a test starts."""
    return next(port for port in _port_candidates() if _free(port))


def free_sandbox_port(avoid: int = 0) -> int:
    """A free port whose next one is free too: the sandbox's ticker listens on its port + 1."""
    return next(p for p in _port_candidates() if avoid not in (p, p + 1) and _free(p) and _free(p + 1))


@pytest.fixture
def env(config):
    """Environment for `python kite_app.py` as a process: the test settings, a free port, no Kite."""
    environment = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_NAMES.values()}
    environment.update(config, PORT=str(free_port()), KITE_API_ROOT="http://127.0.0.1:9", ORDER_POLL_SECONDS="1")
    # PORT and CODE stay for the tests to read; the service takes them from the environment only as:
    environment.update(KITE_APP_PORT=environment["PORT"], KITE_APP_CODE=environment["CODE"])
    return environment


# With the clock shifted (libfaketime: .ci/run, tests/shifted_clock), every process a test starts
# must see the same shifted time as the test itself, even one started with a clean environment.
SHIFTED_CLOCK_VARIABLES = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "NO_FAKE_STAT")
SHIFTED_CLOCK_DIR = Path(__file__).parent / "shifted_clock"


def clock_env(pythonpath: str = "") -> dict:
    """The shifted clock's variables (none on a normal run), for a subprocess's clean environment."""
    env = {name: os.environ[name] for name in SHIFTED_CLOCK_VARIABLES if name in os.environ}
    paths = [pythonpath] if pythonpath else []
    if "FAKETIME" in env:
        paths.append(str(SHIFTED_CLOCK_DIR))
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def ist(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


class RecordingNotifier:
    """A notifier that keeps what it is sent (the real outbox delivers to it); fails while `down`."""

    name = "recorder"

    def __init__(self):
        self.sent = []
        self.down = False

    def send(self, notification: dict) -> None:
        from kite_service.notifications.channels import NotifierError

        if self.down:
            raise NotifierError("recorder is down")
        self.sent.append(notification)
