"""The hub's subscription book: instruments counted across clients, each upstream once in the richest
mode wanted, at most 3 connections of 3,000, and a client past the limit told so alone."""

from kite_service.ticker.subscriptions import SubscriptionBook


def test_an_instrument_is_carried_once_in_the_richest_mode_wanted():
    book = SubscriptionBook()
    book.subscribe("a", [408065, 256265])
    book.subscribe("b", [408065])
    assert book.upstream()[0] == {408065: "quote", 256265: "quote"}  # Kite's default mode
    book.set_mode("a", "ltp", [408065])
    book.set_mode("b", "full", [408065])
    assert book.upstream()[0][408065] == "full"
    assert book.wants("a") == {408065: "ltp", 256265: "quote"} and book.wants("b") == {408065: "full"}
    book.unsubscribe("b", [408065])
    assert book.upstream()[0][408065] == "ltp"  # the richest mode still wanted
    book.remove("a")
    assert book.upstream() == [{}, {}, {}] and book.load() == [0, 0, 0]


def test_connections_fill_in_order_and_instruments_stay_where_they_are():
    book = SubscriptionBook(connections=3, per_connection=4)
    book.subscribe("a", range(1, 7))
    assert book.load() == [4, 2, 0]
    book.unsubscribe("a", [1, 2])
    book.subscribe("b", [5, 6, 7, 8])  # 5 and 6 are carried already, on the second connection
    assert book.load() == [4, 2, 0]
    assert set(book.upstream()[0]) == {3, 4, 7, 8} and set(book.upstream()[1]) == {5, 6}


def test_past_the_capacity_only_the_client_that_asked_is_refused():
    book = SubscriptionBook(connections=3, per_connection=3)
    assert book.subscribe("a", range(8)) is None
    error = book.subscribe("b", [7, 100, 101, 102])
    assert error.startswith("Maximum of 9 instruments") and error.endswith("2 not subscribed")
    assert book.wants("b") == {7: "quote", 100: "quote"} and len(book.wants("a")) == 8  # a is unaffected
    assert sum(book.load()) == 9


def test_what_is_not_an_instrument_token_is_refused_by_name_and_the_rest_subscribed():
    book = SubscriptionBook()
    error = book.subscribe("a", ["x", True, 1.5, -1, 2**32, 408065, 2**32 - 1])
    assert error == "5 not subscribed: not instrument tokens (whole numbers from 0 to 4294967295)"
    book.unsubscribe("a", [2**32 - 1])
    assert book.wants("a") == {408065: "quote"}
    assert book.set_mode("a", "fast", [408065]).startswith("Invalid mode")
    book.set_mode("a", "full", [999])  # not subscribed: nothing happens
    book.unsubscribe("a", [999, "x"])
    assert book.upstream()[0] == {408065: "quote"}


def test_a_share_caps_what_one_program_adds_and_says_what_it_is():
    book = SubscriptionBook()
    assert book.subscribe("a", [1, 2, 3], most=5) is None
    error = book.subscribe("a", [3, 4, 5, 6, 7], most=2, share_note="a's share is 5")
    assert error == "2 not subscribed: a's share is 5"
    assert sorted(book.wants("a")) == [1, 2, 3, 4, 5]  # 3 was held already and costs nothing
