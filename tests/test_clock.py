"""IST, the 06:00 expiry rule and Kite's trading day (kite_service/clock.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from conftest import ist
from kite_service.clock import IST, session_expiry


@pytest.mark.parametrize(
    ("login", "expiry"),
    [
        (ist(2026, 11, 20, 9, 0), ist(2026, 11, 21, 6, 0)),
        (ist(2026, 11, 20, 5, 59, 59), ist(2026, 11, 20, 6, 0)),  # before 06:00: dies the same morning
        (ist(2026, 11, 20, 6, 0), ist(2026, 11, 21, 6, 0)),  # at 06:00 exactly: the next day
        (ist(2026, 11, 20, 23, 59), ist(2026, 11, 21, 6, 0)),
        (ist(2026, 12, 31, 8, 0), ist(2027, 1, 1, 6, 0)),
    ],
)
def test_session_expires_at_next_0600_ist(login, expiry):
    assert session_expiry(login) == expiry


def test_naive_times_are_taken_as_ist_and_utc_is_converted():
    assert session_expiry(datetime(2026, 11, 20, 9, 0)) == ist(2026, 11, 21, 6, 0)
    # 00:15 UTC is 05:45 IST: the token still dies at 06:00 IST that same morning.
    utc = datetime(2026, 11, 20, 0, 15, tzinfo=UTC)
    assert session_expiry(utc) == ist(2026, 11, 20, 6, 0)
    assert session_expiry(utc).utcoffset() == timedelta(hours=5, minutes=30)
    assert session_expiry(utc).tzinfo == IST


@pytest.mark.parametrize(
    "login",
    ["2026-11-20 05:59:59", "2026-11-20 06:00:00", "2026-11-20 06:00:01", "2026-11-20 23:59:59", "2026-11-21 00:00:00"],
)
def test_the_service_and_the_sandbox_read_kites_06_00_rule_alike(login):
    """Each side implements the rule from Kite's documentation on its own; here they must agree."""
    from kite_sandbox import clock as sandbox_clock

    moment = datetime.fromisoformat(login).replace(tzinfo=IST)
    assert session_expiry(moment) == sandbox_clock.session_expiry(moment)
