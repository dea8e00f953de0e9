"""In-process counters written out by a background thread: figures collected on a hot path
without a database round trip in the request.

A Tally only adds to a dictionary under a lock. Whoever stores the figures registers a sink
(a function that writes a batch and returns what it could not write); the first add() in a
process then starts a daemon thread that hands the sink the counts every `interval` seconds,
and once more at exit. Counts of a process killed without warning since its last flush are
lost: these are figures for operators, not accounting.
"""

import atexit
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable

logger = logging.getLogger(__name__)

Sink = Callable[[Counter], Counter]


class Tally:
    def __init__(self, name: str, *, max_keys: int = 10_000):
        self.name = name
        self.max_keys = max_keys  # bounds memory while the sink fails: new keys are dropped beyond it
        self._counts: Counter = Counter()
        self._lock = threading.Lock()
        self._sink: Sink | None = None
        self._interval: Callable[[], float] = lambda: 0.0
        self._flusher_pid: int | None = None

    def add(self, key: Hashable, count: int = 1) -> None:
        with self._lock:
            if key in self._counts or len(self._counts) < self.max_keys:
                self._counts[key] += count
        if self._flusher_pid != os.getpid() and self._sink is not None and self._interval() > 0:
            self._start_flusher()

    def set_sink(self, sink: Sink, *, interval: Callable[[], float]) -> None:
        """Who writes the counts, and every how many seconds (read when the thread starts; 0: only
        when flush() is called)."""
        self._sink, self._interval = sink, interval

    def flush(self) -> int:
        """Hand the pending counts to the sink now; what it gives back is kept for the next flush."""
        with self._lock:
            batch, self._counts = self._counts, Counter()
        if not batch or self._sink is None:
            with self._lock:
                self._counts.update(batch)
            return 0
        try:
            left = self._sink(batch)
        except Exception:  # noqa: BLE001 - the store may be down: keep everything for the next try
            logger.warning("could not write the %s counts; keeping them for the next flush", self.name)
            left = batch
        if left:
            with self._lock:
                for key, count in left.items():
                    if key in self._counts or len(self._counts) < self.max_keys:
                        self._counts[key] += count
        return sum(batch.values()) - sum(left.values())

    def pending(self) -> Counter:
        with self._lock:
            return Counter(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def _start_flusher(self) -> None:
        # Lazily, in the process that counts: gunicorn forks its workers after the import.
        with self._lock:
            if self._flusher_pid == os.getpid():
                return
            self._flusher_pid = os.getpid()
        threading.Thread(target=self._flush_forever, name=f"{self.name}-flusher", daemon=True).start()
        atexit.register(self.flush)

    def _flush_forever(self) -> None:
        interval = self._interval()
        while True:
            time.sleep(interval)
            self.flush()


# API requests refused, by (hour, datasource slug or "", status): counted by eventsite.http,
# written by eventsite.console.
rejected_requests = Tally("rejected-requests")
