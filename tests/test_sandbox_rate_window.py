"""The sandbox's rate limits: a moving window of each class's last second, not a fixed second."""

from kite_sandbox.rate_window import MovingWindow


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_a_window_moves_with_each_hit_and_refusals_do_not_count():
    clock = Clock()
    window = MovingWindow(clock=clock)
    clock.now = 0.5
    assert [window.hit("historical", 3) for _ in range(4)] == [True, True, True, False]
    clock.now = 1.2  # a fixed second would have room again at 1.0
    assert window.hit("historical", 3) is False
    clock.now = 1.5  # the three hits of 0.5 leave the window now; the refused ones never counted
    assert [window.hit("historical", 3) for _ in range(4)] == [True, True, True, False]


def test_each_key_has_its_own_window():
    window = MovingWindow(clock=Clock())
    assert window.hit(("key", "quote"), 1) is True
    assert window.hit(("key", "quote"), 1) is False
    assert window.hit(("key", "other"), 10) is True
    assert window.hit(("another key", "quote"), 1) is True
