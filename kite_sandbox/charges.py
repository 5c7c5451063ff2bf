"""What an executed order costs: brokerage and the statutory charges, at Zerodha's 2026 rates.

Rates from zerodha.com/charges (exchange charges as billed, with NSE's investor protection fund
fee included) and the Finance Act 2026 for STT on F&O sales from 1 April 2026 (futures 0.05 %,
options 0.15 % of the premium). Brokerage is per executed order: nothing on equity delivery,
otherwise 0.03 % or Rs 20 whichever is lower, and Rs 20 flat on options. GST is 18 % of brokerage,
exchange charge and SEBI fee; stamp duty is paid by the buyer. The sandbox charges the account
these amounts when an order executes, and /charges/orders (the virtual contract note) and the
margin calculators show the same figures. Amounts are unrounded floats, as Kite's are.
"""

BROKERAGE_SHARE, BROKERAGE_CAP, OPTIONS_BROKERAGE = 0.0003, 20.0, 20.0
SEBI_SHARE = 10 / 10_000_000  # Rs 10 a crore
GST_SHARE = 0.18

# segment -> (transaction tax on sells, on buys, its kind, exchange charge, stamp duty on buys)
RATES = {
    "equity delivery": (0.001, 0.001, "stt", 0.0000307, 0.00015),
    "equity intraday": (0.00025, 0.0, "stt", 0.0000307, 0.00003),
    "futures": (0.0005, 0.0, "stt", 0.0000183, 0.00002),
    "options": (0.0015, 0.0, "stt", 0.0003553, 0.00003),
    "currency futures": (0.0, 0.0, "stt", 0.0000035, 0.000001),
    "currency options": (0.0, 0.0, "stt", 0.000311, 0.000001),
    "commodity futures": (0.0001, 0.0, "ctt", 0.000021, 0.00002),
    "commodity options": (0.0005, 0.0, "ctt", 0.000418, 0.00003),
}
BSE_EQUITY_EXCHANGE_SHARE = 0.0000375


def segment_of(instrument, product: str) -> str:
    """Which of Zerodha's charge schedules an order falls under."""
    kind = instrument.instrument_type
    if instrument.exchange in ("CDS", "BCD"):
        return "currency options" if kind in ("CE", "PE") else "currency futures"
    if instrument.exchange == "MCX":
        return "commodity options" if kind in ("CE", "PE") else "commodity futures"
    if kind in ("CE", "PE"):
        return "options"
    if kind == "FUT":
        return "futures"
    return "equity delivery" if product in ("CNC", "MTF") else "equity intraday"


def order_charges(instrument, product: str, side: str, quantity: int, price: float) -> dict:
    """Kite's `charges` object for an order executed in full at `price`."""
    segment = segment_of(instrument, product)
    sell_tax, buy_tax, tax_kind, exchange_share, stamp_share = RATES[segment]
    if segment.startswith("equity") and instrument.exchange == "BSE":
        exchange_share = BSE_EQUITY_EXCHANGE_SHARE
    turnover = quantity * price
    if segment == "equity delivery":
        brokerage = 0.0
    elif segment.endswith("options"):
        brokerage = OPTIONS_BROKERAGE if quantity else 0.0
    else:
        brokerage = min(turnover * BROKERAGE_SHARE, BROKERAGE_CAP)
    tax = turnover * (sell_tax if side == "SELL" else buy_tax)
    exchange = turnover * exchange_share
    sebi = turnover * SEBI_SHARE
    stamp_duty = turnover * stamp_share if side == "BUY" else 0.0
    gst = (brokerage + exchange + sebi) * GST_SHARE
    return {
        "transaction_tax": tax,
        "transaction_tax_type": tax_kind,
        "exchange_turnover_charge": exchange,
        "sebi_turnover_charge": sebi,
        "brokerage": brokerage,
        "stamp_duty": stamp_duty,
        "gst": {"igst": gst, "cgst": 0, "sgst": 0, "total": gst},
        "total": brokerage + tax + exchange + sebi + stamp_duty + gst,
    }


def no_charges(tax_kind: str = "") -> dict:
    """The all-zero charges object of a basket's totals."""
    return {
        "transaction_tax": 0,
        "transaction_tax_type": tax_kind,
        "exchange_turnover_charge": 0,
        "sebi_turnover_charge": 0,
        "brokerage": 0,
        "stamp_duty": 0,
        "gst": {"igst": 0, "cgst": 0, "sgst": 0, "total": 0},
        "total": 0,
    }


def sum_charges(items: list) -> dict:
    """Charges of several orders added up."""
    total = no_charges(items[0]["transaction_tax_type"] if items else "")
    for item in items:
        for name in ("transaction_tax", "exchange_turnover_charge", "sebi_turnover_charge", "brokerage"):
            total[name] += item[name]
        total["stamp_duty"] += item["stamp_duty"]
        total["gst"]["igst"] += item["gst"]["igst"]
        total["gst"]["total"] += item["gst"]["total"]
        total["total"] += item["total"]
    return total
