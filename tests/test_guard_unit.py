"""The guard's check without HTTP: what it looks at, what it counts, and who hears of a refusal."""

from datetime import datetime, timedelta

import pytest

from conftest import recorded
from kite_service.clock import IST
from kite_service.config.guard import GuardSettings
from kite_service.guard.guard import Guard
from kite_service.guard.latch import KillLatches
from kite_service.guard.loss_watch import position_m2m, position_pnl
from kite_service.guard.rules import GTT_DELETE, MF, KillSwitchOn, kind_of
from kite_service.notifications.outbox import Notifications
from kite_service.orders.database import OrderDatabase
from kite_service.runtime.context import _notify_refusal


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 20, 10, 0, tzinfo=IST)

    def __call__(self):
        return self.now


ORDER = {"exchange": "NSE", "tradingsymbol": "INFY", "quantity": "11", "price": "100", "product": "CNC"}


def test_a_refusal_is_told_to_the_listener_and_what_is_not_an_order_is_not_checked(tmp_path):
    heard = []
    guard = Guard(
        GuardSettings(max_order_quantity=10),
        KillLatches(tmp_path, Clock()),
        Clock(),
        on_refusal=lambda *a: heard.append(a),
    )
    with pytest.raises(Exception, match="MAX_ORDER_QUANTITY"):
        guard.check("POST", "/orders/regular", ORDER, "bot")
    assert heard == [
        ("bot", "Refused by Kite App's guard: quantity 11 is above MAX_ORDER_QUANTITY (10). Nothing was sent to Kite.")
    ]
    guard.check("DELETE", "/orders/regular/1", ORDER, "bot")  # a cancel: never checked
    guard.check("GET", "/orders", ORDER, "bot")
    assert (kind_of("DELETE", "/gtt/triggers/5"), kind_of("POST", "/mf/sips")) == (GTT_DELETE, MF)


def test_the_latch_stops_placements_until_the_next_0600_ist(tmp_path):
    clock = Clock()
    latches = KillLatches(tmp_path, clock)
    guard = Guard(GuardSettings(), latches, clock)
    latches.pull("account", "test", "why")
    with pytest.raises(KillSwitchOn, match=r"no orders until 06:00 IST on 2026-11-21"):
        guard.check("PUT", "/orders/regular/1", {"price": "1"}, None)  # a modification too
    guard.check("DELETE", "/orders/regular/1", {}, None)  # cancels go on
    clock.now += timedelta(hours=20)  # 06:00 the next day
    guard.check("POST", "/orders/regular", ORDER, None)


def test_refusal_notifications_are_one_a_minute_per_client(tmp_path):
    class Notifier:
        name = "test"

        def send(self, notification):
            pass

    clock = Clock()
    notifications = Notifications([Notifier()], OrderDatabase(tmp_path / "orders.sqlite3"), clock=clock)
    for _ in range(5):
        _notify_refusal(notifications, clock, "bot", "quantity 11 is above MAX_ORDER_QUANTITY (10)")
    _notify_refusal(notifications, clock, "other", "quantity 11 is above MAX_ORDER_QUANTITY (10)")
    clock.now += timedelta(minutes=1)
    _notify_refusal(notifications, clock, "bot", "again")
    assert notifications.pending_count == 3  # bot once, other once, bot again a minute later


def test_the_guards_figures_are_kites_own_on_its_recorded_positions():
    """Kite's recorded positions: an MCX contract of 1,000 units a lot, an overnight MCX position
    closed today, a cover order's; each figure the guard computes equals Kite's to the paisa."""
    positions = recorded("positions.json")["data"]
    for row in positions["net"] + positions["day"]:
        assert round(position_m2m(row, row["last_price"]), 2) == row["m2m"], row["tradingsymbol"]
        assert round(position_pnl(row, row["last_price"]), 2) == row["pnl"], row["tradingsymbol"]
    net = {row["tradingsymbol"]: row for row in positions["net"]}
    assert position_m2m(net["LEADMINI17DECFUT"], 162.05) == 1000.0  # a rupee a unit on 1,000 units
    gold = net["GOLDGUINEA17DECFUT"]  # 3 carried overnight, all sold today: the day's is from the close
    assert (position_pnl(gold, 23355), position_m2m(gold, 23355)) == (801, 276)
