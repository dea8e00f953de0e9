"""Rate limit of failed authentication, per client IP (token auth and report users' Basic auth).

Tiny API:
    key = client_key(request)      # "authfail:<ip>"
    check(key)                     # raises TooManyRequests (429) while the key is blocked
    note_failure(key)              # counts a failure; raises TooManyRequests once over the limit

Counts live in the Django cache (Redis in production, so all gunicorn workers share them) in
fixed windows of AUTH_FAILURE_WINDOW_SECONDS. Only failures touch the cache: check() reads a
per-process memo of blocked keys, so a successful request never waits on Redis, and ingest keeps
working when Redis is down. Every cache error fails OPEN (the request goes on as if unlimited):
an outage of the cache must never turn into 500s or lock out real clients.
"""

import logging
import threading
import time

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest

from eventsite.lib.errors import TooManyRequests

logger = logging.getLogger(__name__)

_blocked: dict[str, float] = {}  # key -> wall-clock time at which its block ends
_lock = threading.Lock()


def client_key(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    return f"authfail:{request.META.get('REMOTE_ADDR') or 'unknown'}"


def _window() -> int:
    return settings.AUTH_FAILURE_WINDOW_SECONDS


def _limit() -> int:
    return settings.AUTH_FAILURE_LIMIT


def _refuse(until: float) -> TooManyRequests:
    retry_after = max(1, int(until - time.time() + 0.999))
    return TooManyRequests(
        f"Too many failed authentication attempts; retry in {retry_after} s", retry_after=retry_after
    )


def check(key: str) -> None:
    """Raise TooManyRequests if this process has seen key go over the limit in the current window."""
    with _lock:
        until = _blocked.get(key)
        if until is None:
            return
        if until <= time.time():
            del _blocked[key]
            return
    raise _refuse(until)


def note_failure(key: str) -> None:
    """Count one failed attempt for key; raise TooManyRequests if that puts it over the limit."""
    window = _window()
    now = time.time()
    bucket = int(now // window)
    until = (bucket + 1) * window
    cache_key = f"{key}:{bucket}"
    cache = caches[settings.AUTH_FAILURE_CACHE]
    try:
        # add() is a no-op when the key exists; incr() is atomic on Redis.
        cache.add(cache_key, 0, timeout=window + 1)
        count = cache.incr(cache_key)
    except Exception:  # noqa: BLE001 - any cache failure (Redis down, timeout) fails open
        logger.warning("auth failure rate limit unavailable (cache error); allowing the request")
        return
    if count > _limit():
        with _lock:
            _blocked[key] = until
            if len(_blocked) > 10_000:  # bounded memory under an address-spraying attack
                for stale in [k for k, v in _blocked.items() if v <= now]:
                    del _blocked[stale]
        raise _refuse(until)


def reset() -> None:
    """Forget this process's blocks (tests)."""
    with _lock:
        _blocked.clear()
