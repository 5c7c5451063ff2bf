"""The freeze quantities in use, and where each came from: a setting, Kite's refusal today, or NSE's
dated table.

Kite has no API for freeze quantities; NSE revises them monthly, so the table in
kite_sandbox/exchange_numbers.py can be out of date. In order of trust:
1. Kite's own refusal: "The order quantity 1800 (60 lots) is higher than the maximum quantity of 900
   (30 lots) allowed by the exchanges" (Kite forum 42709; Zerodha suggests reading it from that
   error, forum 46716). Kept for the rest of the trading day (to 06:00 IST) in
   `exchange_limits.json` beside session.json, so every process on the machine learns it at once;
   the first refusal of the day that disagrees with the number in use logs one warning that the
   table (or the setting) is out of date. Two processes learning at the same instant may each
   write the file; the last write wins and the other's figure comes back with Kite's next refusal.
2. The FREEZE_QUANTITIES setting (BANKNIFTY:900): the trader's word, until the table is updated.
3. NSE's dated table, the revision in force today.
"""

import logging
import re
import threading

from kite_sandbox.exchange_numbers import FREEZE_QUANTITIES, Sourced
from kite_service.clock import as_ist, trading_day
from kite_service.storage.atomic_file import read_json, write_json_atomic

log = logging.getLogger("kite_app.orders")

LEARNED_FILE = "exchange_limits.json"
# Kite's refusal above the freeze quantity (forum 42709), with the figure it names.
FREEZE_REFUSAL = re.compile(r"higher than the maximum quantity of (\d+) \((\d+) lots?\)")
SETTING_SOURCE = "the FREEZE_QUANTITIES setting"


class FreezeLimits:
    """The freeze quantity of an index's F&O orders today: Kite's refusal, the setting, or NSE's table."""

    def __init__(self, data_dir, overrides: tuple, clock):
        self._file = data_dir / LEARNED_FILE
        self._overrides = dict(overrides)
        self._clock = clock
        self._lock = threading.Lock()

    def on(self, name: str) -> Sourced | None:
        """`name`'s freeze quantity now, with its source; None for a name no source knows (a stock)."""
        learned = self._learned().get(name)
        if learned is not None:
            return Sourced(learned["quantity"], f"Kite's refusal at {learned['seen']}")
        if name in self._overrides:
            return Sourced(self._overrides[name], SETTING_SOURCE)
        return FREEZE_QUANTITIES.on(name, as_ist(self._clock()).date())

    def learn(self, name: str, kite_message: str) -> int | None:
        """Take the freeze quantity from Kite's refusal of an order of `name` (the figure, or None
        when the message is not that refusal); kept until 06:00 IST."""
        found = FREEZE_REFUSAL.search(kite_message or "")
        if not found or not name:
            return None
        quantity = int(found.group(1))
        now = as_ist(self._clock())
        day = trading_day(now)
        with self._lock:
            before = self.on(name)
            known = self._learned()
            if known.get(name, {}).get("quantity") == quantity:
                return quantity  # known already, on this machine today: said once
            known[name] = {"quantity": quantity, "seen": f"{now:%Y-%m-%d %H:%M:%S} IST"}
            try:
                write_json_atomic(self._file, {"trading_day": day, "freeze": known})
            except OSError as exc:  # Kite's refusal still reaches the caller; the figure is not kept
                log.warning(
                    "Freeze quantity of %s (%d) not kept: %s cannot be written (%s)", name, quantity, self._file, exc
                )
                return quantity
            if before is None or before.value != quantity:
                had = f"{before.value} from {before.source}" if before else "none"
                log.warning(
                    "Freeze quantity of %s is %d by Kite's refusal; Kite App had %s, which is out of date: "
                    "%d is used until 06:00 IST (update kite_sandbox/exchange_numbers.py, or set "
                    "FREEZE_QUANTITIES=%s:%d)",
                    name,
                    quantity,
                    had,
                    quantity,
                    name,
                    quantity,
                )
        return quantity

    def in_use(self) -> dict:
        """Each known name's freeze quantity now and its source, for /api/status."""
        names = FREEZE_QUANTITIES.names() | set(self._overrides) | set(self._learned())
        found = {name: self.on(name) for name in sorted(names)}
        return {name: {"quantity": value.value, "source": value.source} for name, value in found.items() if value}

    def _learned(self) -> dict:
        """What Kite's refusals said this trading day (an older file or an unreadable one: nothing)."""
        try:
            stored = read_json(self._file)
        except (OSError, ValueError):
            return {}
        if not isinstance(stored, dict) or stored.get("trading_day") != trading_day(self._clock()):
            return {}
        freeze = stored.get("freeze")
        return dict(freeze) if isinstance(freeze, dict) else {}
