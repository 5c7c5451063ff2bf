"""The /day page's live feed on its own: what a page missed is replayed from its mark, a page that
cannot be caught up is told to reload, the number of pages is capped, and a closed page is dropped."""

import json
import threading
from types import SimpleNamespace

import pytest

from kite_service.day import feed as feed_module
from kite_service.day.feed import MAX_PAGES, DayFeed, PagesFullError


class Sections:
    """What the page's sections say now: the test changes it and the feed sends the change."""

    def __init__(self):
        self.html = {"session": "<section id='session'>valid</section>", "pnl": "<section id='pnl'>0</section>"}
        self.orders = {}

    def __call__(self):
        return dict(self.html)

    def rows(self, order_ids):
        return {order_id: self.orders.get(order_id, f"<li id='order-{order_id}'></li>") for order_id in order_ids}


@pytest.fixture
def parts():
    sections = Sections()
    feed = DayFeed(sections, sections.rows)
    yield feed, sections
    feed.stop()


def messages(stream, count: int) -> list:
    """The next `count` events of a stream (heartbeats and the retry line skipped), as (event, data)."""
    found = []
    for chunk in stream:
        text = chunk.decode()
        if text.startswith(("retry:", ":")):
            continue
        fields = dict(line.split(": ", 1) for line in text.strip().splitlines())
        found.append((fields["event"], json.loads(fields["data"])))
        if len(found) == count:
            return found
    return found


def event(order_id: str):
    return SimpleNamespace(order_id=order_id)


def test_an_open_page_hears_what_changed_and_only_that(parts):
    feed, sections = parts
    stream = feed.stream(feed.mark)
    first = messages(stream, 2)  # the feed's first pass: every section once
    assert sorted(data["id"] for _, data in first) == ["pnl", "session"]
    sections.html["pnl"] = "<section id='pnl'>+120.00</section>"
    feed.orders_changed([event("151")])
    # In either order: the feed's pass of each second may send the P&L before the order event wakes it.
    assert sorted(messages(stream, 2)) == [
        ("order", {"id": "151", "html": "<li id='order-151'></li>"}),
        ("section", {"id": "pnl", "html": "<section id='pnl'>+120.00</section>"}),
    ]  # the session did not change, so it is not sent again
    stream.close()
    assert feed.open_pages == 0


def test_a_page_gets_what_came_after_its_mark_and_a_page_too_far_behind_reloads(parts):
    feed, _ = parts
    watcher = feed.stream(feed.mark)
    messages(watcher, 2)
    rendered_at = feed.mark  # a page rendered now...
    feed.orders_changed([event("201")])
    feed.orders_changed([event("202")])
    messages(watcher, 2)
    late = feed.stream(rendered_at)  # ...whose stream opens after two orders changed
    assert [data["id"] for _, data in messages(late, 2)] == ["201", "202"]
    late.close()
    for unknown in ("", "elsewhere-3", f"{rendered_at.split('-')[0]}-99999"):  # another process's, or none
        stale = feed.stream(unknown)
        assert messages(stale, 1) == [("reload", {})]
        stale.close()
    watcher.close()


def test_pages_are_capped_and_a_closed_page_frees_its_place(parts):
    feed, _ = parts
    streams = [feed.stream(feed.mark) for _ in range(MAX_PAGES)]
    for stream in streams:
        next(stream)  # each is open once its first bytes are asked for
    with pytest.raises(PagesFullError, match="close one"):
        next(feed.stream(feed.mark))
    streams[0].close()  # the browser went away: waitress closes the stream
    assert feed.open_pages == MAX_PAGES - 1
    streams[0] = feed.stream(feed.mark)
    next(streams[0])
    assert feed.open_pages == MAX_PAGES
    for stream in streams:
        stream.close()


def test_a_page_that_does_not_read_is_told_to_reload_instead_of_growing(parts, monkeypatch):
    monkeypatch.setattr(feed_module, "QUEUE_BYTES", 400)  # about five messages
    feed, _ = parts
    stream = feed.stream(feed.mark)
    next(stream)
    done = threading.Event()
    feed._order_rows = lambda ids: (done.set(), {order_id: "<li></li>" for order_id in ids})[1]
    for number in range(20):
        feed.orders_changed([event(str(number))])
        done.wait(2)
        done.clear()
    received = messages(stream, 8)
    assert received[-1] == ("reload", {}) and len(received) <= 6  # at most five kept, then the reload
    assert feed.open_pages == 0


def test_stopping_the_feed_ends_every_open_stream_at_once(parts):
    feed, _ = parts
    streams = [feed.stream(feed.mark) for _ in range(3)]
    for stream in streams:
        next(stream)  # open, and waiting for what comes
    feed.stop()  # the service stops: its threads must not wait out a heartbeat
    for stream in streams:
        assert list(stream) == []
    assert feed.open_pages == 0
    with pytest.raises(PagesFullError, match="stopping"):  # a browser reconnecting meanwhile waits outside
        feed.stream(feed.mark)
