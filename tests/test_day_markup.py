"""The /day page's markup for every reader: headings in order, every control labelled, native controls
only (usable by keyboard), the chart described in words, and colours at WCAG AA contrast in the light
and the dark scheme. Also the money figures' writing and the chart's geometry."""

import itertools
import re
from html.parser import HTMLParser

import pytest

from conftest import ACCESS_CODE
from kite_service.config.settings import PROJECT_DIR
from kite_service.day.chart import HEIGHT, LEFT, TOP, WIDTH, pnl_chart
from kite_service.day.figures import rupees


class Markup(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.tags: list = []  # (tag, attrs, text inside it, for the tags whose text matters)
        self._open: list = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        entry = {"tag": tag, **dict(attrs), "text": ""}
        self.tags.append(entry)
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6", "button", "label", "a", "title", "option"):
            self._open.append(entry)

    def handle_endtag(self, tag):
        if self._open and self._open[-1]["tag"] == tag:
            self._open.pop()

    def handle_data(self, data):
        for entry in self._open:
            entry["text"] += data

    def of(self, *names) -> list:
        return [t for t in self.tags if t["tag"] in names]


@pytest.fixture
def busy_page(app, client, logged_in):
    """The page of a day with orders, programs, limits and a kill switch pulled for one program."""
    context = app.extensions["kite_app"]
    context.gateway.clients.add("bot", can_trade=True)
    order = {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "quantity": 10,
        "order_type": "LIMIT",
    }
    context.events.observe([{**order, "order_id": "1", "status": "OPEN", "filled_quantity": 0}], "poll")
    context.events.observe([{**order, "order_id": "1", "status": "COMPLETE", "filled_quantity": 10}], "stream")
    rejected = {**order, "order_id": "2", "status": "REJECTED", "filled_quantity": 0, "status_message": "No margin"}
    context.events.observe([rejected], "poll")
    context.guard.latches.pull("bot", "test", "a runaway loop")
    assert client.post("/day/open", data={"code": ACCESS_CODE}).status_code == 303
    answer = client.get("/day")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_headings_go_down_one_level_at_a_time(busy_page):
    levels = [int(t["tag"][1]) for t in Markup(busy_page).of("h1", "h2", "h3", "h4", "h5", "h6")]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(later <= earlier + 1 for earlier, later in itertools.pairwise(levels)), levels
    assert {"Session", "P&L", "Limits", "Orders", "Programs", "Kill switch"} <= {
        t["text"].strip() for t in Markup(busy_page).of("h2")
    }


def test_every_control_is_labelled_and_reachable_by_keyboard(busy_page):
    page = Markup(busy_page)
    labels = {t.get("for") for t in page.of("label") if t["text"].strip()}
    controls = [t for t in page.of("input", "select", "textarea") if t.get("type") != "hidden"]
    assert len(controls) >= 6
    for control in controls:
        assert control.get("id") in labels or control.get("aria-label"), control
    for button in page.of("button"):
        assert button["text"].strip(), button
    for link in page.of("a"):
        assert link.get("href") and link["text"].strip(), link
    # Native controls only: nothing clickable that a keyboard cannot reach, no tab order of our own
    assert not re.search(r"\son[a-z]+=|tabindex=\"[1-9]", busy_page)
    assert re.search(r"<html lang=\"en\">", busy_page)


def test_the_chart_and_the_tables_say_what_they_are(busy_page):
    page = Markup(busy_page)
    ids = {t.get("id") for t in page.tags}
    (chart,) = [t for t in page.of("svg") if t.get("role") == "img"]
    assert set(chart["aria-labelledby"].split()) <= ids
    assert [t["text"] for t in page.of("title")][-1] == "The day's P&L, minute by minute"
    for table in re.findall(r"<table>.*?</table>", busy_page, re.S):
        assert "<caption" in table and 'scope="col"' in table


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_every_colour_pair_reaches_wcag_aa_in_both_schemes():
    style = (PROJECT_DIR / "templates" / "day_style.html").read_text()
    light, dark = re.findall(r":root \{(.*?)\}", style, re.S)[:2]
    for scheme in (light, dark):
        colours = dict(re.findall(r"--([a-z-]+): (#[0-9a-f]{6})", scheme))
        pairs = [(text, ground) for text in ("fg", "muted", "gain", "loss", "button") for ground in ("bg", "panel")]
        pairs += [("button-fg", "button"), ("bg", "loss")]  # the buttons' text on their colour
        for text, ground in pairs:
            assert contrast(colours[text], colours[ground]) >= 4.5, (text, ground, scheme)
        assert contrast(colours["gain"], colours["loss"]) > 1.0  # and the two differ in more than hue: signs too


def test_money_is_written_with_its_sign_and_indian_grouping():
    assert rupees(1234567.5) == "+12,34,567.50"
    assert rupees(-2000) == "-2,000.00"
    assert rupees(0) == "0.00"
    assert rupees(999.999) == "+1,000.00" and rupees(100000) == "+1,00,000.00"
    assert rupees(None) == "-"


def test_the_chart_runs_from_the_open_and_holds_zero_and_the_limit():
    curve = [("2026-11-20T09:15", 0.0), ("2026-11-20T10:00", 1200.0), ("2026-11-20T11:30", -3400.0)]
    chart = pnl_chart(curve, 5000.0)
    points = [tuple(map(float, p.split(","))) for p in chart.line.split()]
    assert points[0][0] == LEFT and all(LEFT <= x <= WIDTH and TOP <= y <= HEIGHT for x, y in points)
    assert points[1][1] < chart.zero_y < points[2][1] < chart.limit_y  # a profit above zero, the loss below
    assert chart.y_ticks[0][1] <= -5000 and chart.y_ticks[-1][1] >= 1200
    assert [label for _, label in chart.x_ticks][:2] == ["10:00", "11:00"] and chart.x_ticks[-1][1] == "15:00"
    assert (chart.low, chart.high, chart.last[2]) == (-3400.0, 1200.0, -3400.0)
    evening = pnl_chart([("2026-11-20T09:15", 0.0), ("2026-11-21T00:30", 10.0)], None)  # MCX runs past midnight
    assert evening.limit_y is None and evening.x_ticks[-1][1] == "00:00"
    assert pnl_chart([], None).line == ""
