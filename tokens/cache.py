"""A short per-process cache of tokens by secret hash (see _TokenCache)."""

import threading
import time


class _TokenCache:
    """Tokens by secret hash for a few seconds, per process: most ingest requests then need
    no token query. Revocation in this process evicts at once; other processes see it
    within settings.TOKEN_CACHE_SECONDS. Expiry and scope are still checked on every call."""

    MAX_ENTRIES = 10_000

    def __init__(self):
        self._entries: dict = {}
        self._lock = threading.Lock()

    def get(self, digest: str):
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, token, ttl: float) -> None:
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + ttl, token)

    def evict(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


token_cache = _TokenCache()
