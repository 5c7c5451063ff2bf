"""Benchmark section: the sandbox's ticker at Kite's maximum, 3 connections x 3,000 instruments in full mode.

Each connection is an official KiteTicker in a process of its own (bench/ticker_client.py), as
three scripts of a user would be; the sandbox is in a process of its own too, so its CPU share is
its own.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from kiteconnect import KiteConnect, KiteTicker

from bench.support import PROJECT_DIR, LoggedInSandbox, median, percentile, rss_kb
from kite_sandbox.ticker_packets import MODE_FULL, Tick, frame, packet

CONNECTIONS = 3
INSTRUMENTS = 3000
SECONDS = 30
CLIENT = PROJECT_DIR / "bench" / "ticker_client.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def ticker_at_kites_maximum(row) -> list:
    sandbox = LoggedInSandbox(own_process=True)
    try:
        kite = KiteConnect(sandbox.demo.api_key, access_token=sandbox.session.access_token, root=sandbox.root)
        tradable = [i["instrument_token"] for i in kite.instruments() if i["segment"] != "INDICES"]
        tokens_file = sandbox.dir / "tokens.json"
        tokens_file.write_text(json.dumps(tradable[:INSTRUMENTS]))
        url = f"ws://127.0.0.1:{sandbox.port + 1}"
        arguments = [str(tokens_file), str(SECONDS)]
        outs = [sandbox.dir / f"client-{n}.json" for n in range(CONNECTIONS)]
        clients = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(CLIENT),
                    url,
                    sandbox.demo.api_key,
                    sandbox.session.access_token,
                    *arguments,
                    str(out),
                ]
            )
            for out in outs
        ]
        time.sleep(10)  # connected, subscribed and past the clients' warm-up
        cpu_before, wall_before = cpu_seconds(sandbox.process.pid), time.monotonic()
        clients_before = sum(cpu_seconds(c.pid) for c in clients)
        time.sleep(SECONDS - 4)
        sandbox_cpu = (cpu_seconds(sandbox.process.pid) - cpu_before) / (time.monotonic() - wall_before)
        clients_cpu = (sum(cpu_seconds(c.pid) for c in clients) - clients_before) / (time.monotonic() - wall_before)
        rss_mb = rss_kb(sandbox.process.pid) / 1024
        for client in clients:
            client.wait(timeout=SECONDS + 60)
    finally:
        sandbox.close()
    records = [json.loads(out.read_text()) for out in outs]
    decode_alone = _decode_time(len(tradable[:INSTRUMENTS]))
    arrival = [age for record in records for age in record["arrival_ages"]]
    decoded = [age for record in records for age in record["ages"]]
    gaps = [gap for record in records for gap in record["gaps"]]
    errors = [error for record in records for error in record["errors"]]
    # whole exchange seconds inside every client's window (the first and last may be cut)
    inner = [sorted(int(second) for second in record["stamps"])[1:-1] for record in records]
    delivered = sum(
        record["stamps"].get(str(second), 0)
        for record, seconds in zip(records, inner, strict=True)
        for second in seconds
    )
    expected = sum(len(range(seconds[0], seconds[-1] + 1)) for seconds in inner if seconds) * len(
        tradable[:INSTRUMENTS]
    )
    per_instrument_second = delivered / expected if expected else 0.0
    longest = max(gaps, default=float("inf"))
    shape = f"{CONNECTIONS} x {len(tradable[:INSTRUMENTS]):,} instruments, full mode, {SECONDS} s"
    return [
        row(
            f"ticks per instrument per second ({shape})",
            f"{per_instrument_second:.3f}",
            "1",
            per_instrument_second,
            "≥ 0.98, no errors",
            per_instrument_second >= 0.98 and not errors,
        ),
        row(
            "tick age when its frame reaches the client: p50, p99, max",
            _spread(arrival),
            "250 ms",
            percentile(arrival, 0.99) / 0.250,
            "p99 < 250 ms",
            percentile(arrival, 0.99) < 0.250,
        ),
        row(
            "tick age once KiteTicker has decoded it: p50, p99, max (reference: decoding one frame alone)",
            _spread(decoded),
            f"{decode_alone * 1000:.0f} ms",
            None,
            "reported (the client's own work)",
            None,
        ),
        row(
            "longest silence on a connection",
            f"{longest * 1000:.0f} ms",
            "2,000 ms",
            longest / 2.0,
            "≤ 2 s",
            longest <= 2.0,
        ),
        row(
            "sandbox CPU (share of one core) and memory; the 3 clients' CPU",
            f"{sandbox_cpu:.0%}, {rss_mb:.0f} MB; clients {clients_cpu:.0%}",
            f"{os.cpu_count()} cores",
            None,
            "reported",
            None,
        ),
    ]


def _decode_time(count: int) -> float:
    """How long KiteTicker takes to decode one frame of `count` full packets, on an otherwise idle machine."""
    tick = Tick(token=408065, last_price=1500.0, bids=((100, 1499.95, 1),) * 5, offers=((100, 1500.05, 1),) * 5)
    message = frame([packet(tick, MODE_FULL)] * count)
    ticker = KiteTicker("api_key", "access_token")
    started = time.perf_counter()
    ticker._parse_binary(message)  # what KiteTicker runs on every binary message before on_ticks
    return time.perf_counter() - started


def _spread(ages: list) -> str:
    return ", ".join(f"{value * 1000:.0f} ms" for value in (median(ages), percentile(ages, 0.99), max(ages)))
