"""Kite App benchmarks: the cost of every layer, as ratios taken in one run against the sandbox.

    .venv/bin/python -m bench.run            every benchmark (about 7 minutes); writes docs/performance.md
    .venv/bin/python -m bench.run 3 4        only sections 3 and 4, printed

Prints one table (metric, ours, reference, ratio, target, pass/fail) and writes it, with the
machine and the versions, to docs/performance.md. No timing assertion lives in the test suite.
"""

import datetime as dt
import logging
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from bench.client_cost import order_watch_cost, rate_limit_efficiency, wrapper_overhead
from bench.day_page import day_page_bench
from bench.gateway_cost import gateway_cost
from bench.guard import guard_bench
from bench.history import data_helpers
from bench.order_burst import order_burst
from bench.order_updates import order_update_latency
from bench.paper import paper_bench
from bench.sandbox_orders import order_rate_and_fill_latency
from bench.service_cost import logging_cost, service_throughput, startup_and_footprint
from bench.support import PROJECT_DIR
from bench.table import Row
from bench.ticker_hub import ticker_hub
from bench.ticker_load import ticker_at_kites_maximum

# -- 7. the sandbox's order engine and market -------------------------------------------------------------------


def sandbox_orders() -> list:
    return order_rate_and_fill_latency(Row)


# -- 8. order updates by stream, postback and poll ------------------------------------------------------------


def order_updates() -> list:
    return order_update_latency(Row)


# -- 9. the ticker at Kite's maximum -------------------------------------------------------------------------


def ticker_load() -> list:
    return ticker_at_kites_maximum(Row)


# -- 10. a burst of order updates into the order database ----------------------------------------------------


def order_burst_cost() -> list:
    return order_burst(Row)


# -- the table -------------------------------------------------------------------------------------------------

SECTIONS = [
    ("1. Wrapper overhead (KiteAPI vs bare KiteConnect, same sandbox)", wrapper_overhead),
    ("2. Rate-limit efficiency (through KiteAPI, sandbox enforcing Kite's limits)", rate_limit_efficiency),
    ("3. Order watch cost", order_watch_cost),
    ("4. Logging (redacting daily handler vs plain FileHandler, same format)", logging_cost),
    ("5. Service (waitress, 8 concurrent keep-alive clients) vs a bare Flask app", service_throughput),
    ("6. Start-up and footprint", startup_and_footprint),
    ("7. Sandbox orders and market (through KiteAPI, sandbox enforcing Kite's limits)", sandbox_orders),
    ("8. Order updates: from a fill to the service's order event", order_updates),
    ("9. The sandbox's ticker at Kite's maximum (3 official KiteTickers, each in a process of its own)", ticker_load),
    ("10. A burst of 1,000 order updates into the order database and its outbox", order_burst_cost),
    ("11. The gateway: its cost, and five programs within the account's limits", lambda: gateway_cost(Row)),
    (
        "12. The ticker hub: 50 local clients over 9,000 instruments, and a client that reads nothing",
        lambda: ticker_hub(Row),
    ),
    ("13. The data helpers: two years of minute candles, the cache, instrument look-ups", lambda: data_helpers(Row)),
    ("14. The guard and the kill switch", lambda: guard_bench(Row)),
    ("15. The /day page: 500 orders of 20 programs, live events, 20 pages for an hour", lambda: day_page_bench(Row)),
    ("16. Paper clients: tick to fill, and 20 paper accounts beside the hub's live clients", lambda: paper_bench(Row)),
]
HEADER = ["metric", "ours", "reference", "ratio", "target", "result"]


def markdown(sections: list) -> str:
    lines = []
    for title, rows in sections:
        lines += [f"### {title}", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    packages = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("flask", "waitress", "kiteconnect", "requests", "apscheduler", "orjson")
    )
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
        f"Python {platform.python_version()}; {packages}"
    )


def main(argv: list) -> int:
    """Run every section (or the numbered ones given) and print the table; a full run writes the report."""
    logging.disable(logging.WARNING)  # the service's own warnings (e.g. "Order placed") are not the subject
    chosen = [SECTIONS[int(n) - 1] for n in argv] or SECTIONS
    results = []
    for title, benchmark in chosen:
        print(f"{title} ...", flush=True)
        rows = benchmark()
        results.append((title, rows))
        for row in rows:
            print("   " + " | ".join(row.cells()), flush=True)
    table = markdown(results)
    failed = sum(1 for _, rows in results for row in rows if row.passed is False)
    print("\n" + table)
    print(f"{failed} target(s) missed")
    if chosen == SECTIONS:
        write_report(table, failed)
    return 1 if failed else 0


def write_report(table: str, failed: int) -> None:
    report = PROJECT_DIR / "docs" / "performance.md"
    intro = report.read_text().split("<!-- results -->")[0] if report.exists() else "# Performance\n\n"
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    report.write_text(
        f"{intro}<!-- results -->\n\nMeasured {stamp} on {machine()}.\n{failed} target(s) missed.\n\n{table}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
