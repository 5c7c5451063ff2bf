"""Who did what: one JSON line per order call through the gateway, in a daily append-only file.

`logs/gateway_audit_YYYY-MM-DD.jsonl` (the IST day; 0600; opened O_APPEND|O_NOFOLLOW, so a line is
added, never rewritten, and a planted link is refused): time, client, call, parameters (secrets
redacted, control characters escaped) and Kite's answer or the gateway's refusal. It answers "which
program placed this order?". Counts per client for the day go to /api/status.
"""

import json
import os
import threading
from datetime import datetime
from pathlib import Path

from kite_service.clock import as_ist, trading_day
from kite_service.logs.redaction import redact
from kite_service.logs.text import clean_text

AUDIT_PREFIX = "gateway_audit_"


class GatewayAudit:
    """The audit file and each client's counts for the trading day."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self._lock = threading.Lock()
        self._day = None
        self._counts: dict = {}  # client name -> {"calls", "orders", "refusals"}

    def path_for(self, moment: datetime) -> Path:
        return self.log_dir / f"{AUDIT_PREFIX}{as_ist(moment).date().isoformat()}.jsonl"

    def count(self, moment: datetime, client: str, *, order: bool = False, refused: bool = False) -> None:
        """One call by `client` (an order call, a refusal) in today's counts."""
        with self._lock:
            self._roll(moment)
            counts = self._counts.setdefault(client, {"calls": 0, "orders": 0, "refusals": 0})
            counts["calls"] += 1
            counts["orders"] += order and not refused
            counts["refusals"] += refused

    def record(self, moment: datetime, client: str, method: str, path: str, fields: dict, status: int, answer: str):
        """Append one order call's line. Raises OSError if the line cannot be written."""
        line = {
            "time": as_ist(moment).isoformat(timespec="milliseconds"),
            "client": client,
            "call": f"{method} {path}",
            "parameters": {clean_text(k, 40): clean_text(redact(str(v)), 200) for k, v in fields.items()},
            "status": status,
            "order_id": _order_id(answer),
            "answer": clean_text(redact(answer), 500),
        }
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(self.path_for(moment), flags, 0o600)
            try:
                os.write(fd, data)  # one write of one line: lines from threads never interleave
            finally:
                os.close(fd)

    def today(self, moment: datetime) -> dict:
        """{client: {"calls", "orders", "refusals"}} for the trading day of `moment`."""
        with self._lock:
            self._roll(moment)
            return {name: dict(counts) for name, counts in self._counts.items()}

    def _roll(self, moment: datetime) -> None:
        day = trading_day(moment)
        if day != self._day:
            self._day, self._counts = day, {}


def _order_id(answer: str) -> str | None:
    """The order id in Kite's answer to an order call ({"data": {"order_id": ...}}), if any."""
    try:
        order_id = json.loads(answer)["data"]["order_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return clean_text(order_id, 40) if isinstance(order_id, str) else None
