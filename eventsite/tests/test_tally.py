"""eventsite.lib.tally: counts kept in memory, handed to a sink, never lost to a failing sink."""

import time
from collections import Counter

from eventsite.lib.tally import Tally


def test_it_hands_the_counts_to_the_sink_and_starts_again_from_zero():
    written = []
    tally = Tally("t")
    tally.set_sink(lambda batch: (written.append(dict(batch)), Counter())[1], interval=lambda: 0)
    tally.add(("a", 401))
    tally.add(("a", 401))
    tally.add(("b", 413), 3)
    assert tally.flush() == 5
    assert written == [{("a", 401): 2, ("b", 413): 3}]
    assert tally.pending() == Counter() and tally.flush() == 0


def test_what_the_sink_could_not_write_is_kept_for_the_next_flush():
    tally = Tally("t")
    tally.set_sink(lambda batch: Counter({("a", 401): batch[("a", 401)]}), interval=lambda: 0)  # writes only "b"
    tally.add(("a", 401), 2)
    tally.add(("b", 400))
    assert tally.flush() == 1
    tally.add(("a", 401))
    assert tally.pending() == Counter({("a", 401): 3})


def test_a_sink_that_raises_loses_nothing():
    tally = Tally("t")

    def down(batch):
        raise ConnectionError("database down")

    tally.set_sink(down, interval=lambda: 0)
    tally.add("x", 4)
    assert tally.flush() == 0
    assert tally.pending() == Counter({"x": 4})


def test_new_keys_beyond_the_bound_are_dropped_but_known_ones_still_count():
    tally = Tally("t", max_keys=2)
    for key in ("a", "b", "c", "a"):
        tally.add(key)
    assert tally.pending() == Counter({"a": 2, "b": 1})


def test_a_background_thread_flushes_by_itself_when_an_interval_is_set():
    written = Counter()
    tally = Tally("t")
    tally.set_sink(lambda batch: (written.update(batch), Counter())[1], interval=lambda: 0.05)
    tally.add("x")
    deadline = time.monotonic() + 10
    while not written and time.monotonic() < deadline:
        time.sleep(0.02)
    assert written == Counter({"x": 1}) and tally.pending() == Counter()
