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
