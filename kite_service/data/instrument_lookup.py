"""Look-ups in the daily instrument lists: by EXCHANGE:SYMBOL, by token, and an underlying's option chain."""

from datetime import date

from kite_service.errors import KiteAppError

# Where an index's options take their price from (a stock's: NSE:<its name>).
INDEX_SPOTS = {
    "NIFTY": "NSE:NIFTY 50",
    "BANKNIFTY": "NSE:NIFTY BANK",
    "FINNIFTY": "NSE:NIFTY FIN SERVICE",
    "MIDCPNIFTY": "NSE:NIFTY MID SELECT",
    "NIFTYNXT50": "NSE:NIFTY NEXT 50",  # Kite's symbol of the index (token 270857)
    "SENSEX": "BSE:SENSEX",
    "BANKEX": "BSE:BANKEX",
}
OPTION_EXCHANGES = {"SENSEX": "BFO", "BANKEX": "BFO"}  # where an underlying's options trade (else NFO)
EXPIRY_CHOICES = ("nearest", "weekly", "monthly")


class InstrumentNotFoundError(KiteAppError, LookupError):
    """No instrument list kept on this machine has the instrument asked for."""


def spot_key(name: str) -> str:
    """The EXCHANGE:SYMBOL whose price an underlying's options follow."""
    return INDEX_SPOTS.get(name, f"NSE:{name}")


def find(store, key: str, on: date | None = None) -> dict:
    """The instrument `key` ('NSE:INFY', 'NFO:NIFTY26DEC24000CE') in the list of day `on` (the current
    one by default), or of the latest earlier day that has it: an expired contract too."""
    exchange, _, symbol = key.partition(":")
    if not exchange or not symbol:
        raise ValueError(f"an instrument is 'EXCHANGE:SYMBOL', e.g. 'NSE:INFY', not {key[:60]!r}")
    day = on or store.current_day()
    rows = store.rows("exchange = ? AND tradingsymbol = ? AND day <= ?", (exchange, symbol, day.isoformat()))
    if not rows:
        raise InstrumentNotFoundError(
            f"No instrument {key} in the lists kept up to {day} ({_kept(store)}): check the exchange and "
            "Kite's trading symbol (kite.instruments() lists them), or pass on= a day it traded"
        )
    return rows[0]


def find_token(store, token: int, on: date | None = None) -> dict:
    """The instrument with `token` in the list of day `on` (current by default) or the latest earlier one."""
    day = on or store.current_day()
    rows = store.rows("instrument_token = ? AND day <= ?", (int(token), day.isoformat()))
    if not rows:
        raise InstrumentNotFoundError(
            f"No instrument with token {token} in the lists kept up to {day} ({_kept(store)}): check the token"
        )
    return rows[0]


def option_chain(store, name: str, spot: float, today: date, expiry="nearest", strikes: int = 5) -> dict:
    """The options of underlying `name` ('NIFTY', 'INFY') of one expiry, `strikes` each side of the
    strike nearest `spot` (at the money). `expiry`: 'nearest', 'weekly' (the nearest that is not its
    month's last), 'monthly' (the nearest month's last) or a date."""
    day = store.current_day()
    exchange = OPTION_EXCHANGES.get(name, "NFO")
    options = store.rows(
        "day = ? AND name = ? AND exchange = ? AND instrument_type IN ('CE', 'PE')", (day.isoformat(), name, exchange)
    )
    expiries = sorted({o["expiry"] for o in options if o["expiry"] and o["expiry"] >= today})
    if not expiries:
        raise InstrumentNotFoundError(
            f"No live options of {name!r} in the list of {day}: check the name (Kite's 'name' column, e.g. NIFTY)"
        )
    month_ends = {}
    for one in expiries:
        month_ends[(one.year, one.month)] = one  # sorted: the last of each month wins
    monthly = sorted(month_ends.values())
    weekly = [one for one in expiries if one not in monthly]
    chosen = _choose(expiry, expiries, weekly, monthly, name)
    chain = [o for o in options if o["expiry"] == chosen]
    strike_list = sorted({o["strike"] for o in chain})
    atm = min(strike_list, key=lambda strike: (abs(strike - spot), strike))
    middle = strike_list.index(atm)
    shown = strike_list[max(0, middle - strikes) : middle + strikes + 1]
    by_strike = {(o["strike"], o["instrument_type"]): o for o in chain}
    return {
        "name": name,
        "spot": spot,
        "expiry": chosen,
        "atm_strike": atm,
        "lot_size": chain[0]["lot_size"],
        "tick_size": chain[0]["tick_size"],
        "expiries": {"all": expiries, "weekly": weekly, "monthly": monthly},
        "strikes": [{"strike": s, "CE": by_strike.get((s, "CE")), "PE": by_strike.get((s, "PE"))} for s in shown],
    }


def _choose(expiry, expiries: list, weekly: list, monthly: list, name: str) -> date:
    if isinstance(expiry, date):
        if expiry not in expiries:
            raise InstrumentNotFoundError(f"{name} has no options expiring {expiry}; its expiries: {_dates(expiries)}")
        return expiry
    if expiry == "nearest":
        return expiries[0]
    if expiry == "monthly":
        return monthly[0]
    if expiry == "weekly":
        if not weekly:
            raise InstrumentNotFoundError(f"{name} has no weekly expiries, only monthly ones: {_dates(monthly)}")
        return weekly[0]
    raise ValueError(f"expiry must be one of {', '.join(EXPIRY_CHOICES)} or a date, not {expiry!r}")


def _dates(days: list) -> str:
    return ", ".join(d.isoformat() for d in days[:6]) + (" ..." if len(days) > 6 else "")


def _kept(store) -> str:
    days = store.days()
    return f"lists of {len(days)} day(s) from {days[0]}" if days else "no list kept yet"
