"""Prices of F&O contracts from their underlying's walk: futures at cost of carry, options by Black-Scholes.

Time to expiry is taken at the start of each minute, so a contract's price within a minute moves
only with its underlying and its minute candles are the underlying's mapped through one function:
calls and futures keep the order of prices, puts reverse it.
"""

import math
from datetime import datetime

import numpy as np

from .instruments import Instrument
from .price_walk import DayPath, day_start, on_tick, on_tick_float

INTEREST_RATE = 0.065  # per year, continuously compounded
SECONDS_PER_YEAR = 365 * 86400
OPEN_INTEREST_LOTS = 1000


def years_left(instrument: Instrument, at_minute: datetime):
    seconds = (instrument.expires_at() - at_minute).total_seconds()
    return max(seconds, 0.0) / SECONDS_PER_YEAR


def _normal_cdf(x):
    """The standard normal CDF for numpy arrays (Abramowitz-Stegun 7.1.26, error below 1.5e-7)."""
    x = np.asarray(x, dtype=float)
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def fair_value(instrument: Instrument, spot, years):
    """Futures: spot with cost of carry. Options: Black-Scholes at the underlying's implied volatility."""
    spot = np.asarray(spot, dtype=float)
    years = np.asarray(years, dtype=float)
    if instrument.instrument_type == "FUT":
        return spot * np.exp(INTEREST_RATE * years)
    strike, sigma = instrument.strike, instrument.underlying.volatility
    intrinsic = np.maximum(spot - strike, 0.0) if instrument.instrument_type == "CE" else np.maximum(strike - spot, 0.0)
    root = sigma * np.sqrt(np.maximum(years, 1e-12))
    d1 = (np.log(spot / strike) + (INTEREST_RATE + sigma * sigma / 2) * years) / root
    d2 = d1 - root
    discount = np.exp(-INTEREST_RATE * years)
    if instrument.instrument_type == "CE":
        value = spot * _normal_cdf(d1) - strike * discount * _normal_cdf(d2)
    else:
        value = strike * discount * _normal_cdf(-d2) - spot * _normal_cdf(-d1)
    return np.where(years > 0, np.maximum(value, 0.0), intrinsic)


def _normal_cdf_scalar(x: float) -> float:
    """_normal_cdf for one float, in plain Python (numpy costs ~20 us a call on a scalar)."""
    z = abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * math.exp(-z * z)
    return 0.5 * (1.0 + math.copysign(erf, x)) if x else 0.5


def fair_value_scalar(instrument: Instrument, spot: float, years: float) -> float:
    """fair_value for one spot price: the same formulas, so a live price agrees with the minute candles."""
    if instrument.instrument_type == "FUT":
        return spot * math.exp(INTEREST_RATE * years)
    strike, sigma = instrument.strike, instrument.underlying.volatility
    if years <= 0:
        return max(spot - strike, 0.0) if instrument.instrument_type == "CE" else max(strike - spot, 0.0)
    root = sigma * math.sqrt(max(years, 1e-12))
    d1 = (math.log(spot / strike) + (INTEREST_RATE + sigma * sigma / 2) * years) / root
    d2 = d1 - root
    discount = math.exp(-INTEREST_RATE * years)
    if instrument.instrument_type == "CE":
        value = spot * _normal_cdf_scalar(d1) - strike * discount * _normal_cdf_scalar(d2)
    else:
        value = strike * discount * _normal_cdf_scalar(-d2) - spot * _normal_cdf_scalar(-d1)
    return max(value, 0.0)


def contract_price(instrument: Instrument, spot: float, at_minute: datetime) -> float:
    value = fair_value_scalar(instrument, float(spot), years_left(instrument, at_minute))
    return max(on_tick_float(value, instrument.tick_size), instrument.tick_size)


def contract_path(instrument: Instrument, underlying: DayPath, day) -> DayPath:
    """The contract's minutes of a day, from its underlying's minutes of that day."""
    starts = day_start(day).timestamp() + 60 * np.arange(len(underlying.opens))
    years = np.maximum(instrument.expires_at().timestamp() - starts, 0.0) / SECONDS_PER_YEAR
    tick = instrument.tick_size

    def mapped(prices):
        return np.maximum(on_tick(fair_value(instrument, prices, years), tick), tick)

    highs, lows = mapped(underlying.highs), mapped(underlying.lows)
    if instrument.instrument_type == "PE":  # a put is dearest when its underlying is lowest
        highs, lows = lows, highs
    return DayPath(
        opens=mapped(underlying.opens),
        highs=highs,
        lows=lows,
        closes=mapped(underlying.closes),
        volumes=np.maximum(underlying.volumes // 50, 1) * instrument.lot_size,
        high_first=underlying.high_first if instrument.instrument_type != "PE" else ~underlying.high_first,
    )


def open_interest(instrument: Instrument) -> int:
    return instrument.lot_size * OPEN_INTEREST_LOTS if instrument.is_derivative else 0
