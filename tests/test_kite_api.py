"""KiteAPI for scripts: sessions, market protection, rate limits, order caps, typed errors."""

import json
import os
import threading

import pytest
import requests
import responses
from responses import matchers

from conftest import API_KEY, FAST_RETRY, KITE_ROOT, ist, make_session, recorded, recorded_text
from kite_api import KiteAPI
from kite_service.config.settings import load_settings
from kite_service.errors import (
    ConfigError,
    KiteUnavailableError,
    NoSessionError,
    OrderCapError,
    SessionError,
    SessionExpiredError,
)
from kite_service.kite.rate_limit import kite_limiters


def add(kite, method, path, fixture, **kwargs):
    kite.add(method, KITE_ROOT + path, json=recorded(fixture), **kwargs)


def test_reads_return_recorded_data_with_auth_header(kite, kite_api, logged_in):
    auth = matchers.header_matcher(
        {"Authorization": f"token {API_KEY}:{logged_in.access_token}", "X-Kite-Version": "3"}
    )
    add(kite, responses.GET, "/orders", "orders.json", match=[auth])
    add(kite, responses.GET, "/portfolio/positions", "positions.json", match=[auth])
    add(kite, responses.GET, "/portfolio/holdings", "holdings.json")
    add(kite, responses.GET, "/user/margins", "margins.json")
    add(kite, responses.GET, "/user/profile", "profile.json")
    add(kite, responses.GET, "/trades", "trades.json")
    orders = kite_api.get_orders()
    assert len(orders) == 10 and orders[3]["status"] == "REJECTED"
    assert set(kite_api.get_positions()) == {"net", "day"}
    assert kite_api.get_holdings()[0]["tradingsymbol"] == recorded("holdings.json")["data"][0]["tradingsymbol"]
    assert "equity" in kite_api.get_margins()
    assert kite_api.get_profile()["user_id"] == recorded("profile.json")["data"]["user_id"]
    assert len(kite_api.get_trades()) == len(recorded("trades.json")["data"])


def test_order_history_trades_and_market_data(kite, kite_api, logged_in):
    add(kite, responses.GET, "/orders/151220000000000", "order_info.json")
    add(kite, responses.GET, "/orders/151220000000000/trades", "order_trades.json")
    add(kite, responses.GET, "/quote/ltp", "ltp.json", match=[matchers.query_param_matcher({"i": "NSE:INFY"})])
    add(kite, responses.GET, "/quote", "quote.json")
    add(kite, responses.GET, "/instruments/historical/408065/minute", "historical_minute.json")
    kite.add(
        responses.GET,
        KITE_ROOT + "/instruments",  # the whole list, once a day for the machine
        body=recorded_text("instruments_nse.csv"),
        content_type="text/csv",
    )
    assert kite_api.get_order_history("151220000000000")[-1]["status"] == "OPEN"
    assert kite_api.get_trades("151220000000000")[0]["order_id"]
    assert kite_api.ltp("NSE:INFY")["NSE:INFY"]["last_price"] > 0
    assert "NSE:INFY" in kite_api.quote("NSE:INFY")
    candles = kite_api.historical_data(408065, "2017-12-15 09:15:00", "2017-12-15 09:20:00", "minute")
    assert candles[0]["open"] > 0 and candles[0]["date"].utcoffset() is not None
    instruments = kite_api.instruments("NSE")
    assert len(instruments) > 50 and isinstance(instruments[0]["instrument_token"], int)


def test_place_modify_cancel(kite, kite_api, logged_in):
    add(
        kite,
        responses.POST,
        "/orders/regular",
        "order_response.json",
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "tradingsymbol": "INFY",
                    "exchange": "NSE",
                    "transaction_type": "BUY",
                    "quantity": "1",
                    "product": "CNC",
                    "order_type": "MARKET",
                    "market_protection": "-1",  # Kite's automatic protection, added as Kite requires
                    "variety": "regular",
                }
            )
        ],
    )
    add(kite, responses.PUT, "/orders/regular/151220000000000", "order_modify.json")
    add(kite, responses.DELETE, "/orders/regular/151220000000000", "order_cancel.json")
    order_id = kite_api.place_order(
        tradingsymbol="INFY", exchange="NSE", transaction_type="BUY", quantity=1, product="CNC", order_type="MARKET"
    )
    assert order_id == "151220000000000"
    assert kite_api.modify_order(order_id, quantity=2) == "151220000000000"
    assert kite_api.cancel_order(order_id) == "151220000000000"


@pytest.mark.parametrize(
    "failure",
    [
        dict(status=503, json={"status": "error", "message": "down", "error_type": "NetworkException"}),
        dict(status=429, body="Too many requests", content_type="text/plain"),
        dict(body=requests.ConnectionError("connection reset")),
        dict(body=requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")),
    ],
)
def test_orders_are_never_retried(kite, kite_api, logged_in, failure):
    kite.add(responses.POST, KITE_ROOT + "/orders/regular", **failure)
    kite.add(responses.PUT, KITE_ROOT + "/orders/regular/1", **failure)
    kite.add(responses.DELETE, KITE_ROOT + "/orders/regular/1", **failure)
    for call in (
        lambda: kite_api.place_order(
            tradingsymbol="INFY", exchange="NSE", transaction_type="BUY", quantity=1, product="CNC", order_type="MARKET"
        ),
        lambda: kite_api.modify_order("1", quantity=2),
        lambda: kite_api.cancel_order("1"),
    ):
        with pytest.raises(Exception):  # noqa: B017 - the kind depends on the failure
            call()
    assert len(kite.calls) == 3


@pytest.mark.parametrize(
    "failure",
    [
        dict(status=503, json={"status": "error", "message": "down", "error_type": "NetworkException"}),
        dict(status=429, json={"status": "error", "message": "Too many requests", "error_type": "NetworkException"}),
        dict(status=502, body="<html>bad gateway</html>", content_type="text/html"),
        dict(body=requests.ConnectionError("connection reset")),
        dict(body=requests.ReadTimeout("read timed out")),
        dict(body=requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")),  # cut off part-way
    ],
)
def test_reads_retry_transient_failures_then_succeed(kite, kite_api, logged_in, failure):
    kite.add(responses.GET, KITE_ROOT + "/orders", **failure)
    add(kite, responses.GET, "/orders", "orders.json")
    assert len(kite_api.get_orders()) == 10
    assert len(kite.calls) == 2


def test_read_retries_are_bounded(kite, kite_api, logged_in):
    for _ in range(FAST_RETRY.retries + 1):
        kite.add(responses.GET, KITE_ROOT + "/orders", body=requests.ConnectionError("refused"))
    with pytest.raises(KiteUnavailableError, match="did not answer GET /orders"):
        kite_api.get_orders()
    assert len(kite.calls) == FAST_RETRY.retries + 1


def test_input_errors_are_not_retried(kite, kite_api, logged_in):
    from kiteconnect.exceptions import InputException

    kite.add(
        responses.GET,
        KITE_ROOT + "/orders/bad",
        status=400,
        json={"status": "error", "message": "Invalid order_id", "error_type": "InputException"},
    )
    with pytest.raises(InputException):
        kite_api.get_order_history("bad")
    assert len(kite.calls) == 1


def test_no_session_raises_with_login_hint(kite, kite_api):
    with pytest.raises(NoSessionError, match="/api/url"):
        kite_api.get_orders()
    assert len(kite.calls) == 0


def test_expired_by_the_0600_rule_before_any_call(kite, settings, store):
    store.save(make_session(login_time=ist(2026, 11, 20, 9, 0)))
    api = KiteAPI(settings, clock=lambda: ist(2026, 11, 21, 6, 0, 1), retry=FAST_RETRY, limiters=kite_limiters())
    with pytest.raises(
        SessionExpiredError, match=r"ended at 2026-11-21 06:00 IST.*log in at http://127.0.0.1:5001/login"
    ):
        api.get_positions()
    assert len(kite.calls) == 0
    before = KiteAPI(settings, clock=lambda: ist(2026, 11, 21, 5, 59), retry=FAST_RETRY, limiters=kite_limiters())
    add(kite, responses.GET, "/portfolio/positions", "positions.json")
    assert before.get_positions()


def test_token_exception_marks_session_dead_until_new_login(kite, kite_api, store, logged_in):
    kite.add(
        responses.GET,
        KITE_ROOT + "/user/profile",
        status=403,
        json={"status": "error", "message": "Incorrect `api_key` or `access_token`.", "error_type": "TokenException"},
    )
    with pytest.raises(SessionExpiredError, match="logged in elsewhere"):
        kite_api.get_profile()
    with pytest.raises(SessionExpiredError):  # known dead: no second call to Kite
        kite_api.get_orders()
    assert len(kite.calls) == 1
    store.save(make_session(access_token="new-login-token"))
    add(
        kite,
        responses.GET,
        "/orders",
        "orders.json",
        match=[matchers.header_matcher({"Authorization": f"token {API_KEY}:new-login-token"})],
    )
    assert kite_api.get_orders()


def test_long_running_script_picks_up_a_new_session(kite, kite_api, store, logged_in):
    add(
        kite,
        responses.GET,
        "/user/profile",
        "profile.json",
        match=[matchers.header_matcher({"Authorization": f"token {API_KEY}:{logged_in.access_token}"})],
    )
    kite_api.get_profile()
    store.save(make_session(access_token="second-login-token"))
    add(
        kite,
        responses.GET,
        "/user/profile",
        "profile.json",
        match=[matchers.header_matcher({"Authorization": f"token {API_KEY}:second-login-token"})],
    )
    kite_api.get_profile()
    assert kite_api.session.access_token == "second-login-token"


def test_session_of_another_api_key_is_refused(kite, kite_api, store):
    store.save(make_session(api_key="someotherkey"))
    with pytest.raises(SessionError, match="another api_key"):
        kite_api.get_orders()


def test_underlying_client_stays_reachable_and_guarded(kite, kite_api, logged_in):
    kite.add(responses.GET, KITE_ROOT + "/gtt/triggers", json={"status": "success", "data": []})
    assert kite_api.kite.get_gtts() == []
    os.remove(kite_api.settings.session_file)
    with pytest.raises(NoSessionError):
        kite_api.kite.get_gtts()


def test_kites_candles_come_as_sent_for_the_long_history_path(kite, kite_api, logged_in):
    add(kite, responses.GET, "/instruments/historical/408065/minute", "historical_minute.json")
    candles = kite_api.kite.historical_candles(408065, "2017-12-15 09:15:00", "2017-12-15 09:20:00", "minute")
    assert candles == recorded("historical_minute.json")["data"]["candles"]
    assert kite.calls[0].request.params == {
        "from": "2017-12-15 09:15:00",
        "to": "2017-12-15 09:20:00",
        "interval": "minute",
        "continuous": "0",
        "oi": "0",
    }


def test_kiteapi_is_safe_across_threads(kite, kite_api, logged_in):
    for _ in range(8):
        add(kite, responses.GET, "/orders", "orders.json")
    results = []
    threads = [threading.Thread(target=lambda: results.append(len(kite_api.get_orders()))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [10] * 8


def test_logout_sends_the_stored_token_even_on_a_fresh_instance(kite, settings, logged_in):
    kite.add(
        responses.DELETE,
        KITE_ROOT + "/session/token",
        json=recorded("session_logout.json"),
        match=[matchers.query_param_matcher({"api_key": API_KEY, "access_token": logged_in.access_token})],
    )
    fresh = KiteAPI(settings, retry=FAST_RETRY, limiters=kite_limiters())
    assert fresh.kite.invalidate_access_token() is True
    kite.add(
        responses.DELETE,
        KITE_ROOT + "/session/token",
        json=recorded("session_logout.json"),
        match=[matchers.query_param_matcher({"api_key": API_KEY, "access_token": logged_in.access_token})],
    )
    assert fresh.logout() is True
    assert not settings.session_file.exists()  # every script and the service see the logout at once
    with pytest.raises(NoSessionError):
        fresh.get_orders()


def test_logout_keeps_the_session_when_kite_cannot_be_reached(kite, kite_api, settings, logged_in):
    kite.add(responses.DELETE, KITE_ROOT + "/session/token", body=requests.ConnectionError("unreachable"))
    with pytest.raises(KiteUnavailableError):
        kite_api.logout()
    assert settings.session_file.exists()  # the token still works at Kite: the file stays, to try again


def test_logout_never_removes_a_newer_login(kite, kite_api, store, logged_in):
    def newer_login_meanwhile(_request):
        store.save(make_session(access_token="newer-login-token"))
        return 200, {}, json.dumps(recorded("session_logout.json"))

    kite.add_callback(
        responses.DELETE, KITE_ROOT + "/session/token", callback=newer_login_meanwhile, content_type="application/json"
    )
    kite_api.logout()
    assert store.load().access_token == "newer-login-token"


def test_a_rejected_token_marks_only_itself_not_a_login_that_came_meanwhile(kite, kite_api, store, logged_in):
    """A call in flight with yesterday's token fails while another thread has switched to a fresh login."""

    def login_meanwhile_then_refuse(_request):
        store.save(make_session(access_token="fresh-login-token"))
        kite_api.ensure_session()  # what another thread's call does: the client switches to the new token
        body = {"status": "error", "message": "Incorrect `api_key` or `access_token`.", "error_type": "TokenException"}
        return 403, {}, json.dumps(body)

    kite.add_callback(
        responses.GET, KITE_ROOT + "/orders", callback=login_meanwhile_then_refuse, content_type="application/json"
    )
    with pytest.raises(SessionExpiredError):
        kite_api.get_orders()
    add(
        kite,
        responses.GET,
        "/portfolio/positions",
        "positions.json",
        match=[matchers.header_matcher({"Authorization": f"token {API_KEY}:fresh-login-token"})],
    )
    assert kite_api.get_positions()  # the fresh token was not marked as rejected


def test_an_answer_without_content_type_is_a_clear_kite_error(kite, kite_api, logged_in):
    from kiteconnect import exceptions as kite_errors

    for _ in range(3):  # first try and two retries
        kite.add(responses.GET, KITE_ROOT + "/user/profile", body='{"status": "success"}', content_type=None)
    with pytest.raises(kite_errors.DataException, match="no Content-Type or an unexpected body"):
        kite_api.get_profile()


def sent_form(call) -> dict:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(call.request.body))


@pytest.mark.parametrize(
    ("setting", "order", "sent"),
    [
        ("-1", {"order_type": "MARKET"}, "-1"),
        ("-1", {"order_type": "SL-M", "trigger_price": 1510}, "-1"),
        ("2.5", {"order_type": "MARKET"}, "2.5"),
        ("-1", {"order_type": "MARKET", "market_protection": 5}, "5"),  # the caller's own value wins
        ("-1", {"order_type": "LIMIT", "price": 1500}, None),  # limit orders need none
    ],
)
def test_market_protection_is_sent_with_market_and_sl_m_orders(kite, config, logged_in, setting, order, sent):
    api = KiteAPI(load_settings({**config, "MARKET_PROTECTION": setting}), limiters=kite_limiters())
    add(kite, responses.POST, "/orders/regular", "order_response.json")
    api.place_order(tradingsymbol="INFY", exchange="NSE", transaction_type="BUY", quantity=1, product="CNC", **order)
    assert sent_form(kite.calls[0]).get("market_protection") == sent


def test_modifying_into_a_market_order_adds_market_protection(kite, kite_api, logged_in, log_file):
    add(kite, responses.PUT, "/orders/regular/151220000000000", "order_modify.json")
    add(kite, responses.PUT, "/orders/regular/151220000000000", "order_modify.json")
    kite_api.modify_order("151220000000000", order_type="MARKET")
    kite_api.modify_order("151220000000000", price=1501)
    assert sent_form(kite.calls[0])["market_protection"] == "-1"
    assert "market_protection" not in sent_form(kite.calls[1])
    assert "'market_protection': -1" in log_file()


def test_market_protection_setting_is_checked(config):
    for bad in ("0", "101", "-2", "auto"):
        with pytest.raises(ConfigError, match="MARKET_PROTECTION"):
            load_settings({**config, "MARKET_PROTECTION": bad})


def test_order_caps_refuse_before_sending_and_say_when_they_reset(kite, settings, logged_in, log_file):
    from datetime import timedelta

    from kite_service.kite.rate_limit import OrderCaps

    clock = [ist(2026, 11, 23, 10, 15, 0)]
    caps = OrderCaps(per_minute=3, per_day=5, clock=lambda: clock[0])
    api = KiteAPI(settings, limiters=kite_limiters(), order_caps=caps)
    for _ in range(6):
        add(kite, responses.POST, "/orders/regular", "order_response.json")
    order = dict(tradingsymbol="INFY", exchange="NSE", transaction_type="BUY", quantity=1, product="CNC")
    for _ in range(3):
        api.place_order(**order, order_type="LIMIT", price=1500)
        clock[0] += timedelta(seconds=10)
    with pytest.raises(OrderCapError, match=r"3 orders a minute.*resets at 10:16:00 IST"):
        api.place_order(**order, order_type="LIMIT", price=1500)
    assert len(kite.calls) == 3  # nothing was sent
    for _ in range(2):
        clock[0] += timedelta(seconds=30)  # the oldest order in the window is a minute old
        api.place_order(**order, order_type="LIMIT", price=1500)
    with pytest.raises(OrderCapError, match=r"5 orders a day.*resets at 00:00 IST"):
        api.place_order(**order, order_type="LIMIT", price=1500)
    clock[0] += timedelta(days=1)
    api.place_order(**order, order_type="LIMIT", price=1500)
    assert len(kite.calls) == 6


def test_without_the_service_kiteapi_warns_once_per_process_that_it_counts_alone(settings, monkeypatch, caplog):
    monkeypatch.setattr(KiteAPI, "_warned_alone", False)
    for _ in range(3):
        KiteAPI(settings)
    warnings = [r.getMessage() for r in caplog.records if "not serving on this machine" in r.getMessage()]
    assert len(warnings) == 1 and "for this process only" in warnings[0]
    KiteAPI(settings, through_gateway=False)  # asked for alone: nothing more to warn about
    assert sum("not serving" in r.getMessage() for r in caplog.records) == 1
