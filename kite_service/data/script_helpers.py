"""KiteAPI's data helpers: long histories, the daily instrument list, look-ups and option chains.

A mixin of KiteAPI (kite_api.py), which gives it `kite` (the client, within the account's rate
limits), `settings`, `_clock` and `_lock`. The files live in the data folder beside session.json,
shared by every script on the machine.
"""

import logging
import re
import sqlite3
from datetime import date, datetime

from kite_service.clock import as_ist
from kite_service.data.candle_cache import CANDLE_CACHE_FILE, CandleCache
from kite_service.data.exchange_limits import FREEZE_REFUSAL, FreezeLimits
from kite_service.data.history import as_dicts, candle_frame, candle_history
from kite_service.data.instrument_lookup import InstrumentNotFoundError, find, find_token, option_chain, spot_key
from kite_service.data.instrument_store import INSTRUMENTS_FILE, InstrumentStore
from kite_service.data.order_fit import (
    LOT_SEGMENTS,
    check_order,
    index_most_per_order,
    most_per_order,
    placement_orders,
)

log = logging.getLogger("kite_api")
CONTRACT_NAME = re.compile(r"^([A-Z&-]+?)\d{2}")  # NIFTY of NIFTY26DEC24000CE and of NIFTY2612324000CE


class DataHelpers:
    _candles: CandleCache | None
    _instrument_store: InstrumentStore | None
    _freeze_limits: FreezeLimits | None = None

    @property
    def freeze_limits(self) -> FreezeLimits:
        """The freeze quantities in use and their sources (a setting, Kite's refusal today, NSE's table)."""
        with self._lock:
            if self._freeze_limits is None:
                self._freeze_limits = FreezeLimits(self.settings.data_dir, self.settings.freeze_quantities, self._clock)
            return self._freeze_limits

    def most_per_order(self, key: str) -> int | None:
        """One order's most of an instrument ("NFO:NIFTY26DEC24000CE"): whole lots within its freeze
        quantity; None when no freeze quantity is known for it (a stock's, an equity). An equity or
        an index contract needs no instrument list (no call to Kite); another contract looks it up."""
        exchange, _, symbol = key.partition(":")
        if exchange not in LOT_SEGMENTS:
            return None
        day = as_ist(self._clock()).date()
        return index_most_per_order(exchange, symbol, self.freeze_limits, day) or most_per_order(
            self.instrument(key), self.freeze_limits
        )

    def placement_orders(self, variety, params) -> int:
        """The orders a placement counts toward Kite's caps (an autoslice's children: order_fit.py)."""
        return placement_orders(variety, params, self.freeze_limits, as_ist(self._clock()).date())

    def learn_from_refusal(self, params: dict, message: str) -> None:
        """Kite refused an order of `params` with `message`: when it names the freeze quantity, use
        that figure for the rest of the trading day."""
        if not FREEZE_REFUSAL.search(message or ""):
            return
        symbol = str(params.get("tradingsymbol") or "")
        found = CONTRACT_NAME.match(symbol)
        name = found.group(1) if found else ""
        try:  # the list's name when the day's list is on the machine (never downloaded for this)
            store = self._instruments()
            day = store.stored_day()
            if day is not None:
                name = find(store, f"{params.get('exchange')}:{symbol}", day).get("name") or name
        except (InstrumentNotFoundError, ValueError, sqlite3.Error, OSError):
            pass
        if name:
            self.freeze_limits.learn(name, message)

    def historical_data(
        self,
        instrument_token: int,
        from_date: datetime | date | str,
        to_date: datetime | date | str,
        interval: str,
        continuous: bool = False,
        oi: bool = False,
        *,
        as_frame: bool = False,
    ):
        """Candles from `from_date` to `to_date` (both included; a bare date is the whole day; naive
        times are IST) as kiteconnect's dicts (date, open, high, low, close, volume, and oi), or a
        pandas DataFrame indexed by date with `as_frame=True` (pip install pandas).

        Any length: cut into Kite's windows (60 days of minute candles, ...), fetched within the
        historical limit and joined. Closed candles are cached for the whole machine in
        candles.sqlite3, so a repeated or overlapping request asks Kite only for what is missing
        (today's candles, always). HistoryIncompleteError says how far a failure part-way got; the
        same call again resumes there."""
        with self._lock:
            if self._candles is None:
                self._candles = CandleCache(self.settings.data_dir / CANDLE_CACHE_FILE)
            cache = self._candles

        def fetch(start: str, end: str) -> list:
            return self.kite.historical_candles(instrument_token, start, end, interval, continuous, oi)

        rows = candle_history(
            fetch, cache, instrument_token, from_date, to_date, interval, continuous, oi, self._clock()
        )
        return candle_frame(rows, oi) if as_frame else as_dicts(rows, oi)

    def instruments(self, exchange: str | None = None) -> list:
        """Today's instrument list (kiteconnect's dicts), for all exchanges or one ('NSE', 'NFO', ...):
        downloaded once a day for the whole machine (instruments.sqlite3), read locally after that."""
        store = self._instruments()
        day = store.current_day()
        if exchange:
            found = store.rows("day = ? AND exchange = ?", (day.isoformat(), exchange))
        else:
            found = store.rows("day = ?", (day.isoformat(),))
        for item in found:
            del item["list_day"]
        return found

    def instrument(self, key: str, on: date | None = None) -> dict:
        """One instrument by 'EXCHANGE:SYMBOL' with its lot size and tick size; `on` a past day finds
        what traded then (an expired contract in a list kept from that day)."""
        return find(self._instruments(), key, on)

    def instrument_by_token(self, instrument_token: int, on: date | None = None) -> dict:
        return find_token(self._instruments(), instrument_token, on)

    def option_chain(self, name: str, expiry="nearest", strikes: int = 5, spot: float | None = None) -> dict:
        """The options of `name` ('NIFTY', 'BANKNIFTY', 'INFY') of one expiry ('nearest', 'weekly',
        'monthly' or a date): `strikes` strikes each side of the one nearest the underlying's last
        price (or `spot`), each with its CE and PE instruments, lot size and tick size."""
        if spot is None:
            key = spot_key(name)
            spot = self.kite.ltp(key)[key]["last_price"]
        return option_chain(self._instruments(), name, spot, as_ist(self._clock()).date(), expiry, strikes)

    def _check_fit(self, params: dict, autoslice: bool = False) -> None:
        """OrderMisfitError before anything is sent when the order does not fit its instrument, checked
        against the day's instrument list if it is on the machine (the order path never downloads it)."""
        store = self._instruments()
        try:
            day = store.stored_day()
        except (sqlite3.Error, OSError) as exc:  # the list's file is unusable: the order goes unchecked
            log.warning("Order not checked against the instrument list (%s: %s)", type(exc).__name__, exc)
            return
        if day is None:
            today = as_ist(self._clock()).date()
            if getattr(self, "_unchecked_day", None) != today:  # once a day, not on every order
                self._unchecked_day = today
                log.warning(
                    "Orders not checked for tick size, lots and freeze quantity: no instrument list of today on "
                    "this machine yet (any look-up fetches it: kite.instruments())"
                )
            return
        try:
            instrument = find(store, f"{params.get('exchange')}:{params.get('tradingsymbol')}", day)
        except (InstrumentNotFoundError, ValueError):
            return  # not a listed instrument: Kite answers for it
        check_order(instrument, params, self.freeze_limits, autoslice)

    def _instruments(self) -> InstrumentStore:
        with self._lock:
            if self._instrument_store is None:
                path = self.settings.data_dir / INSTRUMENTS_FILE
                self._instrument_store = InstrumentStore(path, self.kite.instruments, self._clock)
            return self._instrument_store
