"""Mutual funds on the sandbox through the official client: orders and SIPs move on the sandbox clock."""

from datetime import timedelta

import pytest

from kite_sandbox.server import create_sandbox_app
from kite_service.kite.sdk import kite_errors
from sandbox_support import official_client_login

FUND = "INF209K01VH8"  # Aditya Birla Sun Life Advantage Fund - Direct Plan, growth (recorded row)


@pytest.fixture
def sandbox_app(demo, clock):
    return create_sandbox_app(demo, clock=clock, enforce_rate_limits=False)  # many calls a second; limits: elsewhere


@pytest.fixture
def later(clock, sandbox_root, demo):
    """Move the sandbox clock on by some hours; returns the client, logged in again if 06:00 IST passed."""

    def move(count, kite):
        before = clock()
        clock.advance(timedelta(hours=count).total_seconds())
        crossed = (clock() - timedelta(hours=6)).date() != (before - timedelta(hours=6)).date()
        return official_client_login(sandbox_root, demo) if crossed else kite

    return move


def test_the_fund_universe_is_zerodhas_recorded_list_with_a_daily_nav(official_kite, clock, later):
    funds = {row["tradingsymbol"]: row for row in official_kite.mf_instruments()}
    assert len(funds) == 99 and funds[FUND]["amc"] == "BirlaSunLifeMutualFund_MF"
    assert funds[FUND]["purchase_allowed"] is True and funds[FUND]["minimum_purchase_amount"] == 1000.0
    assert funds[FUND]["last_price_date"] == (clock() - timedelta(days=1)).date()  # yesterday's NAV
    official_kite = later(24, official_kite)
    tomorrow = {row["tradingsymbol"]: row for row in official_kite.mf_instruments()}
    assert tomorrow[FUND]["last_price"] != funds[FUND]["last_price"]  # a new NAV each day


def test_an_order_waits_for_the_cut_off_and_is_allotted_at_that_days_nav(official_kite, later):
    cancelled = official_kite.place_mf_order(FUND, "BUY", amount=5000)["order_id"]
    official_kite.cancel_mf_order(cancelled)
    assert official_kite.mf_orders(cancelled)["status"] == "CANCELLED"
    order_id = official_kite.place_mf_order(FUND, "BUY", amount=5000, tag="sandbox")["order_id"]
    assert official_kite.mf_orders(order_id)["status"] == "OPEN" and official_kite.mf_holdings() == []
    official_kite = later(4, official_kite)  # 10:00 -> 14:00 IST: past the 13:30 cut-off
    order = official_kite.mf_orders(order_id)
    assert order["status"] == "COMPLETE" and order["purchase_type"] == "FRESH" and order["folio"]
    assert order["quantity"] == round(5000 / order["average_price"], 3)
    with pytest.raises(kite_errors.InputException):
        official_kite.cancel_mf_order(order_id)
    [holding] = official_kite.mf_holdings()
    assert (holding["tradingsymbol"], holding["quantity"], holding["folio"]) == (
        FUND,
        order["quantity"],
        order["folio"],
    )
    with pytest.raises(kite_errors.InputException, match="Insufficient units"):
        official_kite.place_mf_order(FUND, "SELL", quantity=order["quantity"] + 1)
    with pytest.raises(kite_errors.InputException, match="at least 1000"):
        official_kite.place_mf_order("INF209K01VG0", "BUY", amount=500)
    redemption = official_kite.place_mf_order(FUND, "SELL", quantity=10)["order_id"]
    official_kite = later(24, official_kite)
    assert official_kite.mf_orders(redemption)["status"] == "COMPLETE"
    assert official_kite.mf_holdings()[0]["quantity"] == round(order["quantity"] - 10, 3)


def test_a_sip_places_an_instalment_on_each_date_until_paused_or_done(official_kite, later):
    sip_id = official_kite.place_mf_sip(FUND, amount=1000, instalments=4, frequency="weekly")["sip_id"]
    sip = official_kite.mf_sips(sip_id)
    assert sip["status"] == "ACTIVE" and sip["completed_instalments"] == 1 and sip["pending_instalments"] == 3
    official_kite = later(7 * 24, official_kite)
    assert official_kite.mf_sips(sip_id)["completed_instalments"] == 2
    instalments = [o for o in official_kite.mf_orders() if o["variety"] == "sip"]
    assert [o["status"] for o in instalments] == ["OPEN", "COMPLETE"]  # this week's waits for 13:30
    official_kite.modify_mf_sip(sip_id, status="paused")
    official_kite = later(14 * 24, official_kite)
    assert official_kite.mf_sips(sip_id)["completed_instalments"] == 2  # paused: none placed
    official_kite.modify_mf_sip(sip_id, status="active", amount=2000)
    assert official_kite.mf_sips(sip_id)["instalment_amount"] == 2000
    official_kite = later(1, official_kite)
    sip = official_kite.mf_sips(sip_id)
    assert sip["completed_instalments"] == 3 and sip["status"] == "ACTIVE"  # the paused weeks are skipped, not made up
    official_kite = later(7 * 24, official_kite)
    sip = official_kite.mf_sips(sip_id)
    assert sip["completed_instalments"] == 4 and sip["status"] == "CANCELLED"  # the last one made
    official_kite = later(24, official_kite)
    assert official_kite.mf_holdings()[0]["quantity"] > 0
    assert [o["amount"] for o in official_kite.mf_orders() if o["variety"] == "sip"] == [2000]  # the last 7 days
