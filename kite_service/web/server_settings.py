"""How the service's HTTP server (waitress) is set up: request size, connections, timeouts."""

MAX_REQUEST_BYTES = 16 * 1024  # Flask answers 413 above this
# waitress's defaults suit a server behind a buffering proxy: it reads bodies of up to 1 GB (into
# temporary files past 512 kB) before Flask can refuse them, and 100 connections that trickle a
# header line now and then take it offline. A slow client costs a socket here, never a thread.
WAITRESS_SETTINGS = {
    # Gateway calls may wait seconds for the account's rate-limit slot; 16 threads leave room for
    # /health, /login and the rest while they do (gateway/forward.py takes at most threads - 2).
    "threads": 16,
    "max_request_body_size": 4 * MAX_REQUEST_BYTES,  # beyond: refused unread; up to it, in memory (Flask: 413)
    "connection_limit": 4000,
    "channel_timeout": 30,  # seconds a connection may stay silent
    # select() cannot watch more than 1,024 sockets. waitress's poll() loop builds its poll set anew
    # on every pass: a fifth of the throughput on loopback (bench section 5), the price of holding that many.
    "asyncore_use_poll": True,
}
