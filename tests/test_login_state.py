"""The signed, short-lived, single-use login state (kite_service/login/state.py)."""

import pytest

from kite_service.login.state import STATE_LIFETIME_SECONDS, InvalidStateError, LoginStates


class FakeTime:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return FakeTime()


@pytest.fixture
def states(clock):
    return LoginStates(clock=clock)


def test_a_state_is_accepted_once(states):
    state = states.issue()
    states.redeem(state)
    with pytest.raises(InvalidStateError, match="already used"):
        states.redeem(state)


def test_a_state_expires_after_ten_minutes(states, clock):
    state = states.issue()
    clock.now += STATE_LIFETIME_SECONDS + 1
    with pytest.raises(InvalidStateError, match="expired"):
        states.redeem(state)


def test_a_state_is_still_good_just_before_expiry(states, clock):
    state = states.issue()
    clock.now += STATE_LIFETIME_SECONDS - 1
    states.redeem(state)


@pytest.mark.parametrize(
    "forge",
    [
        lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"),  # signature changed
        lambda s: "x" + s,  # nonce changed
        lambda s: s.replace(s.split(".")[1], str(int(s.split(".")[1]) + 3600)),  # expiry extended
    ],
    ids=["signature", "nonce", "expiry"],
)
def test_a_tampered_state_is_refused(states, forge):
    state = states.issue()
    with pytest.raises(InvalidStateError, match="not issued by this service"):
        states.redeem(forge(state))
    states.redeem(state)  # the genuine one still works


def test_a_state_from_another_server_secret_is_refused(clock):
    other = LoginStates(clock=clock).issue()
    with pytest.raises(InvalidStateError, match="not issued by this service"):
        LoginStates(clock=clock).redeem(other)


@pytest.mark.parametrize("bad", [None, "", "a.b", "a.b.c.d", "nonce.notanumber.sig", "é.1.x", "a." + "9" * 300 + ".s"])
def test_malformed_states_are_refused_without_crashing(states, bad):
    with pytest.raises(InvalidStateError):
        states.redeem(bad)


def test_outstanding_states_are_bounded(states):
    first = states.issue()
    for _ in range(300):
        states.issue()
    with pytest.raises(InvalidStateError, match="already used"):
        states.redeem(first)  # the oldest was evicted


@pytest.mark.parametrize("state", ["1a.1795468642.0f3e2d9c", "odd state/with=signs&more", "x.y~z-_", ""])
def test_the_login_url_carries_the_state_encoded_twice_as_kite_expects(state):
    from urllib.parse import parse_qs, quote, urlsplit

    from kite_service.login.exchange import kite_login_url

    settings = type("Settings", (), {"kite_login_url": "https://kite.zerodha.com/connect/login"})
    credentials = type("Credentials", (), {"api_key": "abc"})
    url = kite_login_url(settings, credentials, state)
    assert url.endswith("&redirect_params=" + quote("state=" + quote(state, safe=""), safe=""))
    query = parse_qs(urlsplit(url).query)
    assert parse_qs(query["redirect_params"][0]).get("state", [""]) == [state]  # what Kite hands back to /api/callback
