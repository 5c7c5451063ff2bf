"""The /day page over real HTTP, the service in front of the sandbox: behind the access code, every
figure equal to its source, the kill switch with its typed confirmation, and the live feed."""

import re

import pytest
import requests

from conftest import ACCESS_CODE, wait_for
from day_support import Figures, form_token, open_page, order_block
from kite_service.day import feed as feed_module
from kite_service.web.day_access import DAY_COOKIE
from test_gateway import market, sandbox_app, serve_gateway  # noqa: F401 (fixtures)

INFY = {"exchange": "NSE", "tradingsymbol": "INFY", "variety": "regular", "order_type": "LIMIT"}


@pytest.fixture
def service(serve_gateway, clock):  # noqa: F811
    gateway = serve_gateway(
        MAX_DAILY_LOSS="20000", MAX_ORDERS_PER_DAY="50", KILL_SWEEP_SECONDS="20", KITE_TICKER_URL="ws://127.0.0.1:9"
    )
    gateway.app.extensions["kite_app"].kill_switch._sleep = lambda seconds: clock.advance(3)
    return gateway


def a_busy_morning(service, official_kite, clock) -> dict:
    """Orders of two programs and one placed at Kite directly: a fill, a resting order, a rejection."""
    bot, notebook = service.client("bot", can_trade=True), service.client("notebook", can_trade=True)
    placed = {
        "filled": bot.place_order(product="MIS", transaction_type="BUY", quantity=10, price=1510, **INFY),
        "open": bot.place_order(product="CNC", transaction_type="BUY", quantity=2, price=1400, **INFY),
        "rejected": notebook.place_order(product="CNC", transaction_type="BUY", quantity=5000, price=1500, **INFY),
        "outside": official_kite.place_order(product="CNC", transaction_type="BUY", quantity=1, price=1300, **INFY),
    }
    clock.advance(3)
    context = service.app.extensions["kite_app"]
    context.watcher.poll_and_announce()  # what the scheduler does every 20 s
    context.loss_watch.refresh()
    return placed


def test_without_the_access_code_there_is_only_the_form_and_every_door_is_shut(service, official_kite):
    root, context = service.root, service.app.extensions["kite_app"]
    page = requests.get(f"{root}/day")
    assert page.status_code == 200 and 'name="code"' in page.text
    assert "Session" not in page.text and official_kite.profile()["user_id"] not in page.text  # no data
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert requests.get(f"{root}/day/events").status_code == 401  # the stream needs the page's cookie
    wrong = requests.post(f"{root}/day/open", data={"code": "not-the-code"}, allow_redirects=False)
    assert wrong.status_code == 401 and "access code is wrong" in wrong.text and DAY_COOKIE not in wrong.cookies

    browser = open_page(root)
    cookie = next(c for c in browser.cookies if c.name == DAY_COOKIE)
    assert cookie.path == "/day" and cookie.has_nonstandard_attr("HttpOnly")
    assert (
        "SameSite=Strict"
        in requests.post(f"{root}/day/open", data={"code": ACCESS_CODE}).history[0].headers["Set-Cookie"]
    )
    html = browser.get(f"{root}/day").text
    token = form_token(html)
    kill = {"confirm": "KILL", "csrf": token}
    # A forged post: no cookie (another site's page cannot send it), a wrong token, another site's origin
    assert requests.post(f"{root}/day/kill", data=kill, allow_redirects=False).status_code == 403
    assert browser.post(f"{root}/day/kill", data={**kill, "csrf": "x" * 64}, allow_redirects=False).status_code == 403
    cross = browser.post(
        f"{root}/day/kill", data=kill, headers={"Origin": "https://evil.example"}, allow_redirects=False
    )
    assert cross.status_code == 403
    assert context.guard.latches.active() == {}  # nothing was pulled
    # No script or style but the page's own, each with this answer's nonce
    answer = browser.get(f"{root}/day")
    nonce = re.search(r"'nonce-([^']+)'", answer.headers["Content-Security-Policy"]).group(1)
    html = answer.text
    assert re.findall(r"<(?:script|style)([^>]*)>", html) == [f' nonce="{nonce}"'] * 2
    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*stylesheet|https?://(?!www\.w3\.org)", html)
    assert ACCESS_CODE not in html and service.access_token not in html


def test_every_figure_on_the_page_agrees_with_its_source(service, official_kite, market, clock):  # noqa: F811
    placed = a_busy_morning(service, official_kite, clock)
    context = service.app.extensions["kite_app"]
    browser = open_page(service.root)
    html = browser.get(f"{service.root}/day").text
    figures = Figures(html)

    # Orders: the order store's states, the sandbox's book, and the program the audit names
    shown = figures.orders()
    stored = context.events.day_orders()
    assert {order_id: (row["status"], row["filled"]) for order_id, row in shown.items()} == {
        order_id: (state["status"], state["filled_quantity"]) for order_id, state in stored.items()
    }
    book = {order["order_id"]: order["status"] for order in official_kite.orders()}
    assert {order_id: row["status"] for order_id, row in shown.items()} == book
    assert list(shown) == sorted(shown, key=lambda oid: list(book).index(oid), reverse=True)  # newest first
    assert {name: shown[placed[name]]["client"] for name in placed} == {
        "filled": "bot",
        "open": "bot",
        "rejected": "notebook",
        "outside": "outside Kite App",
    }
    assert (shown[placed["filled"]]["status"], shown[placed["rejected"]]["status"]) == ("COMPLETE", "REJECTED")
    filled = order_block(html, placed["filled"])
    assert "placed by bot" in filled and "complete" in filled
    assert "rejected: Insufficient funds" in order_block(html, placed["rejected"])

    # P&L: the guard's figures, which are Kite's own (the sandbox's positions answer)
    pnl = context.loss_watch.status()
    kite_m2m = round(sum(row["m2m"] for row in official_kite.positions()["net"]), 2)
    assert float(figures.one(data_figure="pnl-total")["data-value"]) == pnl["total"] == kite_m2m
    rows = {e["data-position"]: e for e in figures.all() if e["tag"] == "tr" and "data-position" in e}
    assert set(rows) == {p["position"] for p in pnl["positions"]} == {"NSE:INFY MIS"}
    m2m = [float(e["data-value"]) for e in figures.all(data_figure="m2m")]
    assert m2m == [p["m2m"] for p in pnl["positions"]]

    # Limits: the guard's count of today's placements against MAX_ORDERS_PER_DAY and Kite's cap
    limits = {e["data-source"]: e for e in figures.all(data_figure="limit")}
    assert float(limits["MAX_ORDERS_PER_DAY"]["data-used"]) == context.guard.orders_today()["account"]
    assert float(limits["MAX_ORDERS_PER_DAY"]["data-most"]) == 50 and float(limits["Kite"]["data-most"]) == 5000
    assert float(limits["MAX_DAILY_LOSS"]["data-used"]) == max(0.0, -pnl["total"])

    # Programs: the audit's counts of each client's calls, orders and refusals
    today = context.gateway.audit.today(clock())
    programs = figures.rows("program")
    for name in ("bot", "notebook"):
        counts = {figure: int(programs[name][figure]) for figure in ("calls", "orders", "refusals")}
        assert counts == today[name] and counts["orders"] >= 1
    assert figures.one(data_figure="session")["data-value"] == "valid"
    assert figures.one(data_figure="kill-state")["data-value"] == "off"

    # The filter by program, on the server (the page without JavaScript)
    only_bot = Figures(browser.get(f"{service.root}/day", params={"client": "bot"}).text).orders()
    assert set(only_bot) == {placed["filled"], placed["open"]}


def test_the_kill_switch_from_the_page_needs_the_word_typed(service, official_kite, market, clock):  # noqa: F811
    placed = a_busy_morning(service, official_kite, clock)
    context = service.app.extensions["kite_app"]
    browser = open_page(service.root)
    token = form_token(browser.get(f"{service.root}/day").text)

    unsure = browser.post(f"{service.root}/day/kill", data={"confirm": "kill", "csrf": token})
    assert unsure.status_code == 400 and "type KILL in the box" in unsure.text
    assert context.guard.latches.active() == {}

    stop_notebook = {"confirm": "KILL", "csrf": token, "client": "notebook", "reason": "testing one program"}
    answer = browser.post(f"{service.root}/day/kill", data=stop_notebook, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/day?done=pulled#kill"
    assert set(context.guard.latches.active()) == {"notebook"}
    page = Figures(browser.get(f"{service.root}/day").text)
    assert page.one(data_figure="kill-state")["data-value"] == "off"  # the account still trades

    answer = browser.post(
        f"{service.root}/day/kill",
        data={"confirm": "KILL", "csrf": token, "reason": "done for today"},
        allow_redirects=False,
    )
    assert answer.status_code == 303
    assert wait_for(lambda: context.kill_switch.report().get("done"))
    html = browser.get(f"{service.root}/day").text
    assert Figures(html).one(data_figure="kill-state")["data-value"] == "on"
    assert "pulled by the /day page (done for today)" in html
    assert "cancelled" in html and "SELL 10 NSE:INFY MIS at market" in html  # the report, step by step
    assert official_kite.order_history(placed["open"])[-1]["status"] == "CANCELLED"

    assert browser.post(f"{service.root}/day/reset", data={"confirm": "RESET!", "csrf": token}).status_code == 400
    assert "account" in context.guard.latches.active()
    answer = browser.post(f"{service.root}/day/reset", data={"confirm": "RESET", "csrf": token}, allow_redirects=False)
    assert answer.headers["Location"] == "/day?done=reset#kill"
    assert set(context.guard.latches.active()) == {"notebook"}


def test_an_open_page_hears_an_order_event_and_a_closed_one_is_dropped(
    service,
    official_kite,
    market,  # noqa: F811
    clock,
    monkeypatch,
):
    monkeypatch.setattr(feed_module, "HEARTBEAT_SECONDS", 0.5)  # a gone browser is found at the next write
    context = service.app.extensions["kite_app"]
    bot = service.client("bot", can_trade=True)
    browser = open_page(service.root)
    mark = Figures(browser.get(f"{service.root}/day").text).one(tag="body")["data-mark"]
    stream = browser.get(f"{service.root}/day/events", params={"since": mark}, stream=True, timeout=10)
    assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    order_id = bot.place_order(product="CNC", transaction_type="BUY", quantity=3, price=1400, **INFY)
    context.watcher.poll_and_announce()
    events = {}
    lines = stream.iter_lines(decode_unicode=True)
    for line in lines:
        if line.startswith("event: "):
            events.setdefault(line.removeprefix("event: "), []).append(next(lines))
        if "order" in events and any('"id":"programs"' in data for data in events.get("section", [])):
            break
    assert order_id in events["order"][0] and "placed by bot" in events["order"][0]
    stream.close()
    feed = service.app.extensions["day_feed"]
    assert wait_for(lambda: feed.open_pages == 0)


def test_a_row_shown_before_the_audit_names_its_program_is_sent_again_with_it(service, clock):
    """The order stream can announce an order before the gateway has written who placed it."""
    context = service.app.extensions["kite_app"]
    browser = open_page(service.root)
    mark = Figures(browser.get(f"{service.root}/day").text).one(tag="body")["data-mark"]
    stream = browser.get(f"{service.root}/day/events", params={"since": mark}, stream=True, timeout=10)
    lines = stream.iter_lines(decode_unicode=True)

    def next_row() -> str:
        for line in lines:
            if line == "event: order":
                return next(lines)
        return ""

    order = {"order_id": "900000000001", "status": "OPEN", "filled_quantity": 0, "quantity": 1}
    context.events.observe([{**order, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY"}], "stream")
    assert 'data-client=\\"outside Kite App\\"' in next_row()
    placed = '{"status": "success", "data": {"order_id": "900000000001"}}'
    context.gateway.audit.record(clock(), "bot", "POST", "/orders/regular", {}, 200, placed)
    row = next_row()
    assert 'data-client=\\"bot\\"' in row and "placed by bot" in row
    stream.close()
