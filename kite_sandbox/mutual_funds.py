"""The sandbox's mutual funds (/mf/...): funds, orders, SIPs and holdings on the sandbox clock.

The fund universe is Zerodha's recorded mf_instruments.csv. A fund's NAV is published once a day:
yesterday's close of a seeded walk around the recorded NAV. As Kite's docs describe, orders are
not sent at once: they are collected and sent at the 13:30 IST cut-off, when they are allotted at
that day's NAV (COMPLETE) and the units show in the holdings; an order can be cancelled until
then. A SIP places an order on each instalment date (weekly, monthly on `instalment_day`, or
quarterly), which the next cut-off allots. Payments are not modelled (Kite takes them from the
bank): purchases always clear; a redemption needs the units.
Kite's live API now answers MF writes only for some apps (its docs list the GETs alone); the
sandbox answers them all, as the official clients still send them.
"""

import csv
import hashlib
import io
import itertools
import threading
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path

from .clock import IST
from .error_responses import InputError, NotFoundError
from .mf_dates import cut_off_after, next_date
from .order_record import stamp
from .price_walk import PriceWalk, WalkSpec

MF_INSTRUMENTS_CSV = Path(__file__).parent / "data" / "mf_instruments.csv"
ORDERS_SHOWN_DAYS = 7  # GET /mf/orders: "over the last 7 days"
FREQUENCIES = ("weekly", "monthly", "quarterly")
NAV_VOLATILITY = {"debt": 0.0005, "liquid": 0.0002}  # daily; equity and others 0.008
NAV_TICK = 0.0001


class MutualFunds:
    """The demo account's funds, MF orders, SIPs and holdings; advance() runs the cut-offs and instalments."""

    def __init__(self, clock, seed: int, user_id: str):
        self._clock, self._user_id = clock, user_id
        self._walk = PriceWalk(seed)
        self._lock = threading.RLock()
        with MF_INSTRUMENTS_CSV.open(newline="") as rows:
            self.funds = {row["tradingsymbol"]: row for row in csv.DictReader(rows)}
        self._orders: dict = {}  # order_id -> order as Kite shows it
        self._sips: dict = {}  # sip_id -> SIP as Kite shows it
        self._holdings: dict = {}  # tradingsymbol -> {"units", "cost", "folio"}
        self._sip_ids = itertools.count(181635213661372)
        self._folios = itertools.count(3108290884)
        self._settlements = itertools.count(2122061)

    # -- funds ----------------------------------------------------------------------------------

    def nav(self, tradingsymbol: str, day: date | None = None) -> tuple:
        """(NAV, its date): the NAV published for `day` (yesterday's by default) off the fund's walk."""
        fund = self.funds[tradingsymbol]
        day = day or self._clock().date() - timedelta(days=1)
        digest = hashlib.sha256(tradingsymbol.encode()).digest()
        volatility = NAV_VOLATILITY.get(fund["scheme_type"], 0.008)
        spec = WalkSpec(int.from_bytes(digest[:4], "big"), float(fund["last_price"]), volatility, NAV_TICK, 0)
        candle = self._walk.day_candle(spec, day)
        return (candle[3] if candle else float(fund["last_price"])), day

    def instruments_csv(self) -> str:
        """The /mf/instruments CSV: the recorded rows with today's NAV."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(next(iter(self.funds.values()))), lineterminator="\n")
        writer.writeheader()
        for symbol, fund in self.funds.items():
            nav, day = self.nav(symbol)
            writer.writerow({**fund, "last_price": f"{nav:.4f}", "last_price_date": day.isoformat()})
        return out.getvalue()

    # -- orders ----------------------------------------------------------------------------------

    def place_order(self, params: dict, variety: str = "regular") -> str:
        with self._lock:
            self.advance()
            fund = self._fund(params.get("tradingsymbol"))
            side = params.get("transaction_type")
            if side not in ("BUY", "SELL"):
                raise InputError("Invalid `transaction_type`: use BUY or SELL.")
            held = self._holdings.get(fund["tradingsymbol"])
            amount = quantity = 0.0
            if side == "BUY":
                if fund["purchase_allowed"] != "1":
                    raise InputError("Purchases are not allowed in this fund.")
                amount = _number(params.get("amount"), "amount")
                least = fund["minimum_additional_purchase_amount" if held else "minimum_purchase_amount"]
                if amount < float(least):
                    raise InputError(f"Amount should be at least {float(least):.2f} for this fund.")
            else:
                if fund["redemption_allowed"] != "1":
                    raise InputError("Redemptions are not allowed in this fund.")
                quantity = _number(params.get("quantity"), "quantity")
                pending = sum(
                    o["quantity"]
                    for o in self._orders.values()
                    if o["status"] == "OPEN"
                    and o["transaction_type"] == "SELL"
                    and o["tradingsymbol"] == fund["tradingsymbol"]
                )
                if quantity + pending > (held["units"] if held else 0.0) + 1e-9:
                    raise InputError("Insufficient units: you hold fewer units of this fund than the redemption.")
            return self._new_order(fund, side, amount, quantity, variety, params.get("tag"), held)["order_id"]

    def cancel_order(self, order_id: str) -> str:
        with self._lock:
            self.advance()
            order = self._orders.get(order_id)
            if order is None:
                raise NotFoundError("Order not found.")  # ours
            if order["status"] != "OPEN":
                raise InputError(f"Order cannot be cancelled as it is {order['status'].lower()}.")  # ours
            order.update(status="CANCELLED", status_message="Cancelled by the user.")
            return order_id

    def orders(self, order_id: str | None = None):
        with self._lock:
            self.advance()
            if order_id is not None:
                if order_id not in self._orders:
                    raise NotFoundError("Order not found.")  # ours
                return dict(self._orders[order_id])
            since = stamp(self._clock() - timedelta(days=ORDERS_SHOWN_DAYS))
            return [dict(o) for o in reversed(self._orders.values()) if o["order_timestamp"] >= since]

    def holdings(self) -> list:
        with self._lock:
            self.advance()
            rows = []
            for symbol, held in self._holdings.items():
                if held["units"] <= 0:
                    continue
                nav, day = self.nav(symbol)
                average = held["cost"] / held["units"]
                rows.append(
                    {
                        "folio": held["folio"],
                        "fund": self.funds[symbol]["name"],
                        "tradingsymbol": symbol,
                        "average_price": round(average, 6),
                        "last_price": nav,
                        "last_price_date": day.isoformat(),
                        "pledged_quantity": 0,
                        "pnl": round((nav - average) * held["units"], 2),
                        "quantity": round(held["units"], 3),
                    }
                )
            return rows

    # -- SIPs ----------------------------------------------------------------------------------

    def place_sip(self, params: dict) -> str:
        with self._lock:
            self.advance()
            fund = self._fund(params.get("tradingsymbol"))
            amount = _number(params.get("amount"), "amount")
            if amount < float(fund["minimum_additional_purchase_amount"]):
                raise InputError(f"Amount should be at least {float(fund['minimum_additional_purchase_amount']):.2f}.")
            frequency = _frequency(params.get("frequency"))
            instalments = _instalments(params.get("instalments"))
            day = _instalment_day(params.get("instalment_day"), frequency)
            now = self._clock()
            sip_id = str(next(self._sip_ids))
            self._sips[sip_id] = {
                "status": "ACTIVE",
                "sip_reg_num": None,
                "created": stamp(now),
                "dividend_type": fund["dividend_type"],
                "instalment_amount": amount,
                "fund": fund["name"],
                "instalments": instalments,
                "next_instalment": next_date(now.date(), frequency, day, first=True).isoformat(),
                "transaction_type": "BUY",
                "trigger_price": 0,
                "step_up": {},
                "tradingsymbol": fund["tradingsymbol"],
                "tag": params.get("tag") or "",
                "frequency": frequency,
                "last_instalment": stamp(now),
                "pending_instalments": instalments,
                "instalment_day": day,
                "sip_type": "sip",
                "fund_source": "pool",
                "completed_instalments": 0,
                "sip_id": sip_id,
            }
            if params.get("initial_amount"):  # a first purchase now, besides the instalments
                initial = _number(params["initial_amount"], "initial_amount")
                self._new_order(
                    fund, "BUY", initial, 0.0, "sip", params.get("tag"), self._holdings.get(fund["tradingsymbol"])
                )
            return sip_id

    def modify_sip(self, sip_id: str, params: dict) -> str:
        with self._lock:
            self.advance()
            sip = self._sip(sip_id)
            if sip["status"] == "CANCELLED":
                raise InputError("SIP cannot be modified as it is cancelled.")  # ours
            if params.get("amount"):
                sip["instalment_amount"] = _number(params["amount"], "amount")
            if params.get("frequency"):
                sip["frequency"] = _frequency(params["frequency"])
            if params.get("instalments"):
                done = sip["completed_instalments"]
                sip["instalments"] = _instalments(params["instalments"])
                sip["pending_instalments"] = -1 if sip["instalments"] == -1 else max(sip["instalments"] - done, 0)
            today = self._clock().date()
            if params.get("instalment_day") or params.get("frequency"):
                sip["instalment_day"] = _instalment_day(params.get("instalment_day"), sip["frequency"])
                last = datetime.strptime(sip["last_instalment"], "%Y-%m-%d %H:%M:%S").date()
                after_last = next_date(last, sip["frequency"], sip["instalment_day"])  # none twice in a period
                sip["next_instalment"] = max(after_last, today).isoformat()
            if params.get("status"):
                status = str(params["status"]).upper()
                if status not in ("ACTIVE", "PAUSED"):
                    raise InputError("Invalid `status`: use active or paused.")
                if sip["status"] == "PAUSED" and status == "ACTIVE":  # the paused periods' instalments are skipped
                    due = date.fromisoformat(sip["next_instalment"])
                    while due < today:
                        due = next_date(due, sip["frequency"], sip["instalment_day"])
                    sip["next_instalment"] = due.isoformat()
                sip["status"] = status
            return sip_id

    def cancel_sip(self, sip_id: str) -> str:
        with self._lock:
            self.advance()
            sip = self._sip(sip_id)
            sip["status"] = "CANCELLED"
            return sip_id

    def sips(self, sip_id: str | None = None):
        with self._lock:
            self.advance()
            if sip_id is not None:
                return dict(self._sip(sip_id))
            return [
                {k: v for k, v in s.items() if k != "fund_source"} for s in reversed(self._sips.values())
            ]  # as Kite lists them

    # -- the passage of time ----------------------------------------------------------------

    def advance(self) -> None:
        """Place the SIP instalments that fell due and allot the orders each cut-off since the last call."""
        with self._lock:
            now = self._clock()
            for sip in self._sips.values():
                while sip["status"] == "ACTIVE" and sip["pending_instalments"] != 0:
                    due = date.fromisoformat(sip["next_instalment"])
                    created = datetime.strptime(sip["created"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
                    moment = max(datetime.combine(due, time(0, 0), IST), created)  # the first: when registered
                    if moment > now:
                        break
                    fund = self.funds[sip["tradingsymbol"]]
                    held = self._holdings.get(sip["tradingsymbol"])
                    order = self._new_order(fund, "BUY", sip["instalment_amount"], 0.0, "sip", sip["tag"], held, moment)
                    order["status_message"] = f"SIP instalment {sip['completed_instalments'] + 1}"
                    sip["completed_instalments"] += 1
                    sip["last_instalment"] = stamp(moment)
                    if sip["pending_instalments"] > 0:
                        sip["pending_instalments"] -= 1
                    if sip["pending_instalments"] == 0:
                        sip["status"] = "CANCELLED"  # ours: every instalment made
                    sip["next_instalment"] = next_date(due, sip["frequency"], sip["instalment_day"]).isoformat()
            for order in self._orders.values():
                if order["status"] == "OPEN":
                    cut_off = cut_off_after(datetime.strptime(order["order_timestamp"], "%Y-%m-%d %H:%M:%S"))
                    if cut_off <= now:
                        self._allot(order, cut_off)

    def _allot(self, order: dict, cut_off: datetime) -> None:
        symbol = order["tradingsymbol"]
        nav, _ = self.nav(symbol, cut_off.date())
        held = self._holdings.setdefault(symbol, {"units": 0.0, "cost": 0.0, "folio": str(next(self._folios))})
        if order["transaction_type"] == "BUY":
            units = round(order["amount"] / nav, 3)
            held["units"] += units
            held["cost"] += order["amount"]
            order.update(quantity=units)
        else:
            units = order["quantity"]
            average = held["cost"] / held["units"] if held["units"] else 0.0
            held["cost"] -= average * units
            held["units"] -= units
            order.update(amount=round(units * nav, 2))
        order.update(
            status="COMPLETE",
            status_message="" if order["variety"] == "regular" else order["status_message"],
            average_price=nav,
            last_price=nav,
            last_price_date=cut_off.date().isoformat(),
            folio=held["folio"],
            exchange_order_id=str(uuid.uuid4().int % 10**9),
            exchange_timestamp=cut_off.date().isoformat(),
            settlement_id=str(next(self._settlements)),
        )

    def _new_order(self, fund, side, amount, quantity, variety, tag, held, when=None) -> dict:
        now = when or self._clock()
        nav, day = self.nav(fund["tradingsymbol"])
        order_id = str(uuid.uuid4())
        order = {
            "status": "OPEN",
            "purchase_type": ("ADDITIONAL" if held else "FRESH") if side == "BUY" else None,
            "folio": held["folio"] if held else None,
            "order_timestamp": stamp(now),
            "average_price": 0.0,
            "exchange_order_id": None,
            "last_price": nav,
            "tradingsymbol": fund["tradingsymbol"],
            "settlement_id": None,
            "transaction_type": side,
            "order_id": order_id,
            "amount": amount,
            "tag": tag,
            "placed_by": self._user_id,
            "exchange_timestamp": None,
            "variety": variety,
            "last_price_date": day.isoformat(),
            "status_message": "",
            "fund": fund["name"],
            "quantity": quantity,
        }
        self._orders[order_id] = order
        return order

    def _fund(self, tradingsymbol) -> dict:
        fund = self.funds.get(tradingsymbol or "")
        if fund is None:
            raise InputError("Invalid `tradingsymbol`: not a fund in /mf/instruments.")  # ours
        return fund

    def _sip(self, sip_id: str) -> dict:
        if sip_id not in self._sips:
            raise NotFoundError("SIP not found.")  # ours
        return self._sips[sip_id]


def _number(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Invalid `{name}`.") from None
    if not 0 < number < float("inf"):
        raise InputError(f"Invalid `{name}`: it must be above 0.")
    return number


def _frequency(value) -> str:
    if value not in FREQUENCIES:
        raise InputError("Invalid `frequency`: use weekly, monthly or quarterly.")
    return value


def _instalments(value) -> int:
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise InputError("Invalid `instalments`.") from None
    if count == -1 or count > 0:
        return count
    raise InputError("Invalid `instalments`: a positive number, or -1 until cancelled.")


def _instalment_day(value, frequency: str) -> int:
    if frequency == "weekly" or value in (None, ""):
        return 0
    try:
        day = int(value)
    except (TypeError, ValueError):
        raise InputError("Invalid `instalment_day`.") from None
    if not 1 <= day <= 28:
        raise InputError("Invalid `instalment_day`: a day from 1 to 28.")
    return day
