"""A short per-process cache of tokens by secret hash (see _TokenCache), and the process's memory
of when it last verified each token in the database, for database outages (see verified)."""

import threading
import time

from eventsite.lib import verified


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
        """The token was just read from the database (whatever its state). Other web processes of
        the host learn it too, at most once a minute per token (a file write)."""
        with self._lock:
            if len(self._verified) >= self.MAX_ENTRIES:
                self._verified.clear()
            previous = self._verified.get(digest)
            self._verified[digest] = (time.monotonic(), token)
        if previous is None or time.monotonic() - previous[0] > 60 or previous[1].revoked_at != token.revoked_at:
            verified.remember("token", digest, token)

    def verified(self, digest: str, within: float):
        """The token as this host last read it from the database, if that was at most `within`
        seconds ago; used only while the database is unreachable. The caller still checks
        revocation, expiry and scope on it, so a token seen revoked stays refused."""
        entry = self._verified.get(digest)
        if entry is not None and time.monotonic() - entry[0] <= within:
            return entry[1]
        return verified.recall("token", digest, within=within)

    def evict(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)
            self._verified.pop(digest, None)
        verified.forget("token", digest)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._verified.clear()


token_cache = _TokenCache()
