"""A short per-process cache of tokens by secret hash (see _TokenCache), and the process's memory
of when it last verified each token in the database, for database outages (see verified)."""

import threading
import time


class _TokenCache:
    """Tokens by secret hash for a few seconds, per process: most ingest requests then need
    no token query. Revocation in this process evicts at once; other processes see it
    within settings.TOKEN_CACHE_SECONDS. Expiry and scope are still checked on every call."""

    MAX_ENTRIES = 10_000

    def __init__(self):
        self._entries: dict = {}
        # digest -> (monotonic time of the last database lookup, token as then stored)
        self._verified: dict = {}
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

    def note_verified(self, digest: str, token) -> None:
        """The token was just read from the database (whatever its state)."""
        with self._lock:
            if len(self._verified) >= self.MAX_ENTRIES:
                self._verified.clear()
            self._verified[digest] = (time.monotonic(), token)

    def verified(self, digest: str, within: float):
        """The token as this process last read it from the database, if that was at most `within`
        seconds ago; used only while the database is unreachable. The caller still checks
        revocation, expiry and scope on it, so a token seen revoked stays refused."""
        entry = self._verified.get(digest)
        if entry is None or time.monotonic() - entry[0] > within:
            return None
        return entry[1]

    def evict(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)
            self._verified.pop(digest, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._verified.clear()


token_cache = _TokenCache()
