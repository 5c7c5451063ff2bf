"""What the benchmarks share: a logged-in sandbox on loopback, settings for KiteAPI, HTTP counters."""

import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pyotp
import requests
import urllib3

from kite_sandbox.accounts import DemoCredentials
from kite_sandbox.server import create_sandbox_app
from kite_sandbox.serving import start_in_background
from kite_service.config.settings import load_credentials, load_settings
from kite_service.login.exchange import exchange_request_token
from kite_service.login.session_store import SessionStore
from kite_service.storage.atomic_file import write_json_atomic

PROJECT_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_sandbox_port() -> int:
    """A free port whose next one is free too: a sandbox process's ticker listens on its port + 1."""
    while True:
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


class LoggedInSandbox:
    """The sandbox served by waitress on loopback, with a session in session.json.

    In this process (its order book at hand), or with own_process=True in a process of its own
    (bench/sandbox_process.py, without rate limits), so that timing a client measures the client.
    """

    def __init__(self, enforce_rate_limits: bool = True, own_process: bool = False, postback_url: str | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="kite-bench-"))
        self.demo = DemoCredentials.load_or_create(self.dir / "sandbox", redirect_url=None)
        self.port = free_sandbox_port() if own_process else free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.app = self.server = self.process = None
        if own_process:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(PROJECT_DIR / "bench" / "sandbox_process.py"),
                    str(self.dir / "sandbox"),
                    str(self.port),
                ]
            )
            wait_for_port(self.port)
        else:
            self.app = create_sandbox_app(self.demo, enforce_rate_limits=enforce_rate_limits, postback_url=postback_url)
            self.server = start_in_background(self.app, "127.0.0.1", self.port)
        credentials = self.dir / "login_credentials.json"
        write_json_atomic(credentials, {"api_key": self.demo.api_key, "api_secret": self.demo.api_secret})
        self.values = {
            "CODE": "bench-access-code",
            "CREDENTIALS_FILE": str(credentials),
            "SESSION_FILE": str(self.dir / "session.json"),
            "LOG_DIR": str(self.dir / "logs"),
            "KITE_API_ROOT": self.root,
            "KITE_LOGIN_URL": f"{self.root}/connect/login",
        }
        self.settings = load_settings(self.values)
        self.session = self._log_in()

    @property
    def book(self):
        return self.app.extensions["kite_sandbox"].book

    def _log_in(self):
        form = {
            "user_id": self.demo.user_id,
            "password": self.demo.password,
            "twofa_value": pyotp.TOTP(self.demo.totp_secret).now(),
        }
        answer = requests.post(
            f"{self.root}/connect/login?api_key={self.demo.api_key}&v=3", data=form, allow_redirects=False, timeout=5
        )
        request_token = re.search(r"request_token=([^&]+)", answer.headers["Location"]).group(1)
        credentials = load_credentials(self.settings.credentials_file)
        return exchange_request_token(
            request_token, self.settings, credentials, SessionStore(self.settings.session_file)
        )

    def close(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        else:
            self.server.close()


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class HttpCounter:
    """Counts HTTP requests and new TCP connections made through urllib3 (so by requests and kiteconnect)."""

    def __init__(self):
        self.requests = 0
        self.connections = 0

    @contextmanager
    def counting(self):
        original_urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen
        original_connect = urllib3.connection.HTTPConnection.connect
        counter = self

        def urlopen(pool, *args, **kwargs):
            counter.requests += 1
            return original_urlopen(pool, *args, **kwargs)

        def connect(connection, *args, **kwargs):
            counter.connections += 1
            return original_connect(connection, *args, **kwargs)

        urllib3.connectionpool.HTTPConnectionPool.urlopen = urlopen
        urllib3.connection.HTTPConnection.connect = connect
        try:
            yield self
        finally:
            urllib3.connectionpool.HTTPConnectionPool.urlopen = original_urlopen
            urllib3.connection.HTTPConnection.connect = original_connect


def rss_kb(pid: int) -> int:
    """A process's resident memory, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(samples: list, fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def median(samples: list) -> float:
    return statistics.median(samples)
