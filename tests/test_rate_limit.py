"""Kite's per-endpoint-class rate limits and the order caps, shared by a process's threads."""

import threading
import time

import pytest
import responses

from conftest import FAST_RETRY, KITE_ROOT, ist, recorded
from kite_api import KiteAPI
from kite_service.kite.rate_limit import (
    KITE_RATE_LIMITS,
    ORDER_PLACEMENT,
    OTHER,
    QUOTE,
    SAFETY_MARGIN_SECONDS,
    RateLimiter,
    calls_first,
    endpoint_class,
    kite_limiters,
    shared_limiters,
    unlimited_limiters,
)


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_routes_map_to_kite_limit_classes():
    assert endpoint_class("market.quote.ltp") == QUOTE
    assert endpoint_class("market.historical") == "historical"
    assert endpoint_class("order.place") == ORDER_PLACEMENT
    assert endpoint_class("orders") == OTHER
    assert KITE_RATE_LIMITS == {"quote": 1, "historical": 3, "order_placement": 10, "other": 10}


def test_burst_up_to_the_limit_then_waits_for_the_window():
    clock = FakeClock()
    limiter = RateLimiter(3, 1.0, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(7):
        limiter.acquire()
        times.append(clock.now)
    assert times == [0, 0, 0, 1.0, 1.0, 1.0, 2.0]
    # In any one-second window there are never more than 3 calls.
    for start in times:
        assert sum(start <= t < start + 1.0 for t in times) <= 3


def test_expected_wait_says_how_long_a_call_asking_now_would_wait():
    clock = FakeClock()
    limiter = RateLimiter(3, 1.0, clock=clock, sleep=clock.sleep)
    assert limiter.expected_wait() == 0
    for _ in range(3):
        limiter.acquire()
    clock.now = 0.5
    assert limiter.expected_wait() == 0.5  # the window is full until its first call is a second old
    limiter._next_ticket += 3  # three callers in line take the three slots that free at 1.0
    assert limiter.expected_wait() == 1.5  # ours frees a second after the first of theirs
    limiter._serving += 3
    clock.now = 1.0
    assert limiter.expected_wait() == 0  # the window has moved on
    assert limiter.acquire() == 0


def test_without_limits_nothing_waits():
    limiter = unlimited_limiters()[QUOTE]
    for _ in range(1000):
        with limiter.slot():
            pass
    assert limiter.expected_wait() == 0 and limiter.acquire() == 0


def test_limit_is_shared_by_threads():
    limiter = RateLimiter(5, 0.5 + SAFETY_MARGIN_SECONDS)
    stamps = []  # the moments slots were taken (under the limiter's lock: no thread switch in between)
    taking = limiter._has_room

    def take_and_stamp(now):
        taken = taking(now)
        if taken:
            stamps.append(now)
        return taken

    limiter._has_room = take_and_stamp

    def work():
        for _ in range(3):
            limiter.acquire()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    assert len(stamps) == 12
    for i, start in enumerate(stamps):
        window = [t for t in stamps[i:] if t < start + 0.5]
        assert len(window) <= 5


def test_one_set_of_limiters_per_api_key_per_process():
    assert shared_limiters("key-a") is shared_limiters("key-a")
    assert shared_limiters("key-a") is not shared_limiters("key-b")


def test_waiting_callers_are_served_in_arrival_order():
    # Arrivals 50 ms apart and a window of 0.3 s: a thread held up that long by a busy machine (the
    # whole suite on 2 cores) would otherwise arrive, or record its turn, after the next one.
    limiter = RateLimiter(1, 0.3)
    order = []
    limiter.acquire()  # the window is now full: everyone after this waits

    def work(name):
        limiter.acquire()
        order.append(name)

    threads = []
    for name in range(6):
        thread = threading.Thread(target=work, args=(name,))
        thread.start()
        threads.append(thread)
        time.sleep(0.05)  # arrive one after another
    for thread in threads:
        thread.join(5)
    assert order == list(range(6))  # nobody overtakes, nobody starves


def test_the_kill_switchs_calls_go_before_every_caller_waiting_in_line():
    # A window of 0.8 s: the switch's thread is in line 0.15 s after the window filled, well before
    # it frees, however busy the machine (the whole suite on 2 cores)
    limiter = RateLimiter(1, 0.8)
    order = []
    limiter.acquire()  # the window is full

    def work(name, first=False):
        if first:
            with calls_first():
                limiter.acquire()
        else:
            limiter.acquire()
        order.append(name)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # three programs' calls in line
    switch = threading.Thread(target=work, args=("kill switch", True))
    switch.start()
    for thread in [*threads, switch]:
        thread.join(5)
    assert order == ["kill switch", 0, 1, 2]  # it came last and went first; the others kept their order


def test_a_call_counts_until_its_answer_is_in():
    """A call held up after taking its slot (a busy machine) reaches Kite late: the next one waits for that."""
    clock = FakeClock()
    limiter = RateLimiter(1, 1.0, clock=clock, sleep=clock.sleep)
    with limiter.slot():
        clock.now += 0.25  # sent late, answered at 0.25 s
    limiter.acquire()
    assert clock.now == 1.25  # not 1.0: Kite may have seen the first call as late as 0.25 s
    clock.now = 3.0
    with limiter.slot():
        clock.now += 5.0  # longer than the window: still counted at its end
    limiter.acquire()
    assert clock.now == 9.0


def api_on(clock, settings) -> KiteAPI:
    """A KiteAPI whose limiters run on `clock` (sleeping moves it on)."""
    limiters = kite_limiters()
    for limiter in limiters.values():
        limiter._clock, limiter._sleep = clock, clock.sleep
    return KiteAPI(settings, retry=FAST_RETRY, limiters=limiters)


def test_quote_calls_wait_for_kites_one_per_second_limit(kite, settings, logged_in):
    clock = FakeClock()
    api = api_on(clock, settings)
    for _ in range(3):
        kite.add(responses.GET, KITE_ROOT + "/quote/ltp", json=recorded("ltp.json"))
    for _ in range(3):
        api.ltp("NSE:INFY")
    assert clock.sleeps == [pytest.approx(1.02), pytest.approx(1.02)]
    kite.add(responses.GET, KITE_ROOT + "/orders", json=recorded("orders.json"))
    api.get_orders()  # another class: no wait
    assert len(clock.sleeps) == 2


def test_a_call_counts_against_the_limit_from_its_answers_first_bytes(kite, settings, logged_in, monkeypatch):
    """Kite counts a call on arrival, before it answers: reading and decoding a long answer afterwards
    (60 days of minute candles: megabytes) must not hold the next call back."""
    from kite_service.kite import client

    clock = FakeClock()
    api = api_on(clock, settings)
    decode = client.FastJSONResponse.json

    def slow_decode(response, **kwargs):
        clock.now += 0.5  # the body read and decoded well after the headers came
        return decode(response, **kwargs)

    monkeypatch.setattr(client.FastJSONResponse, "json", slow_decode)
    for _ in range(2):
        kite.add(responses.GET, KITE_ROOT + "/quote/ltp", json=recorded("ltp.json"))
    api.ltp("NSE:INFY")  # answered at 0 s, decoded by 0.5 s
    api.ltp("NSE:INFY")
    assert clock.sleeps == [pytest.approx(0.52)]  # a second (and the margin) after the first answer began


def test_a_call_in_flight_holds_its_slot_however_long_its_answer_takes():
    """Kite counts a call when it arrives, which a busy server may make as late as its answer: a call
    in flight for longer than the window must still hold its slot (a window that forgot it let a 4th
    historical call reach the sandbox within its second, and got 429)."""
    now = [0.0]
    limiter = RateLimiter(1, 1.0, clock=lambda: now[0])
    with limiter.slot():
        now[0] = 5.0  # a slow answer
        assert limiter.expected_wait() == 1.0  # held until a second after the answer
    assert limiter.expected_wait() == 1.0
    now[0] = 6.0
    assert limiter.expected_wait() == 0 and limiter.acquire() == 0


def test_an_iceberg_counts_once_toward_the_minute_and_each_leg_toward_the_day(kite, settings, logged_in):
    from kite_service.errors import OrderCapError
    from kite_service.kite.rate_limit import OrderCaps, day_orders

    assert [day_orders("iceberg", {"iceberg_legs": "7"}), day_orders("regular", {"iceberg_legs": "7"})] == [7, 1]
    assert day_orders("iceberg", {"iceberg_legs": "many"}) == 1  # Kite refuses it: one request all the same
    clock = [ist(2026, 11, 23, 10, 15, 0)]
    api = KiteAPI(
        settings, limiters=kite_limiters(), order_caps=OrderCaps(per_minute=3, per_day=10, clock=lambda: clock[0])
    )
    kite.add(responses.POST, KITE_ROOT + "/orders/iceberg", json=recorded("order_response.json"))
    kite.add(responses.POST, KITE_ROOT + "/orders/regular", json=recorded("order_response.json"))
    order = {"tradingsymbol": "INFY", "exchange": "NSE", "transaction_type": "BUY", "product": "CNC"}
    order |= {"order_type": "LIMIT", "price": 1500}
    api.place_order(variety="iceberg", quantity=8, iceberg_legs=8, iceberg_quantity=1, **order)  # 8 of today's 10
    with pytest.raises(OrderCapError, match="10 orders a day"):
        api.place_order(variety="iceberg", quantity=3, iceberg_legs=3, iceberg_quantity=1, **order)
    api.place_order(quantity=1, **order)  # the minute holds two requests (cap 3): the iceberg counted once there
    assert len(kite.calls) == 2
