"""The guard's settings: risk limits checked on every order path, and what the kill switch does.

None set means no check. MAX_DAILY_LOSS (rupees) trips the kill switch when the day's P&L reaches
minus it; MAX_ORDERS_PER_DAY counts the account's placements of the trading day (06:00 to 06:00
IST); MAX_ORDER_QUANTITY and MAX_ORDER_VALUE bound one order (an iceberg or autoslice by its whole
quantity); ALLOWED_EXCHANGES and ALLOWED_PRODUCTS list what may be traded. KILL_DELETES_GTT (on)
and KILL_SQUARES_OFF (intraday | all) shape the kill switch; KILL_SWEEP_SECONDS bounds its sweep.
"""

from dataclasses import dataclass

from kite_service.errors import ConfigError

GUARD_DEFAULTS = {
    "MAX_DAILY_LOSS": "",
    "MAX_ORDERS_PER_DAY": "",
    "MAX_ORDER_QUANTITY": "",
    "MAX_ORDER_VALUE": "",
    "ALLOWED_EXCHANGES": "",
    "ALLOWED_PRODUCTS": "",
    "KILL_DELETES_GTT": "on",
    "KILL_SQUARES_OFF": "intraday",
    "KILL_SWEEP_SECONDS": "60",
}
EXCHANGES = ("NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX", "NCO")
PRODUCTS = ("CNC", "NRML", "MIS", "MTF")
INTRADAY_PRODUCTS = ("MIS",)  # what KILL_SQUARES_OFF=intraday squares off (cover and bracket legs are MIS)


@dataclass(frozen=True)
class GuardSettings:
    max_daily_loss: float | None = None
    max_orders_per_day: int | None = None
    max_order_quantity: int | None = None
    max_order_value: float | None = None
    allowed_exchanges: frozenset | None = None
    allowed_products: frozenset | None = None
    kill_deletes_gtt: bool = True
    kill_squares_off_all: bool = False
    kill_sweep_seconds: float = 60.0

    def shown(self) -> dict:
        """For /api/status: each limit and its figure (None: not set)."""
        return {
            "MAX_DAILY_LOSS": self.max_daily_loss,
            "MAX_ORDERS_PER_DAY": self.max_orders_per_day,
            "MAX_ORDER_QUANTITY": self.max_order_quantity,
            "MAX_ORDER_VALUE": self.max_order_value,
            "ALLOWED_EXCHANGES": sorted(self.allowed_exchanges) if self.allowed_exchanges else None,
            "ALLOWED_PRODUCTS": sorted(self.allowed_products) if self.allowed_products else None,
            "KILL_DELETES_GTT": self.kill_deletes_gtt,
            "KILL_SQUARES_OFF": "all" if self.kill_squares_off_all else "intraday",
            "KILL_SWEEP_SECONDS": self.kill_sweep_seconds,
        }


def guard_settings(values: dict) -> GuardSettings:
    """The guard's settings from merged settings `values` (strings); ConfigError naming a bad one."""
    squares = values["KILL_SQUARES_OFF"].strip().lower()
    if squares not in ("intraday", "all"):
        raise ConfigError("KILL_SQUARES_OFF must be intraday or all.")
    deletes = values["KILL_DELETES_GTT"].strip().lower()
    if deletes not in ("on", "off"):
        raise ConfigError("KILL_DELETES_GTT must be on or off.")
    return GuardSettings(
        max_daily_loss=_number(values, "MAX_DAILY_LOSS", float),
        max_orders_per_day=_number(values, "MAX_ORDERS_PER_DAY", int),
        max_order_quantity=_number(values, "MAX_ORDER_QUANTITY", int),
        max_order_value=_number(values, "MAX_ORDER_VALUE", float),
        allowed_exchanges=_names(values, "ALLOWED_EXCHANGES", EXCHANGES),
        allowed_products=_names(values, "ALLOWED_PRODUCTS", PRODUCTS),
        kill_deletes_gtt=deletes == "on",
        kill_squares_off_all=squares == "all",
        kill_sweep_seconds=_number(values, "KILL_SWEEP_SECONDS", float) or 60.0,
    )


def _number(values: dict, name: str, kind):
    text = values[name].strip().replace(",", "").replace("_", "")
    if not text:
        return None
    try:
        number = kind(text)
    except ValueError:
        number = None
    if number is None or number <= 0:
        raise ConfigError(f"{name} must be a number above 0 (or empty for no limit), not {values[name]!r}.")
    return number


def _names(values: dict, name: str, known: tuple) -> frozenset | None:
    names = frozenset(part.strip().upper() for part in values[name].split(",") if part.strip())
    unknown = sorted(names - set(known))
    if unknown:
        raise ConfigError(f"{name} lists {', '.join(unknown)}: use some of {', '.join(known)}, separated by commas.")
    return names or None
