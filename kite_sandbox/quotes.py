"""Kite's market-data calls on the sandbox: quotes, OHLC, LTP, the instrument dumps, candles, trigger ranges."""

from datetime import datetime, timedelta

from flask import Response, request

from .clock import IST
from .error_responses import InputError, success
from .varieties import trigger_range as cover_trigger_range


def _instruments_in_query(market) -> dict:
    keys = request.args.getlist("i")
    if not keys:
        raise InputError("No instruments given: pass i=EXCHANGE:TRADINGSYMBOL.")
    return {key: instrument for key in keys if (instrument := market.find(key)) is not None}


def quote(sandbox):
    return success({key: quote_of(sandbox.market, i) for key, i in _instruments_in_query(sandbox.market).items()})


def ohlc(sandbox):
    return success({key: ohlc_of(sandbox.market, i) for key, i in _instruments_in_query(sandbox.market).items()})


def ltp(sandbox):
    return success({key: ltp_of(sandbox.market, i) for key, i in _instruments_in_query(sandbox.market).items()})


def quote_of(market, instrument) -> dict:
    """Kite's full quote of an instrument now."""
    snap = market.snapshot(instrument)
    lower, upper = market.circuit_limits(instrument)
    volume = snap.volume
    return {
        "instrument_token": instrument.token,
        "timestamp": snap.moment.strftime("%Y-%m-%d %H:%M:%S"),
        "last_trade_time": (snap.moment - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S"),
        "last_price": snap.last,
        "last_quantity": snap.depth_size,
        "buy_quantity": volume // 7,
        "sell_quantity": volume // 8,
        "volume": volume,
        "average_price": snap.average,
        "oi": snap.oi,
        "oi_day_high": snap.oi,
        "oi_day_low": snap.oi,
        "net_change": round(snap.last - snap.ohlc["close"], 2),
        "lower_circuit_limit": lower,
        "upper_circuit_limit": upper,
        "ohlc": snap.ohlc,
        "depth": {
            name: [{"price": price, "quantity": quantity, "orders": orders} for quantity, price, orders in levels]
            for name, levels in (
                ("buy", market.depth(instrument, snap, -1)),
                ("sell", market.depth(instrument, snap, 1)),
            )
        },
    }


def ohlc_of(market, instrument) -> dict:
    snap = market.snapshot(instrument)
    return {"instrument_token": instrument.token, "last_price": snap.last, "ohlc": snap.ohlc}


def ltp_of(market, instrument) -> dict:
    return {"instrument_token": instrument.token, "last_price": market.price(instrument)}


def instruments(sandbox, exchange=None):
    body = sandbox.market.instruments_csv_gz(exchange)
    return Response(body, headers={"Content-Type": "text/csv", "Content-Encoding": "gzip"})


def mf_instruments(sandbox):
    return Response(sandbox.funds.instruments_csv(), headers={"Content-Type": "text/csv"})


def historical(sandbox, token: int, interval: str):
    instrument = sandbox.market.by_token(token)
    if instrument is None:
        raise InputError("invalid token")
    start, end = _parse_time(request.args.get("from"), "from"), _parse_time(request.args.get("to"), "to")
    candles = sandbox.market.candles(instrument, interval, start, end, request.args.get("oi") == "1")
    return success({"candles": candles})


def trigger_range(sandbox, transaction_type: str):
    """The legacy /instruments/trigger_range/{transaction_type}: where a cover order's stop may lie."""
    if transaction_type.upper() not in ("BUY", "SELL"):
        raise InputError("Invalid `transaction_type`: use buy or sell.")
    found = {}
    for key, instrument in _instruments_in_query(sandbox.market).items():
        lower, upper = cover_trigger_range(sandbox.market, instrument)
        found[key] = {"instrument_token": 0, "lower": lower, "upper": upper}  # Kite answers token 0 here
    return success(found)


def instrument_trigger_range(sandbox, exchange: str, tradingsymbol: str):
    instrument = sandbox.market.by_symbol(exchange, tradingsymbol)
    if instrument is None:
        raise InputError(f"Invalid instrument: {exchange}:{tradingsymbol}.")
    lower, upper = cover_trigger_range(sandbox.market, instrument)
    return success({f"{exchange}:{tradingsymbol}": {"instrument_token": 0, "lower": lower, "upper": upper}})


def _parse_time(value, name) -> datetime:
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value or "", pattern).replace(tzinfo=IST)
        except ValueError:
            continue
    raise InputError(f"invalid `{name}`: use yyyy-mm-dd hh:mm:ss")
