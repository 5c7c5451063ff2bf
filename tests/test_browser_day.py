"""The /day page in Chromium against `kite_app.py --sandbox`: log in, open the page, watch orders of a
program and a script arrive with their timelines without a reload, see the P&L follow a pinned price,
pull the kill switch with its confirmation and read its report; the page without JavaScript shows the
same figures. Screenshots (light and dark, 1280 and 390 pixels wide) go where test_browser_login's do.
"""

import pytest
import requests
from kiteconnect import KiteConnect
from playwright.sync_api import expect

from day_support import Figures
from service_support import CODE, start_service
from test_browser_login import browser, screenshot  # noqa: F401 (fixture)
from test_gateway_e2e import add_client

pytestmark = pytest.mark.browser

INFY = {"exchange": "NSE", "tradingsymbol": "INFY", "variety": "regular", "order_type": "LIMIT"}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = {"MAX_DAILY_LOSS": "100000", "MAX_ORDERS_PER_DAY": "200", "KILL_SWEEP_SECONDS": "4"}
    service = start_service(tmp_path_factory.mktemp("day"), extra_env=settings)
    service.login()
    yield service
    service.stop()


def pin(service, price: float) -> None:
    """The sandbox's price of NSE:INFY from now on (its ticks and quotes)."""
    body = {"api_secret": service.demo["api_secret"], "instrument": "NSE:INFY", "price": price}
    assert requests.post(f"{service.sandbox_url}/sandbox/control/price", json=body, timeout=5).status_code == 200


def opened(browser, service, **options):  # noqa: F811
    """A page of its own browser context on /day, the access code entered."""
    context = browser.new_context(**options)
    page = context.new_page()
    page.goto(f"{service.url}/day")
    page.get_by_label("Access code").fill(CODE)
    page.get_by_role("button", name="Open the day").click()
    page.wait_for_selector("#session")
    return page


def figure(page, name: str) -> str:
    return page.locator(f'[data-figure="{name}"]').first.get_attribute("data-value")


def test_the_day_on_one_page_live_then_stopped(browser, service):  # noqa: F811
    pin(service, 1500.0)
    page = opened(browser, service, viewport={"width": 1280, "height": 900})
    assert "Logged in as" in page.locator("#session").inner_text()
    expect(page.locator("#live")).to_contain_text("Live:")
    page.evaluate("window.notReloaded = true")

    program = add_client(service, "strategy-a")
    kite = KiteConnect(program["api_key"], access_token=program["access_token"], root=program["root"])
    bought = kite.place_order(product="MIS", transaction_type="BUY", quantity=10, price=1510, **INFY)
    script = service.kite_api()
    resting = script.place_order(product="CNC", transaction_type="BUY", quantity=1, price=1400, **INFY)

    # Both arrive without a reload, each with its program and its timeline
    page.wait_for_selector(f'#order-{bought}[data-status="COMPLETE"]', timeout=20_000)
    page.wait_for_selector(f'#order-{resting}[data-status="OPEN"]', timeout=20_000)
    assert page.locator(f"#order-{bought}").get_attribute("data-client") == "strategy-a"
    assert page.locator(f"#order-{resting}").get_attribute("data-client") == "kiteapi"
    timeline = page.locator(f"#order-{bought} .timeline").inner_text()
    assert "placed by strategy-a" in timeline and "complete" in timeline
    assert page.evaluate("window.notReloaded") is True

    # The P&L follows the pinned price, equal to Kite's (the sandbox's) m2m
    pin(service, 1520.0)
    kite_m2m = lambda: round(sum(row["m2m"] for row in kite.positions()["net"]), 2)  # noqa: E731
    expect(page.locator('[data-figure="pnl-total"]')).to_have_attribute("data-value", str(kite_m2m()), timeout=20_000)
    assert float(figure(page, "pnl-total")) == kite_m2m() > 0
    assert page.evaluate("window.notReloaded") is True

    # Without JavaScript: the same figures
    still = opened(browser, service, java_script_enabled=False)
    assert float(figure(still, "pnl-total")) == float(figure(page, "pnl-total"))
    assert Figures(still.content()).orders() == Figures(page.content()).orders()
    still.context.close()

    for scheme in ("light", "dark"):
        for width in (1280, 390):
            shot = opened(browser, service, viewport={"width": width, "height": 900}, color_scheme=scheme)
            screenshot(shot, f"day-{scheme}-{width}")
            shot.context.close()

    # The kill switch: the word typed, then its report step by step, live
    page.get_by_label("Type KILL to confirm").fill("kill")
    page.get_by_role("button", name="Pull the kill switch").click()
    assert "type KILL in the box" in page.get_by_role("alert").inner_text()  # not the word: refused
    page.get_by_label("Reason (optional)").fill("end of the test")
    page.get_by_label("Type KILL to confirm").fill("KILL")
    page.get_by_role("button", name="Pull the kill switch").click()
    page.wait_for_selector('[data-figure="kill-state"][data-value="on"]')
    expect(page.locator("#kill .report")).to_contain_text("flat", timeout=30_000)
    report = page.locator("#kill").inner_text()
    assert "pulled by the /day page (end of the test)" in report
    assert "cancelled" in report and "SELL 10 NSE:INFY MIS at market" in report, report
    assert service.status()["guard"]["kill_switch"]["account"]["pulled_by"] == "the /day page"
    screenshot(page, "day-kill-switch")
    page.context.close()
