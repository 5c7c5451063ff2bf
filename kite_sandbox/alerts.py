"""The sandbox's alerts (/alerts): simple and ATO (alert triggers order) alerts on the price walk, with history.

Shapes are Zerodha's recorded alerts_*.json; parameters as the official Go client sends them
(`name`, `type`, `lhs_exchange`, `lhs_tradingsymbol`, `lhs_attribute`, `operator`, `rhs_type`,
then `rhs_constant` or `rhs_exchange`/`rhs_tradingsymbol`/`rhs_attribute`, and for ATO a JSON
`basket`). An alert fires when its condition becomes true; a simple alert stays enabled and
counts its firings, an ATO alert places its basket through the order book and is then disabled
(as the recorded ATO alert is). At most 200 alerts, disabled ones included (support.zerodha.com).
Only the last traded price is compared (`LastTradedPrice`); Kite's other attributes are refused.
"""

import itertools
import json
import math
import threading
import uuid

from .error_responses import InputError, KiteError, NotFoundError
from .order_record import stamp
from .quotes import quote_of

TYPES = ("simple", "ato")
OPERATORS = {
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "==": lambda a, b: a == b,
}
ATTRIBUTES = ("LastTradedPrice",)
MAX_ALERTS = 200
ORDER_PARAM_DEFAULTS = {
    "validity": "DAY",
    "validity_ttl": 0,
    "variety": "regular",
    "product": "CNC",
    "order_type": "LIMIT",
    "transaction_type": "BUY",
    "quantity": 0,
    "disclosed_quantity": 0,
    "price": 0,
    "trigger_price": 0,
    "squareoff": 0,
    "stoploss": 0,
    "trailing_stoploss": 0,
    "gtt": {"target": 0, "stoploss": 0},
    "tags": [],
}


class Alerts:
    """Every alert of the demo account and its history; advance() fires what the price has reached."""

    def __init__(self, market, desk, user_id: str, clock):
        self._market, self._desk, self._user_id, self._clock = market, desk, user_id, clock
        self._lock = threading.RLock()
        self._alerts: dict = {}  # uuid -> alert as Kite shows it
        self._history: dict = {}  # uuid -> [history entries]
        self._was_true: dict = {}  # uuid -> the condition at the last check (alerts fire on becoming true)
        self._item_ids = itertools.count(275218517)  # basket items' ids, as Kite numbers them

    def state(self) -> dict:
        """Every alert, its history and last check, as JSON can keep them (a paper account's)."""
        with self._lock:
            following = next(self._item_ids)
            self._item_ids = itertools.count(following)
            return {
                "alerts": self._alerts,
                "history": self._history,
                "was_true": self._was_true,
                "next_item": following,
            }

    def restore(self, state: dict) -> None:
        with self._lock:
            self._alerts, self._history = dict(state["alerts"]), dict(state["history"])
            self._was_true = dict(state["was_true"])
            self._item_ids = itertools.count(state["next_item"])

    def create(self, params: dict) -> dict:
        with self._lock:
            self.advance()
            if len(self._alerts) >= MAX_ALERTS:
                raise InputError(f"You can have at most {MAX_ALERTS} alerts. Delete one to create another.")  # ours
            now = stamp(self._clock())
            alert = {"type": "", "user_id": self._user_id, "uuid": str(uuid.uuid4()), "created_at": now}
            alert.update(self._parse(params), status="enabled", disabled_reason="", alert_count=0, updated_at=now)
            self._alerts[alert["uuid"]] = alert
            self._history[alert["uuid"]] = []
            self._was_true[alert["uuid"]] = False
            return _shown(alert, with_basket=False)

    def modify(self, alert_id: str, params: dict) -> dict:
        with self._lock:
            self.advance()
            alert = self._alert(alert_id)
            fields = self._parse(params)  # checked before anything of the old alert is dropped
            alert.pop("basket", None)
            alert.update(fields, status="enabled", updated_at=stamp(self._clock()))
            self._was_true[alert_id] = False
            return _shown(alert)

    def delete(self, alert_ids: list) -> None:
        with self._lock:
            if not alert_ids:
                raise InputError("Missing `uuid`: pass one or more uuid=... to delete.")
            unique = list(dict.fromkeys(alert_ids))
            for alert_id in unique:
                self._alert(alert_id)
            for alert_id in unique:
                del self._alerts[alert_id]

    def get(self, alert_id: str) -> dict:
        with self._lock:
            self.advance()
            return _shown(self._alert(alert_id))

    def all(self, status: str | None = None) -> list:
        with self._lock:
            self.advance()
            return [_shown(a) for a in self._alerts.values() if status in (None, "", a["status"])]

    def history(self, alert_id: str) -> list:
        with self._lock:
            self.advance()
            self._alert(alert_id)
            return json.loads(json.dumps(self._history[alert_id]))

    # -- the passage of time ----------------------------------------------------------------

    def advance(self) -> None:
        with self._lock:
            for alert_id, alert in self._alerts.items():
                if alert["status"] != "enabled":
                    continue
                lhs = self._instrument(alert["lhs_exchange"], alert["lhs_tradingsymbol"])
                left = self._market.price(lhs)
                right = alert["rhs_constant"]
                if alert["rhs_type"] == "instrument":
                    right = self._market.price(self._instrument(alert["rhs_exchange"], alert["rhs_tradingsymbol"]))
                now_true = OPERATORS[alert["operator"]](left, right)
                if now_true and not self._was_true[alert_id]:
                    self._fire(alert, lhs, right)
                self._was_true[alert_id] = now_true

    def _fire(self, alert: dict, lhs, right) -> None:
        now = self._clock()
        quote = quote_of(self._market, lhs)
        snapshot = {
            "instrument_token": lhs.token,
            "tradingsymbol": lhs.tradingsymbol,
            **{k: quote[k] for k in ("timestamp", "last_price", "ohlc", "net_change")},
            "exchange": alert["lhs_exchange"],
            **{k: quote[k] for k in ("last_trade_time", "last_quantity", "buy_quantity", "sell_quantity", "volume")},
            "volume_tick": 0,
            **{k: quote[k] for k in ("average_price", "oi", "oi_day_high", "oi_day_low")},
            **{k: quote[k] for k in ("lower_circuit_limit", "upper_circuit_limit")},
        }
        order_meta = None
        if alert["type"] == "ato":
            order_meta = [self._place(item) for item in alert["basket"]["items"]]
            alert["status"] = "disabled"
        alert["alert_count"] += 1
        alert["updated_at"] = stamp(now)
        side = f'{alert["lhs_attribute"]}("{alert["lhs_exchange"]}:{alert["lhs_tradingsymbol"]}")'
        self._history[alert["uuid"]].insert(
            0,
            {
                "uuid": alert["uuid"],
                "type": alert["type"],
                "meta": [snapshot],
                "condition": f"{side} {alert['operator']} {right}",
                "created_at": stamp(now),
                "order_meta": order_meta,
            },
        )

    def _place(self, item: dict) -> dict:
        params = {k: str(v) for k, v in item["params"].items() if k not in ("gtt", "tags", "variety")}
        params.update(exchange=item["exchange"], tradingsymbol=item["tradingsymbol"])
        try:
            order_id = self._desk.place(item["params"]["variety"], params)
            return {"tradingsymbol": item["tradingsymbol"], "order_id": order_id, "status": "success", "error": ""}
        except KiteError as refused:
            return {
                "tradingsymbol": item["tradingsymbol"],
                "order_id": "",
                "status": "failed",
                "error": refused.message,
            }

    # -- checks -------------------------------------------------------------------------------

    def _parse(self, params: dict) -> dict:
        kind = params.get("type")
        if kind not in TYPES:
            raise InputError("Invalid `type`: use simple or ato.")
        if not params.get("name"):
            raise InputError("Missing `name`.")
        lhs = self._instrument(params.get("lhs_exchange"), params.get("lhs_tradingsymbol"))
        if params.get("lhs_attribute") not in ATTRIBUTES:
            raise InputError(f"Invalid `lhs_attribute`: the sandbox compares {', '.join(ATTRIBUTES)}.")
        if params.get("operator") not in OPERATORS:
            raise InputError(f"Invalid `operator`: use one of {' '.join(OPERATORS)}.")
        fields = {
            "type": kind,
            "name": str(params["name"]),
            "lhs_attribute": params["lhs_attribute"],
            "lhs_exchange": params["lhs_exchange"],
            "lhs_tradingsymbol": lhs.tradingsymbol,
            "operator": params["operator"],
            "rhs_type": params.get("rhs_type"),
            "rhs_attribute": "",
            "rhs_exchange": "",
            "rhs_tradingsymbol": "",
            "rhs_constant": 0,
        }
        if fields["rhs_type"] == "constant":
            try:
                fields["rhs_constant"] = float(params.get("rhs_constant"))
            except (TypeError, ValueError):
                raise InputError("Invalid `rhs_constant`: a number.") from None
            if not math.isfinite(fields["rhs_constant"]):
                raise InputError("Invalid `rhs_constant`: a number.")
        elif fields["rhs_type"] == "instrument":
            rhs = self._instrument(params.get("rhs_exchange"), params.get("rhs_tradingsymbol"))
            if params.get("rhs_attribute") not in ATTRIBUTES:
                raise InputError(f"Invalid `rhs_attribute`: the sandbox compares {', '.join(ATTRIBUTES)}.")
            fields.update(
                rhs_attribute=params["rhs_attribute"],
                rhs_exchange=params["rhs_exchange"],
                rhs_tradingsymbol=rhs.tradingsymbol,
            )
        else:
            raise InputError("Invalid `rhs_type`: use constant or instrument.")
        if kind == "ato":
            fields["basket"] = self._basket(params.get("basket"))
        return fields

    def _basket(self, text) -> dict:
        try:
            basket = json.loads(text or "")
            items = basket["items"]
        except (ValueError, KeyError, TypeError):
            raise InputError("Invalid `basket`: send it as JSON with `items`.") from None
        if not isinstance(items, list) or not items:
            raise InputError("Invalid `basket`: it needs at least one item.")
        stored = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("params"), dict):
                raise InputError("Invalid `basket`: every item needs `exchange`, `tradingsymbol` and `params`.")
            instrument = self._instrument(item.get("exchange"), item.get("tradingsymbol"))
            params = {**ORDER_PARAM_DEFAULTS, **{k: v for k, v in item["params"].items() if k in ORDER_PARAM_DEFAULTS}}
            if "market_protection" in item["params"]:  # the Go client sends it; MARKET orders need it since 2026
                params["market_protection"] = item["params"]["market_protection"]
            stored.append(
                {
                    "id": next(self._item_ids),
                    "tradingsymbol": instrument.tradingsymbol,
                    "exchange": instrument.exchange,
                    "instrument_token": instrument.token,
                    "weight": item.get("weight", 0),
                    "params": params,
                }
            )
        return {"items": stored}

    def _instrument(self, exchange, tradingsymbol):
        """An instrument by exchange and symbol; alerts name indices by the exchange INDICES."""
        found = self._market.by_symbol("NSE" if exchange == "INDICES" else exchange, tradingsymbol)
        if found is None or (exchange == "INDICES") != found.is_index:
            raise InputError(f"Invalid instrument: {exchange}:{tradingsymbol}.")
        return found

    def _alert(self, alert_id: str) -> dict:
        if alert_id not in self._alerts:
            raise NotFoundError("Alert not found.")  # ours
        return self._alerts[alert_id]


def _shown(alert: dict, with_basket: bool = True) -> dict:
    shown = json.loads(json.dumps(alert))
    if not with_basket:
        shown.pop("basket", None)
    return shown
