"""The instrument list once a day for the machine, look-ups by symbol and token (expired contracts
too), and option chains against the sandbox's spot."""

from datetime import date, datetime, timedelta

import pytest
import responses

from conftest import KITE_ROOT, make_session, recorded_text
from kite_service.clock import IST
from kite_service.data.instrument_lookup import InstrumentNotFoundError
from kite_service.data.instrument_store import InstrumentStore, list_day
from kite_service.login.session_store import SessionStore
from sandbox_support import official_client_login


@pytest.fixture
def downloads(sandbox_app):
    """How many times the sandbox served the whole instrument list."""
    seen = []

    @sandbox_app.after_request
    def note(response):
        from flask import request

        if request.path == "/instruments":
            seen.append(request.path)
        return response

    return seen


def test_the_list_is_downloaded_once_a_day_for_every_script_on_the_machine(
    downloads, make_api, clock, sandbox_root, demo
):
    first, second = make_api(), make_api()  # two scripts, one data folder
    infy = first.instrument("NSE:INFY")
    assert (infy["instrument_token"], infy["lot_size"], infy["tick_size"]) == (408065, 1, 0.1)
    assert second.instrument_by_token(408065)["tradingsymbol"] == "INFY"
    assert len(second.instruments("NFO")) > 9000 and len(downloads) == 1
    clock.now = datetime(2026, 11, 21, 8, 29, tzinfo=IST)  # the next morning, before the new list
    assert first.instrument("NSE:TCS")["lot_size"] == 1 and len(downloads) == 1
    clock.now = datetime(2026, 11, 21, 8, 30, tzinfo=IST)
    log_in_again(make_api, sandbox_root, demo, clock)  # yesterday's session ended at 06:00
    assert second.instrument("NSE:TCS")["list_day"] == date(2026, 11, 21) and len(downloads) == 2


def log_in_again(make_api, root, demo, clock) -> None:
    kite = official_client_login(root, demo)
    session = make_session(kite.access_token, login_time=clock.now, api_key=demo.api_key)
    SessionStore(make_api().settings.session_file).save(session)


def test_an_option_chain_centres_on_the_strike_nearest_the_spot(make_api, official_kite):
    api = make_api()
    spot = official_kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"]
    chain = api.option_chain("NIFTY", strikes=3)
    assert chain["atm_strike"] == round(spot / 50) * 50 and chain["spot"] == spot
    assert [row["strike"] for row in chain["strikes"]] == [chain["atm_strike"] + 50 * k for k in range(-3, 4)]
    assert chain["expiry"] == date(2026, 11, 24) and chain["lot_size"] == 65  # the next Tuesday
    for row in chain["strikes"]:
        assert row["CE"]["instrument_type"] == "CE" and row["PE"]["strike"] == row["strike"]
        assert row["CE"]["expiry"] == chain["expiry"]
    assert api.option_chain("NIFTY", expiry="monthly")["expiry"] == date(2026, 11, 24)  # November's last Tuesday
    assert api.option_chain("NIFTY", expiry="weekly")["expiry"] == date(2026, 12, 1)
    with pytest.raises(InstrumentNotFoundError, match="no weekly expiries"):
        api.option_chain("BANKNIFTY", expiry="weekly")


def test_nifty_next_50s_chain_takes_its_spot_from_kites_index_symbol(make_api, official_kite):
    spot = official_kite.ltp("NSE:NIFTY NEXT 50")["NSE:NIFTY NEXT 50"]["last_price"]
    chain = make_api().option_chain("NIFTYNXT50", strikes=1)
    assert chain["spot"] == spot and chain["atm_strike"] == round(spot / 100) * 100 and chain["lot_size"] == 25


def test_unknown_instruments_get_an_error_that_says_what_to_check(make_api):
    api = make_api()
    with pytest.raises(InstrumentNotFoundError, match="check the exchange and Kite's trading symbol"):
        api.instrument("NSE:NOSUCHNAME")
    with pytest.raises(ValueError, match="EXCHANGE:SYMBOL"):
        api.instrument("INFY")


@responses.activate
def test_an_expired_contract_is_found_in_the_list_of_a_day_it_traded(tmp_path):
    today = recorded_text("instruments_all.csv")
    header, *rows = today.splitlines()
    expired = next(row for row in rows if ",NFO," in row or row.endswith(",NFO"))
    symbol = expired.split(",")[2]
    later = "\n".join([header, *[row for row in rows if row != expired]]) + "\n"
    responses.get(KITE_ROOT + "/instruments", body=today, content_type="text/csv")
    moments = iter([datetime(2026, 11, 20, 9, 0, tzinfo=IST), datetime(2026, 11, 21, 9, 0, tzinfo=IST)])
    now = {"at": next(moments)}
    from kite_service.kite.sdk import KiteConnect

    store = InstrumentStore(
        tmp_path / "instruments.sqlite3", KiteConnect("key", root=KITE_ROOT).instruments, lambda: now["at"]
    )
    assert store.current_day() == date(2026, 11, 20)
    responses.replace(responses.GET, KITE_ROOT + "/instruments", body=later, content_type="text/csv")
    now["at"] = next(moments)
    from kite_service.data.instrument_lookup import find

    found = find(store, f"NFO:{symbol}")
    assert found["list_day"] == date(2026, 11, 20) and store.current_day() == date(2026, 11, 21)
    assert find(store, f"NFO:{symbol}", on=date(2026, 11, 20))["instrument_token"] == found["instrument_token"]
    with pytest.raises(InstrumentNotFoundError):
        find(store, f"NFO:{symbol}", on=date(2026, 11, 19))  # no list kept from before it was seen


def test_the_lists_day_turns_at_half_past_eight_ist():
    assert list_day(datetime(2026, 11, 21, 8, 29, 59, tzinfo=IST)) == date(2026, 11, 20)
    assert list_day(datetime(2026, 11, 21, 8, 30, tzinfo=IST)) == date(2026, 11, 21)
    assert list_day(datetime(2026, 11, 21, 3, 0) - timedelta(0)) == date(2026, 11, 20)  # naive: IST
