"""Reading the /day page as a test needs it: its figures by their data attributes, its session."""

import re
from html.parser import HTMLParser

import requests

from conftest import ACCESS_CODE


class Figures(HTMLParser):
    """Every element of the page that carries a data-* attribute, with its attributes, in order."""

    def __init__(self, html: str):
        super().__init__()
        self.elements: list = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if any(name.startswith("data-") for name in found):
            self.elements.append({"tag": tag, **found})

    def all(self, **wanted) -> list:
        return [e for e in self.elements if all(e.get(name.replace("_", "-")) == v for name, v in wanted.items())]

    def one(self, **wanted) -> dict:
        (found,) = self.all(**wanted)
        return found

    def rows(self, key: str) -> dict:
        """{row name: {figure: value}} of the table rows carrying data-`key` (the cells follow their row)."""
        rows, current = {}, None
        for element in self.elements:
            if element["tag"] == "tr":
                current = rows.setdefault(element[f"data-{key}"], {}) if f"data-{key}" in element else None
            elif current is not None and "data-figure" in element:
                current[element["data-figure"]] = element.get("data-value")
        return rows

    def orders(self) -> dict:
        """{order_id: {"status", "filled", "client"}} of the order rows shown."""
        return {
            e["id"].removeprefix("order-"): {
                "status": e["data-status"],
                "filled": int(e["data-filled"]),
                "client": e["data-client"],
            }
            for e in self.elements
            if e["tag"] == "li" and e.get("id", "").startswith("order-")
        }


def open_page(root: str) -> requests.Session:
    """A browser-like session that entered the access code on /day."""
    browser = requests.Session()
    answer = browser.post(f"{root}/day/open", data={"code": ACCESS_CODE}, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/day"
    return browser


def form_token(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def order_block(html: str, order_id: str) -> str:
    """The HTML of one order's row, timeline included."""
    return re.search(rf'<li id="order-{order_id}".*?</ol>\s*</li>', html, re.S).group(0)
