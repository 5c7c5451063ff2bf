"""The /day page: the session, the P&L, the limits, the orders, the programs and the kill switch.

    GET  /day             the page (the access code form until this browser entered it)
    POST /day/open        the access code: sets the page's cookie (web/day_access.py), back to /day
    GET  /day/events      server-sent events that keep an open page up to date (day/feed.py)
    POST /day/kill        the kill switch, with KILL typed to confirm (the account, or one program)
    POST /day/reset       the kill switch lifted, with RESET typed to confirm
    POST /day/close       this browser's page cookie removed

Server-rendered from templates/day.html (no build step, nothing from another host); it reads the
same without JavaScript, and its small inline script (allowed by a per-answer CSP nonce) only
applies what the event stream sends. Forms need the page's cookie and its CSRF token, and are
refused when a browser marks them cross-site.
"""

import secrets
from functools import partial

from flask import Blueprint, current_app, get_template_attribute, redirect, render_template, request

from kite_service.day.chart import pnl_chart
from kite_service.day.feed import DayFeed, PagesFullError
from kite_service.day.figures import KILL_SWITCH, OUTSIDE, day_figures, order_rows, rupees
from kite_service.login.access_code import (
    AccessDeniedError,
    CeilingReachedError,
    CrossSiteRequestError,
    check_access_code,
    refuse_cross_site_requests,
)
from kite_service.runtime.context import EXTENSION, current_context
from kite_service.web.api import HEALTH_SESSION_MAX_AGE_SECONDS, error, health_summary
from kite_service.web.day_access import DAY_COOKIE, DAY_LIFETIME_SECONDS, DAY_PATH, DayAccess

day = Blueprint("day", __name__)
DAY_ACCESS, DAY_FEED = "day_access", "day_feed"  # app.extensions keys
KILL_WORD, RESET_WORD = "KILL", "RESET"
PULLED_BY = "the /day page"
WANT_PNL_SECONDS = 120.0  # a page seen keeps the P&L marked this long (the feed renews it while open)
FIRST_POSITIONS_SECONDS = 2.0  # the first page of the day waits this long for the positions
SECTIONS = ("session", "pnl", "limits", "programs", "paper", "kill")
NOTICES = {
    "pulled": "Kill switch pulled: no orders go to Kite now; the report below follows each step.",
    "already": "The kill switch was on already: nothing was done twice.",
    "reset": "Kill switch lifted: orders are allowed again.",
    "was-off": "The kill switch was not on: nothing changed.",
}


@day.record_once
def _set_up(state) -> None:
    """The page's cookie keys and its feed, made with the app (nothing starts until a page opens)."""
    app = state.app
    context = app.extensions[EXTENSION]
    app.extensions[DAY_ACCESS] = DayAccess(context.credentials.api_secret, context.settings.access_code)
    feed = DayFeed(
        partial(_sections_html, app),
        partial(_rows_html, app),
        keep_alive=partial(context.loss_watch.want, WANT_PNL_SECONDS),
    )
    app.extensions[DAY_FEED] = feed
    context.events.listeners.append(feed.orders_changed)
    # The audit may name an order's program after the order's first event (the stream is quick)
    context.gateway.audit.listeners.append(lambda order_id: feed.rows_changed([order_id]))


@day.app_template_filter("rupees")
def _rupees(value) -> str:
    return rupees(value)


@day.app_template_filter("rupees_short")
def _rupees_short(value: float) -> str:
    """An axis label: "+12.5k", "-2L", "0"."""
    size = abs(value)
    text = f"{size / 100_000:g}L" if size >= 100_000 else f"{size / 1000:g}k" if size >= 1000 else f"{size:g}"
    return ("-" if value < 0 else "+" if value > 0 else "") + text


def _health(context) -> dict:
    return health_summary(context, context.store.summary(context.clock(), max_age=HEALTH_SESSION_MAX_AGE_SECONDS))


def _render_sections(figures: dict) -> dict:
    """{section id: its HTML} (templates/day_sections.html's macros)."""
    html = {}
    for name in SECTIONS:
        macro = get_template_attribute("day_sections.html", name)
        html[name] = str(macro(figures, pnl_chart(figures["pnl"]["curve"], figures["pnl"]["limit"])))
    return html


def _sections_html(app) -> dict:
    with app.test_request_context(DAY_PATH):  # the feed's thread: a request context of its own for url_for
        context = current_context()
        return _render_sections(day_figures(context, _health(context), with_orders=False))


def _rows_html(app, order_ids: list) -> dict:
    with app.test_request_context(DAY_PATH):
        context = current_context()
        now = context.clock()
        rows = order_rows(context, now, context.events.day_orders(now), only=order_ids)
        macro = get_template_attribute("day_sections.html", "order_row")
        return {row["order_id"]: str(macro(row)) for row in rows}


# -- the page --------------------------------------------------------------------------------------


@day.get("/day")
def page():
    if not current_app.extensions[DAY_ACCESS].allows(request.cookies.get(DAY_COOKIE)):
        return _page("day_login.html", 200)
    notice = NOTICES.get(request.args.get("done", ""))
    return _day_page(200, notice=notice)


def _day_page(status: int, error_text: str | None = None, notice: str | None = None):
    context = current_context()
    mark = current_app.extensions[DAY_FEED].mark  # before the figures: what changes after comes by the feed
    _positions_for_the_page(context)
    figures = day_figures(context, _health(context))
    names = [program["name"] for program in figures["programs"]["programs"]]
    shown = request.args.get("client", "")
    shown = shown if shown in (*names, OUTSIDE, KILL_SWITCH) else ""
    stop = request.args.get("stop", "")
    return _page(
        "day.html",
        status,
        f=figures,
        sections=_render_sections(figures),
        client_names=names,
        order_clients=sorted({row["client"] for row in figures["orders"]} | set(names)),
        shown=shown,
        stop=stop if stop in names else "",
        csrf=current_app.extensions[DAY_ACCESS].form_token(request.cookies.get(DAY_COOKIE, "")),
        mark=mark,
        error=error_text,
        notice=notice,
    )


def _positions_for_the_page(context) -> None:
    """Keep the P&L marked while pages look; the day's first page waits briefly for the positions."""
    watch = context.loss_watch
    watch.want(WANT_PNL_SECONDS)
    if watch.refreshed_at is None and context.store.summary(context.clock())["state"] == "valid":
        watch.wait_for_positions(FIRST_POSITIONS_SECONDS)


@day.post("/day/open")
def open_page():
    context = current_context()
    try:
        check_access_code(request.form.get("code", ""))
    except AccessDeniedError:
        return _page("day_login.html", 401, error="That access code is wrong. Try again.")
    except CrossSiteRequestError:
        context.refusals.warning("cross-site requests", "Refused a cross-site /day form post")
        return _page("day_login.html", 403, error=CROSS_SITE)
    response = redirect(DAY_PATH, code=303)
    response.set_cookie(
        DAY_COOKIE,
        current_app.extensions[DAY_ACCESS].issue(),
        max_age=DAY_LIFETIME_SECONDS,
        path=DAY_PATH,
        httponly=True,
        samesite="Strict",
        secure=context.settings.service_url.startswith("https://"),
    )
    return response


CROSS_SITE = "Refused: the form was sent from another web site. Open this page directly."
NOT_YOURS = "Refused: this form did not come from your open /day page. Reload the page and try again."


def _refused_form():
    """None when the posted form comes from this browser's own /day page; else the refusal page."""
    try:
        refuse_cross_site_requests()
    except CrossSiteRequestError:
        current_context().refusals.warning("cross-site requests", "Refused a cross-site /day form post")
        return _page("day_login.html", 403, error=CROSS_SITE)
    access = current_app.extensions[DAY_ACCESS]
    if not access.form_ok(request.cookies.get(DAY_COOKIE), request.form.get("csrf")):
        current_context().refusals.warning("forged forms", "Refused a /day form post without its page's token")
        return _page("day_login.html", 403, error=NOT_YOURS)
    return None


def _client_named(context) -> tuple:
    """(client or None for the account, error text or None) from the form's `client`."""
    name = request.form.get("client", "")
    if not name:
        return None, None
    if name not in {client.name for client in context.gateway.clients.all()}:
        return None, f"No program named {name[:40]!r}: choose one from the list."
    return name, None


@day.post("/day/kill")
def pull():
    refused = _refused_form()
    if refused is not None:
        return refused
    context = current_context()
    client, problem = _client_named(context)
    if problem is None and request.form.get("confirm", "").strip() != KILL_WORD:
        problem = f"Not pulled: type {KILL_WORD} in the box to confirm. Nothing was done."
    if problem is not None:
        return _day_page(400, error_text=problem)
    report = context.kill_switch.pull(PULLED_BY, request.form.get("reason", "")[:200], client)
    current_app.extensions[DAY_FEED].poke()
    return redirect(f"{DAY_PATH}?done={'already' if report.get('already_on') else 'pulled'}#kill", code=303)


@day.post("/day/reset")
def reset():
    refused = _refused_form()
    if refused is not None:
        return refused
    context = current_context()
    client, problem = _client_named(context)
    if problem is None and request.form.get("confirm", "").strip() != RESET_WORD:
        problem = f"Not lifted: type {RESET_WORD} in the box to confirm. The kill switch stays on."
    if problem is not None:
        return _day_page(400, error_text=problem)
    was_on = context.kill_switch.reset(client)
    current_app.extensions[DAY_FEED].poke()
    return redirect(f"{DAY_PATH}?done={'reset' if was_on else 'was-off'}#kill", code=303)


@day.post("/day/close")
def close():
    refused = _refused_form()
    if refused is not None:
        return refused
    response = redirect(DAY_PATH, code=303)
    response.delete_cookie(DAY_COOKIE, path=DAY_PATH, httponly=True, samesite="Strict")
    return response


@day.get("/day/events")
def events():
    if not current_app.extensions[DAY_ACCESS].allows(request.cookies.get(DAY_COOKIE)):
        return error(401, "Open /day and enter the access code first: this stream is for that page.")
    since = request.headers.get("Last-Event-ID") or request.args.get("since", "")
    try:
        stream = current_app.extensions[DAY_FEED].stream(since[:40])
    except PagesFullError as exc:
        return error(503, str(exc))
    response = current_app.response_class(stream, mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy passes each event on at once
    return response


def _page(template: str, status: int, **values):
    """`template` rendered with a fresh nonce, the only key to its inline style and script."""
    nonce = secrets.token_urlsafe(16)
    html = render_template(template, nonce=nonce, **values)
    response = current_app.response_class(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@day.errorhandler(429)
def _too_many_attempts(exc):
    if isinstance(exc, CeilingReachedError):
        text = "Too many wrong access codes from all addresses together; wait up to 15 minutes."
    else:
        text = "Too many wrong access codes from this address; wait 15 minutes and try again."
    response = _page("day_login.html", 429, error=text)
    if getattr(exc, "retry_after", None):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response
