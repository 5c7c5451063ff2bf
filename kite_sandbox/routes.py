"""Kite Connect v3's routes in one table, and which of them count against which of Kite's limits.

Route names follow the official Python client's routes table (kiteconnect/connect.py); the Go
client's extra routes (full profile, holdings summary and compact, alerts) are named alike.
"""

import secrets

from flask import request

from . import control, margins, quotes, sessions
from .portfolio import Portfolio


def _form() -> dict:
    return request.form.to_dict()


# (route name, method, URL rule, view(sandbox, **URL values) -> data for Kite's envelope, or a Response)
ROUTES = [
    ("api.login", "GET POST", "/connect/login", sessions.login_page),
    ("sandbox.landing", "GET", "/sandbox/landing", sessions.landing),
    ("sandbox.control", "POST", "/sandbox/control/<action>", control.control),
    ("api.token", "POST", "/session/token", sessions.open_session),
    ("api.token.invalidate", "DELETE", "/session/token", sessions.close_session),
    ("api.token.renew", "POST", "/session/refresh_token", sessions.refresh_refused),
    ("api.token.refresh.invalidate", "DELETE", "/session/refresh_token", sessions.refresh_refused),
    ("user.profile", "GET", "/user/profile", lambda s: sessions.profile(s.credentials)),
    ("user.profile.full", "GET", "/user/profile/full", lambda s: sessions.full_profile(s.credentials)),
    ("user.margins", "GET", "/user/margins", lambda s: s.book.margins()),
    ("user.margins.segment", "GET", "/user/margins/<segment>", lambda s, segment: s.book.margins(segment)),
    ("orders", "GET", "/orders", lambda s: s.book.all_orders()),
    ("order.info", "GET", "/orders/<order_id>", lambda s, order_id: s.book.history(order_id)),
    ("order.place", "POST", "/orders/<variety>", lambda s, variety: _placed(s.desk.place(variety, _form()))),
    (
        "order.modify",
        "PUT",
        "/orders/<variety>/<order_id>",
        lambda s, variety, order_id: {"order_id": s.desk.modify(variety, order_id, _form())},
    ),
    (
        "order.cancel",
        "DELETE",
        "/orders/<variety>/<order_id>",
        lambda s, variety, order_id: {
            "order_id": s.desk.cancel(variety, order_id, request.args.get("parent_order_id"))
        },
    ),
    ("order.trades", "GET", "/orders/<order_id>/trades", lambda s, order_id: s.book.order_trades(order_id)),
    ("trades", "GET", "/trades", lambda s: s.book.all_trades()),
    ("portfolio.positions", "GET", "/portfolio/positions", lambda s: s.book.reading(Portfolio.positions_answer)),
    ("portfolio.positions.convert", "PUT", "/portfolio/positions", lambda s: s.book.convert_position(_form())),
    ("portfolio.holdings", "GET", "/portfolio/holdings", lambda s: s.book.reading(Portfolio.holding_rows)),
    (
        "portfolio.holdings.summary",
        "GET",
        "/portfolio/holdings/summary",
        lambda s: s.book.reading(Portfolio.holdings_summary),
    ),
    (
        "portfolio.holdings.compact",
        "GET",
        "/portfolio/holdings/compact",
        lambda s: s.book.reading(Portfolio.holdings_compact),
    ),
    (
        "portfolio.holdings.auction",
        "GET",
        "/portfolio/holdings/auctions",
        lambda s: s.book.reading(Portfolio.auction_rows),
    ),
    (
        "portfolio.holdings.authorise",  # the Go client's: starts a CDSL authorisation of holdings for selling
        "POST",
        "/portfolio/holdings/authorise",
        lambda s: {"request_id": secrets.token_urlsafe(24)},
    ),
    ("market.instruments.all", "GET", "/instruments", quotes.instruments),
    ("market.instruments", "GET", "/instruments/<exchange>", quotes.instruments),
    ("market.historical", "GET", "/instruments/historical/<int:token>/<interval>", quotes.historical),
    ("market.trigger_range", "GET", "/instruments/trigger_range/<transaction_type>", quotes.trigger_range),
    (
        "market.trigger_range.instrument",  # as the Go client names the same call
        "GET",
        "/instruments/<exchange>/<tradingsymbol>/trigger_range",
        quotes.instrument_trigger_range,
    ),
    ("market.quote", "GET", "/quote", quotes.quote),
    ("market.quote.ohlc", "GET", "/quote/ohlc", quotes.ohlc),
    ("market.quote.ltp", "GET", "/quote/ltp", quotes.ltp),
    ("order.margins", "POST", "/margins/orders", margins.orders_route),
    ("order.margins.basket", "POST", "/margins/basket", margins.basket_route),
    ("order.contract_note", "POST", "/charges/orders", margins.contract_note_route),
    ("gtt", "GET", "/gtt/triggers", lambda s: s.triggers.all()),
    ("gtt.place", "POST", "/gtt/triggers", lambda s: {"trigger_id": s.triggers.place(_form())}),
    ("gtt.info", "GET", "/gtt/triggers/<int:trigger_id>", lambda s, trigger_id: s.triggers.get(trigger_id)),
    (
        "gtt.modify",
        "PUT",
        "/gtt/triggers/<int:trigger_id>",
        lambda s, trigger_id: {"trigger_id": s.triggers.modify(trigger_id, _form())},
    ),
    (
        "gtt.delete",
        "DELETE",
        "/gtt/triggers/<int:trigger_id>",
        lambda s, trigger_id: {"trigger_id": s.triggers.delete(trigger_id)},
    ),
    ("mf.orders", "GET", "/mf/orders", lambda s: s.funds.orders()),
    ("mf.order.info", "GET", "/mf/orders/<order_id>", lambda s, order_id: s.funds.orders(order_id)),
    ("mf.order.place", "POST", "/mf/orders", lambda s: {"order_id": s.funds.place_order(_form())}),
    (
        "mf.order.cancel",
        "DELETE",
        "/mf/orders/<order_id>",
        lambda s, order_id: {"order_id": s.funds.cancel_order(order_id)},
    ),
    ("mf.sips", "GET", "/mf/sips", lambda s: s.funds.sips()),
    ("mf.sip.info", "GET", "/mf/sips/<sip_id>", lambda s, sip_id: s.funds.sips(sip_id)),
    ("mf.sip.place", "POST", "/mf/sips", lambda s: {"sip_id": s.funds.place_sip(_form())}),
    ("mf.sip.modify", "PUT", "/mf/sips/<sip_id>", lambda s, sip_id: {"sip_id": s.funds.modify_sip(sip_id, _form())}),
    ("mf.sip.cancel", "DELETE", "/mf/sips/<sip_id>", lambda s, sip_id: {"sip_id": s.funds.cancel_sip(sip_id)}),
    ("mf.holdings", "GET", "/mf/holdings", lambda s: s.funds.holdings()),
    ("mf.instruments", "GET", "/mf/instruments", quotes.mf_instruments),
    ("alerts", "GET", "/alerts", lambda s: s.alerts.all(request.args.get("status"))),
    ("alerts.create", "POST", "/alerts", lambda s: s.alerts.create(_form())),
    ("alerts.delete", "DELETE", "/alerts", lambda s: s.alerts.delete(request.args.getlist("uuid"))),
    ("alerts.info", "GET", "/alerts/<alert_id>", lambda s, alert_id: s.alerts.get(alert_id)),
    ("alerts.modify", "PUT", "/alerts/<alert_id>", lambda s, alert_id: s.alerts.modify(alert_id, _form())),
    ("alerts.history", "GET", "/alerts/<alert_id>/history", lambda s, alert_id: s.alerts.history(alert_id)),
]

# Kite's per-api_key limits (requests per second) and which routes count against which; order
# placement's 10 a second is counted with the other order caps (order_limits.py).
RATE_LIMITS = {"quote": 1, "historical": 3, "other": 10}
ROUTE_LIMIT_CLASS = {
    "market.quote": "quote",
    "market.quote.ohlc": "quote",
    "market.quote.ltp": "quote",
    "market.historical": "historical",
    "order.place": None,
}
BROWSER_ROUTES = {"api.login", "sandbox.landing", "sandbox.control", "static"}  # not API calls: no protocol checks
SESSION_ROUTES = {"api.token", "api.token.renew", "api.token.refresh.invalidate"}  # made without an access token
ORDER_ROUTES = {"order.place", "order.modify", "order.cancel", "gtt.place", "gtt.modify", "gtt.delete"}


def _placed(result):
    """order.place answers {"order_id"}; an autoslice answers Kite's {"order_id", "children"}."""
    return result if isinstance(result, dict) else {"order_id": result}
