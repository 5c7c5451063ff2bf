"""The hub's rules without sockets: how many upstream connections, what each carries, and a client
that reads too slowly dropped with a reason while the others get every frame."""

import json
import time

from kite_sandbox.ticker_packets import Tick, frame, packet
from kite_service.ticker.frames import split
from kite_service.ticker.hub import TickerHub
from kite_service.ticker.subscriptions import SubscriptionBook
from kite_service.ticker.upstream import StreamState, subscription_messages

INFY, NIFTY = 408065, 256265


class FakeConnection:
    def __init__(self, name="fake"):
        self.name, self.on_binary, self.on_text, self.wanted, self.running = name, None, None, {}, False
        self.tick_frames = 0

    @property
    def state(self):
        return StreamState("connected" if self.running else "off", None)

    def want(self, wanted):
        self.wanted = dict(wanted)

    def start(self):
        self.running = True

    def stop(self):
        self.running = False


class FakeClient:
    def __init__(self, name, queue_limit=100):
        self.name, self.queue_limit, self.got, self.closed, self.waiting, self.lag = name, queue_limit, [], None, 0, 0.0

    def offer(self, message, received_at=None) -> bool:
        if len(self.got) >= self.queue_limit:
            return False
        self.got.append(message)
        return True

    def latency_ms(self):
        return {"p50": None, "p99": None, "written_p99": None}

    def close(self, code=1000, reason=""):
        self.closed = (code, reason)


def made_hub(per_connection=3000):
    first, made = FakeConnection("first"), []

    def more(index):
        made.append(FakeConnection(f"more-{index}"))
        return made[-1]

    return TickerHub(first, more, book=SubscriptionBook(per_connection=per_connection)), first, made


def subscribe(hub, client, tokens, mode=None):
    assert hub.handle(client, json.dumps({"a": "subscribe", "v": tokens})) is None
    if mode:
        hub.handle(client, json.dumps({"a": "mode", "v": [mode, tokens]}))


def test_more_connections_only_when_the_first_is_full_and_never_a_fourth():
    hub, first, made = made_hub(per_connection=2)
    client = FakeClient("a")
    hub.add(client)
    subscribe(hub, client, [1, 2])
    assert first.wanted == {1: "quote", 2: "quote"} and first.running and made == []
    subscribe(hub, client, [3, 4, 5])
    assert [c.wanted for c in made] == [{3: "quote", 4: "quote"}, {5: "quote"}] and all(c.running for c in made)
    problem = hub.handle(client, json.dumps({"a": "subscribe", "v": [6, 7]}))
    assert problem.startswith("Maximum of 6 instruments") and len(made) == 2
    hub.handle(client, json.dumps({"a": "unsubscribe", "v": [5, 6]}))  # 6 fitted, 7 did not
    time.sleep(0.1)  # stopped on a thread of its own
    assert made[1].running is False and hub.status()["upstream"][-1]["name"] == "more-1"


def test_each_client_gets_its_instruments_in_its_mode_and_a_slow_one_is_dropped():
    hub, first, _ = made_hub()
    quick, slow = FakeClient("quick"), FakeClient("slow", queue_limit=1)
    for client in (quick, slow):
        hub.add(client)
    subscribe(hub, quick, [INFY], "ltp")
    subscribe(hub, slow, [INFY, NIFTY], "full")
    assert first.wanted == {INFY: "full", NIFTY: "full"}
    ticks = [Tick(token=INFY, last_price=1500.0), Tick(token=NIFTY, last_price=24000.0)]
    upstream = frame([packet(tick, "full") for tick in ticks])
    for _ in range(3):
        first.on_binary(upstream)
    assert [split(message) for message in quick.got] == [{INFY: packet(ticks[0], "ltp")}] * 3
    assert split(slow.got[0]) == {INFY: packet(ticks[0], "full"), NIFTY: packet(ticks[1], "full")}
    time.sleep(0.1)  # closed on a thread of its own
    assert slow.closed[0] == 1008 and slow.closed[1].startswith("Too slow: 0 messages waiting, 0 s behind")
    assert len(slow.closed[1].encode()) <= 123  # fits a close frame
    assert first.wanted == {INFY: "ltp"}  # the slow client's subscriptions are gone with it


def test_order_updates_go_to_every_client_and_nothing_else_does():
    hub, first, _ = made_hub()
    clients = [FakeClient("a"), FakeClient("b")]
    for client in clients:
        hub.add(client)
    update = json.dumps({"type": "order", "data": {"order_id": "1", "status": "COMPLETE"}})
    first.on_text(update)
    first.on_text(json.dumps({"type": "error", "data": "for the hub's own connection"}))
    first.on_text("not json")
    assert [client.got for client in clients] == [[update], [update]]


def test_upstream_is_asked_for_the_difference():
    assert subscription_messages({}, {1: "quote", 2: "full"}) == [
        {"a": "subscribe", "v": [1, 2]},
        {"a": "mode", "v": ["full", [2]]},
    ]
    assert subscription_messages({1: "quote", 2: "full"}, {2: "ltp", 3: "quote"}) == [
        {"a": "unsubscribe", "v": [1]},
        {"a": "subscribe", "v": [3]},
        {"a": "mode", "v": ["ltp", [2]]},
    ]
    assert subscription_messages({1: "quote"}, {1: "quote"}) == []


def test_a_client_far_behind_is_refused_more_by_count_bytes_or_age():
    from kite_service.ticker.local_server import MAX_LAG_SECONDS, LocalClient

    by_count = LocalClient("a", websocket=None, queue_limit=2)
    assert by_count.offer(b"1") and by_count.offer(b"2") and not by_count.offer(b"3")
    by_bytes = LocalClient("b", websocket=None, byte_limit=10)
    assert by_bytes.offer(b"x" * 8) and not by_bytes.offer(b"x" * 3)
    by_age = LocalClient("c", websocket=None)
    assert by_age.offer(b"old", received_at=time.monotonic() - MAX_LAG_SECONDS - 1)
    assert not by_age.offer(b"new") and by_age.lag > MAX_LAG_SECONDS


def test_status_reports_the_hubs_own_work_per_frame_once_frames_came():
    hub, first, _ = made_hub()
    client = FakeClient("a")
    hub.add(client)
    subscribe(hub, client, [INFY], "full")
    assert hub.status(with_subscriptions=True)["frame_work_ms"] == {"p50": None, "p99": None}
    upstream = frame([packet(Tick(token=INFY, last_price=1500.0), "full")])
    for _ in range(5):
        first.on_binary(upstream)
    work = hub.status(with_subscriptions=True)["frame_work_ms"]
    assert 0 <= work["p50"] <= work["p99"] < 1000  # milliseconds of CPU, not a clock's seconds
    assert "frame_work_ms" not in hub.status()  # /health's short form leaves it out
