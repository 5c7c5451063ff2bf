"""Holding the door: bodies, slow clients, guess budgets, cross-site requests, Host names, odd input.

Each test here is an attack that got through once; the real-process ones drive `python kite_app.py`
(waitress) over loopback sockets. Figures for docs/reliability.md print with `-s`.
"""

import resource
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from conftest import ACCESS_CODE
from test_entrypoint import log_text, start, wait_until_up


@pytest.fixture
def service(env, tmp_path):
    """`python kite_app.py --no-scheduler` with its temporary folder of its own (TMPDIR)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**env, "TMPDIR": str(scratch)}
    process = start(env, "--no-scheduler")
    port = int(env["PORT"])
    wait_until_up(port, process)
    yield f"http://127.0.0.1:{port}", port, scratch, env
    process.terminate()
    process.communicate(timeout=30)


def raw_request(port: int, head: bytes, body_chunks=(), timeout=10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed before taking the whole body: as intended
        return sock.recv(65536)


def files_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# -- 2. bodies --------------------------------------------------------------------------------------


def test_a_huge_body_is_refused_before_it_is_read_or_written_anywhere(service):
    url, port, scratch, _env = service
    declared = 200 * 1024 * 1024
    head = (
        f"POST /api/postback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {declared}\r\n"
        "Content-Type: application/json\r\n\r\n"
    ).encode()
    answer = raw_request(port, head, (b"x" * 65536 for _ in range(32)))  # 2 MB sent of the 200 MB
    assert answer.startswith(b"HTTP/1.1 413")
    chunked = f"POST /api/postback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    piece = b"10000\r\n" + b"y" * 0x10000 + b"\r\n"
    assert raw_request(port, chunked, (piece for _ in range(32))).startswith(b"HTTP/1.1 413")
    written = files_under(scratch)
    print(f"\nbodies: 200 MB declared and 2 MB chunked refused with 413; bytes written to disk: {written}")
    assert written == 0
    assert requests.get(f"{url}/health", timeout=5).status_code == 200


def test_bodies_over_the_apps_limit_still_get_a_json_413(service):
    url, *_ = service
    response = requests.post(f"{url}/api/postback", data=b"z" * (40 * 1024), timeout=5)
    assert response.status_code == 413 and response.json()["status"] == "error"


# -- 3. slow clients --------------------------------------------------------------------------------


def test_a_thousand_slow_clients_do_not_take_the_service_offline(service):
    url, port, *_ = service
    count = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, count + 256), hard), hard))
    slow = []
    try:
        for number in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow-{number}: 1\r\n".encode())
            slow.append(sock)
        time.sleep(1)
        for sock in slow[::10]:  # a trickled line each: their timeouts start again
            sock.sendall(b"X-More: 1\r\n")
        latencies = []
        for path in ("/health", "/login", "/health", "/api/callback?state=x", "/health"):
            started = time.monotonic()
            status = requests.get(f"{url}{path}", timeout=5).status_code
            latencies.append(time.monotonic() - started)
            assert status in (200, 403)
    finally:
        for sock in slow:
            sock.close()
    worst = max(latencies)
    print(f"\nslow clients: {count} held open; /health, /login, callback answered in at most {worst:.3f} s")
    # Offline would be no answer within requests' timeout (5 s, above). How fast the answers come with
    # a thousand sockets held is a figure for the benchmarks, not a deadline here: on a 2-core machine
    # running the rest of the suite the first answer took 1.6 s, alone 0.1 s.
    assert len(latencies) == 5


# -- 4. the guess budget -----------------------------------------------------------------------------


def test_every_loopback_address_shares_one_budget(client):
    for number in range(10):
        response = client.get("/api/url?code=wrong", environ_base={"REMOTE_ADDR": f"127.0.{number}.{number + 2}"})
        assert response.status_code == 401
    assert client.get(f"/api/url?code={ACCESS_CODE}", environ_base={"REMOTE_ADDR": "127.9.9.9"}).status_code == 429
    assert client.get(f"/api/url?code={ACCESS_CODE}", environ_base={"REMOTE_ADDR": "::1"}).status_code == 429


def test_guesses_allowed_in_15_minutes_from_all_of_loopback(client):
    answers = [
        client.get("/api/url?code=wrong", environ_base={"REMOTE_ADDR": f"127.{n % 250}.{n // 250}.1"}).status_code
        for n in range(400)
    ]
    print(f"\nguesses across 127.0.0.0/8: {answers.count(401)} checked, {answers.count(429)} refused with 429")
    assert answers.count(401) == 10 and answers.count(429) == 390


def test_simultaneous_guesses_get_exactly_the_budget(service):
    url, *_ = service
    with ThreadPoolExecutor(30) as pool:
        statuses = list(
            pool.map(lambda _: requests.get(f"{url}/api/url?code=wrong", timeout=10).status_code, range(90))
        )
    assert statuses.count(401) == 10 and statuses.count(429) == 80


def test_a_right_code_does_not_use_up_the_budget(client):
    for _ in range(30):
        assert client.get(f"/api/url?code={ACCESS_CODE}").status_code == 200
    for _ in range(9):
        client.get("/api/url?code=wrong")
    assert client.get(f"/api/url?code={ACCESS_CODE}").status_code == 200


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"method": "post", "path": "/login", "data": {"code": "guess"}, "headers": {"Origin": "https://evil.example"}},
        {"method": "get", "path": "/api/url?code=guess", "headers": {"Sec-Fetch-Site": "cross-site"}},
        {"method": "get", "path": "/api/status?code=guess", "headers": {"Origin": "http://localhost:8080"}},
        {"method": "post", "path": "/api/token?code=guess", "headers": {"Sec-Fetch-Site": "same-site"}},
    ],
    ids=["form-post", "image-load", "other-local-port", "same-site-fetch"],
)
def test_cross_site_requests_never_reach_the_code_check(client, request_kwargs):
    kwargs = dict(request_kwargs)
    call = getattr(client, kwargs.pop("method"))
    reached = 0
    for _ in range(50):
        response = call(kwargs["path"], data=kwargs.get("data"), headers=kwargs["headers"])
        assert response.status_code == 403
        reached += response.status_code in (401, 429)
    print(f"\ncross-site attempts that reached the code check: {reached} of 50")
    assert client.get(f"/api/url?code={ACCESS_CODE}").status_code == 200  # the owner's budget is whole
    assert client.post("/login", data={"code": ACCESS_CODE}).status_code == 303  # the owner's own form
    same_origin = {"Origin": "http://127.0.0.1:5001", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/login", data={"code": ACCESS_CODE}, headers=same_origin).status_code == 303
    null_origin = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}  # our pages' no-referrer policy does this
    assert client.post("/login", data={"code": ACCESS_CODE}, headers=null_origin).status_code == 303


def test_a_listed_cors_origin_may_still_call(config):
    from kite_app import create_app

    client = create_app({**config, "CORS_ORIGINS": "https://ui.example"}).test_client()
    headers = {"Origin": "https://ui.example", "Sec-Fetch-Site": "cross-site"}
    assert client.get(f"/api/url?code={ACCESS_CODE}", headers=headers).status_code == 200


def test_forwarded_addresses_count_only_from_the_trusted_proxy(env):
    port = int(env["PORT"])

    def guesses(environment, forwarded_for):
        process = start(environment, "--no-scheduler")
        try:
            wait_until_up(port, process)
            statuses = [
                requests.get(
                    f"http://127.0.0.1:{port}/api/url?code=wrong",
                    headers={"X-Forwarded-For": f"203.0.113.{n}"},
                    timeout=5,
                ).status_code
                for n in forwarded_for
            ]
        finally:
            process.terminate()
            process.communicate(timeout=30)
        return statuses

    assert guesses(env, range(12)).count(429) == 2  # not trusted: all of it is one loopback client
    trusted = guesses({**env, "TRUSTED_PROXY": "127.0.0.1"}, range(12))
    assert trusted.count(429) == 0  # twelve clients behind the proxy, one guess each


def test_the_guess_table_stays_bounded():
    from kite_service.login.access_code import MAX_TRACKED_CLIENTS, FailedAttempts

    attempts = FailedAttempts()
    for number in range(MAX_TRACKED_CLIENTS * 2):
        attempts.take(f"198.51.{number // 256}.{number % 256}")
    assert attempts.tracked_clients == MAX_TRACKED_CLIENTS


def test_client_keys():
    from kite_service.login.access_code import client_key

    assert client_key("127.0.0.1") == client_key("127.200.3.4") == client_key("::1") == "loopback"
    assert client_key("::ffff:127.0.0.2") == "loopback"
    assert client_key("2001:db8:1:2:3:4:5:6") == client_key("2001:db8:1:2::9") == "2001:db8:1:2::/64"
    assert client_key("192.0.2.4") == "192.0.2.4"
    # Whatever else a forwarded header says buys no budget of its own.
    assert client_key(None) == client_key("not-an-ip") == client_key("203.0.113.5, 10.0.0.1") == "malformed"


def test_wrong_codes_from_all_clients_together_stop_at_100_in_15_minutes():
    from kite_service.login.access_code import FailedAttempts

    now = [0.0]
    attempts = FailedAttempts(clock=lambda: now[0])
    waits = [attempts.take(f"198.51.100.{n % 250}") for n in range(150)]  # 150 clients, one guess each
    assert waits[:100] == [0] * 100 and all(wait > 0 for wait in waits[100:])
    now[0] += 15 * 60  # the window moves on
    assert attempts.take("198.51.100.7") == 0


def test_with_the_proxy_trusted_no_client_buys_guesses_or_a_host_by_naming_them(env):
    """The README's recipe trusts 127.0.0.1: any local process may write X-Forwarded-* headers."""
    port = int(env["PORT"])
    process = start({**env, "TRUSTED_PROXY": "127.0.0.1"}, "--no-scheduler")
    try:
        wait_until_up(port, process)
        url = f"http://127.0.0.1:{port}/api/url?code=wrong"
        garbage = [
            requests.get(url, headers={"X-Forwarded-For": f"not-an-address-{n}"}, timeout=5).status_code
            for n in range(12)
        ]
        spread = [
            requests.get(url, headers={"X-Forwarded-For": f"203.0.{n // 250}.{n % 250}"}, timeout=5).status_code
            for n in range(120)
        ]
        foreign_host = requests.get(
            f"http://127.0.0.1:{port}/health",
            headers={"Host": "evil.example", "X-Forwarded-Host": f"127.0.0.1:{port}"},
            timeout=5,
        )
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert garbage.count(401) == 10 and garbage.count(429) == 2  # all malformed addresses: one client
    assert spread.count(401) == 90 and spread.count(429) == 30  # 100 wrong codes in all, then everyone waits
    assert foreign_host.status_code == 421  # X-Forwarded-Host is not believed
    log = log_text(env)
    assert "not-an-address" not in log and "wrong access codes from all clients" in log


# -- 5. Host names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/health", f"/api/url?code={ACCESS_CODE}", "/api/postback"])
def test_a_foreign_host_name_is_refused_before_any_handler(client, logged_in, path):
    response = client.get(path, headers={"Host": "evil.example:5001"})
    assert response.status_code == 421 and response.get_json()["status"] == "error"
    assert logged_in.user_id not in response.get_data(as_text=True)


def test_own_host_names_are_served(config):
    from kite_app import create_app

    client = create_app({**config, "PUBLIC_URL": "https://kite.example.com"}).test_client()
    for host in ("127.0.0.1:5001", "localhost:5001", "[::1]:5001", "localhost", "kite.example.com"):
        assert client.get("/health", headers={"Host": host}).status_code == 200, host
    assert client.get("/health", headers={"Host": "kite.example.com.evil.example"}).status_code == 421


# -- 6. odd input, logs and headers --------------------------------------------------------------------


@pytest.mark.parametrize("state", ["1.%C2%B2.abc", "1.%D9%A3.abc", "1.1e5.abc", "..", "%00.1.2"])
def test_odd_login_states_are_refused_not_crashed_on(client, state):
    response = client.get(f"/api/callback?status=success&request_token=abcdef&state={state}")
    assert response.status_code == 403


def test_a_flood_of_refusals_is_a_few_log_lines(client, log_file):
    for _ in range(300):
        client.get("/api/callback?status=success&request_token=abcdef&state=forged.1.x")
        client.post("/api/postback", data=b"not json")
    lines = [line for line in log_file().splitlines() if "refused" in line.lower()]
    print(f"\nrefusal log lines for 600 refused requests: {len(lines)}")
    assert len(lines) <= 25


def test_json_answers_are_not_cached_or_sniffed(client):
    for path in ("/health", "/api/url", "/login", "/nope"):
        headers = client.get(path).headers
        assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"


def test_the_daily_log_file_is_not_opened_through_a_planted_link(tmp_path):
    import logging

    from kite_service.logs import files as log_files

    target = tmp_path / "elsewhere.txt"
    target.write_text("untouched\n")
    logs = tmp_path / "logs"
    handler = log_files.DailyFileHandler(logs)
    logs.mkdir(mode=0o700)
    today = handler.path_for(log_files._EPOCH + timedelta(days=int((time.time() + 19800) // 86400)))
    today.symlink_to(target)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "a line", (), None)
    handler.handleError = lambda _record: None  # the refusal is logging's own error report
    handler.emit(record)
    handler.close()
    assert target.read_text() == "untouched\n"


def test_log_folders_and_files_are_private(tmp_path):
    import logging

    import log_utils

    handler = log_utils.DailyFileHandler(tmp_path / "new" / "logs")
    handler.emit(logging.LogRecord("x", logging.INFO, __file__, 1, "a line", (), None))
    handler.close()
    folder = tmp_path / "new" / "logs"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in folder.iterdir())


def test_log_retention_also_caps_the_size(tmp_path):
    import log_utils

    today = date(2026, 11, 23)
    for back in range(5):
        (tmp_path / f"kite_app_{today - timedelta(days=back)}.log").write_bytes(b"x" * 1000)
    removed = log_utils.purge_old_logs(tmp_path, 30, today, max_bytes=2500)
    assert removed == [f"kite_app_{today - timedelta(days=back)}.log" for back in (4, 3, 2)]
    log_utils.purge_old_logs(tmp_path, 30, today, max_bytes=10)
    assert [p.name for p in tmp_path.iterdir()] == [f"kite_app_{today}.log"]  # today's is never deleted


def test_threads_see_the_same_budget_under_contention():
    from kite_service.login.access_code import FailedAttempts

    attempts = FailedAttempts()
    taken = []
    lock = threading.Lock()

    def guess():
        result = attempts.take("loopback")
        with lock:
            taken.append(result)

    threads = [threading.Thread(target=guess) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken.count(0) == 10


def test_the_sandbox_also_refuses_huge_bodies_unread(demo, clock):
    from kite_sandbox.server import create_sandbox_app
    from kite_sandbox.serving import start_in_background

    server = start_in_background(create_sandbox_app(demo, clock=clock), "127.0.0.1", 0)
    try:
        port = server.effective_port
        head = f"POST /orders/regular HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n"
        assert raw_request(port, head.encode(), (b"x" * 65536 for _ in range(32))).startswith(b"HTTP/1.1 413")
    finally:
        server.close()
