"""Where the service listens unless told otherwise: the one source of its default address and ports."""

DEFAULT_HOST = "127.0.0.1"  # loopback: anything beyond goes behind a proxy (README)
DEFAULT_PORT = 5001
DEFAULT_SANDBOX_PORT = 5002  # `kite_app.py --sandbox` serves the sandbox here (and its ticker on 5003)
DEFAULT_TICKER_HUB_PORT = 5004  # the ticker hub's local WebSocket
DEFAULT_LOGIN_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/login"
