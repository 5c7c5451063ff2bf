"""A small HTTP/1.1 keep-alive load generator: N processes, each one connection, a request at a time.

Raw sockets and a minimal response parser keep the client's own cost low, so that on a small
machine the server, not the client, is what gets measured.
"""

import multiprocessing
import socket
import time


def _client(port: int, request: bytes, seconds: float, results) -> None:
    latencies = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        deadline = time.perf_counter() + seconds
        while True:
            started = time.perf_counter()
            if started >= deadline:
                break
            sock.sendall(request)
            status = reader.readline()
            length = 0
            while True:
                line = reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            reader.read(length)
            if not status.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer {status!r}")
            latencies.append(time.perf_counter() - started)
    results.put(latencies)


def run(port: int, path: str, headers: dict, clients: int = 8, seconds: float = 4.0) -> dict:
    """Requests per second and latencies of `clients` concurrent keep-alive clients for `seconds`."""
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_client, args=(port, request, seconds, results)) for _ in range(clients)]
    for worker in workers:
        worker.start()
    latencies = []
    for _ in workers:
        latencies.extend(results.get(timeout=seconds + 30))
    for worker in workers:
        worker.join()
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
        "count": len(latencies),
    }
