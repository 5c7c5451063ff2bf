"""Who did what: one JSON line per call through the gateway that changes the account (orders, GTTs,
mutual fund orders and SIPs, alerts, position conversions, and refused session calls), in a daily
append-only file.

`logs/gateway_audit_YYYY-MM-DD.jsonl` (the IST day; 0600; opened O_APPEND|O_NOFOLLOW, so a line is
added, never rewritten, and a planted link is refused): time, client, call, parameters (secrets
redacted, control characters escaped) and Kite's answer or the gateway's refusal. It answers "which
program placed this order?" (an order's tag does not: a program may set any). Counts per client for
the day go to /api/status.

Bounded: a line holds at most MAX_LINE_BYTES (parameters beyond it are left out and counted), and
the gateway's refusals (nothing reached Kite) are written at most REFUSED_LINES_PER_MINUTE a minute
per client, the rest counted in that client's next line. The files are kept AUDIT_RETENTION_DAYS
and AUDIT_MAX_MB (logs/files.py, the hourly maintenance).
"""

import json
import os
import re
import threading
from collections import deque
from datetime import datetime
from pathlib import Path

from kite_service.clock import as_ist, trading_day
from kite_service.logs.redaction import redact
from kite_service.logs.text import clean_text

AUDIT_PREFIX = "gateway_audit_"
AUDIT_NAME = re.compile(rf"^{AUDIT_PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})\.jsonl$")
MAX_LINE_BYTES = 4096
REFUSED_LINES_PER_MINUTE = 20


class GatewayAudit:
    """The audit file and each client's counts for the trading day."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self._lock = threading.Lock()
        self._day = None
        self._counts: dict = {}  # client name -> {"calls", "orders", "refusals"}
        self._refused_lines: dict = {}  # client name -> times of its refusals' lines in the last minute
        self._unwritten: dict = {}  # client name -> refusals not written since its last line
        self.listeners: list = []  # called with the order id of each placement written (the /day page)

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

    def record(
        self,
        moment: datetime,
        client: str,
        method: str,
        path: str,
        fields: dict,
        status: int,
        answer: str,
        refused: bool = False,
    ):
        """Append one call's line (`refused`: the gateway's refusal, throttled per client). Raises
        OSError if the line cannot be written."""
        with self._lock:
            if refused and not self._room_for_refusal(client, moment.timestamp()):
                self._unwritten[client] = self._unwritten.get(client, 0) + 1
                return
            unwritten = self._unwritten.pop(client, 0)
        line = {
            "time": as_ist(moment).isoformat(timespec="milliseconds"),
            "client": client,
            "call": f"{method} {clean_text(path, 200)}",
            "parameters": {},
            "status": status,
            "order_id": _order_id(answer),
            "trigger_id": _answer_field(answer, "trigger_id"),
            "answer": clean_text(redact(answer), 500),
        }
        if unwritten:
            line["refusals_not_written"] = unwritten
        data = _bounded(line, fields)
        with self._lock:
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(self.path_for(moment), flags, 0o600)
            try:
                os.write(fd, data)  # one write of one line: lines from threads never interleave
            finally:
                os.close(fd)
        if line["order_id"] and method == "POST" and path.startswith("/orders/"):
            for listener in self.listeners:  # the order's program is known from now on
                listener(line["order_id"])

    def _room_for_refusal(self, client: str, now: float) -> bool:
        """Whether `client`'s refusal may have a line now (lock held); counts it if so."""
        times = self._refused_lines.setdefault(client, deque())
        while times and now - times[0] >= 60:
            times.popleft()
        if len(times) >= REFUSED_LINES_PER_MINUTE:
            return False
        times.append(now)
        return True

    def _entries(self, moment: datetime):
        """The lines of the audit file of `moment`'s IST day that Kite took (status 200), as dicts."""
        try:
            lines = self.path_for(moment).read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("status") == 200:
                yield entry

    def placements(self, moment: datetime) -> dict:
        """{client: its order placements Kite took} in the audit file of `moment`'s IST day: where the
        guard's count of each client's orders starts after a restart."""
        counts: dict = {}
        for entry in self._entries(moment):
            if str(entry.get("call", "")).startswith("POST /orders/"):
                counts[entry.get("client")] = counts.get(entry.get("client"), 0) + 1
        return counts

    def owned(self, moment: datetime, client: str) -> tuple[set, set]:
        """({order ids}, {GTT trigger ids}) that `client` placed on `moment`'s IST day, by the audit:
        the kill switch's `--client` touches those alone (an order's tag may say anything)."""
        orders, triggers = set(), set()
        for entry in self._entries(moment):
            if entry.get("client") == client:
                if entry.get("order_id"):
                    orders.add(str(entry["order_id"]))
                if entry.get("trigger_id"):
                    triggers.add(str(entry["trigger_id"]))
        return orders, triggers

    def order_owners(self, moment: datetime) -> dict:
        """{order_id: {"client", "at"}}: which program placed each order of `moment`'s IST day, and when
        Kite took it (the /day page's "placed by")."""
        owners: dict = {}
        for entry in self._entries(moment):
            order_id = entry.get("order_id")
            if order_id and str(entry.get("call", "")).startswith("POST /orders/") and order_id not in owners:
                owners[str(order_id)] = {"client": str(entry.get("client")), "at": str(entry.get("time"))}
        return owners

    def today(self, moment: datetime) -> dict:
        """{client: {"calls", "orders", "refusals"}} for the trading day of `moment`."""
        with self._lock:
            self._roll(moment)
            return {name: dict(counts) for name, counts in self._counts.items()}

    def _roll(self, moment: datetime) -> None:
        day = trading_day(moment)
        if day != self._day:
            self._day, self._counts = day, {}


def _bounded(line: dict, fields: dict) -> bytes:
    """`line` with as many of `fields` (redacted, each cut) as fit MAX_LINE_BYTES, as JSON bytes."""
    data = _encoded(line)
    left_out = 0
    for key, value in fields.items():
        name, text = clean_text(str(key), 40), clean_text(redact(str(value)), 200)
        size = len(json.dumps({name: text}, ensure_ascii=False).encode("utf-8"))
        if len(data) + size + 40 > MAX_LINE_BYTES:  # room kept for "parameters_left_out"
            left_out += 1
            continue
        line["parameters"][name] = text
        data = _encoded(line)
    if left_out:
        line["parameters_left_out"] = left_out
        data = _encoded(line)
    return data


def _encoded(line: dict) -> bytes:
    return (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


def _answer_field(answer: str, name: str) -> str | None:
    """A field of the data of Kite's answer ({"data": {"trigger_id": 123}}), as text, if any."""
    try:
        value = json.loads(answer)["data"][name]
    except (ValueError, KeyError, TypeError):
        return None
    return clean_text(str(value), 40) if isinstance(value, (str, int)) else None


def _order_id(answer: str) -> str | None:
    """The order id in Kite's answer to an order call ({"data": {"order_id": ...}}), if any."""
    try:
        order_id = json.loads(answer)["data"]["order_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return clean_text(order_id, 40) if isinstance(order_id, str) else None
