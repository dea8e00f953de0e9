"""Rate limiting of failed authentication, per client address, in the Django cache.

Fixed one-minute windows: after AUTH_FAILURE_LIMIT failed credentials from one address,
further attempts from it get 429 with Retry-After until the window ends, whatever the
credentials. The cache is Redis in production; if it is down the limiter lets requests
through (fails open): brute-force protection must never take ingest down with it.
"""

import logging
import time

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest

from eventsite.lib.errors import TooManyRequests

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60


def client_address(request: HttpRequest) -> str:
    """The address failed attempts are counted against (django-axes uses it too).

    Without AUTH_CLIENT_IP_HEADER it is REMOTE_ADDR. Behind proxies it is read from that header
    counting AUTH_TRUSTED_PROXY_COUNT entries from the right: each trusted proxy appends the address it
    received from, so the entries on the left are whatever the client sent. The first entry of
    X-Forwarded-For was used before, which let anyone lock out any address or rotate made-up ones and
    never be limited (issue 11). A header with fewer entries than trusted proxies did not come through
    all of them: REMOTE_ADDR then, as Werkzeug's ProxyFix does.
    """
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    header = settings.AUTH_CLIENT_IP_HEADER
    if not header:
        return remote
    entries = [entry.strip() for entry in request.META.get(header, "").split(",") if entry.strip()]
    count = settings.AUTH_TRUSTED_PROXY_COUNT
    return entries[-count] if len(entries) >= count else remote


def _key(scope: str, address: str) -> tuple[str, int]:
    window = int(time.time() // WINDOW_SECONDS)
    return f"{settings.RATELIMIT_NAMESPACE}:{scope}:{address}:{window}", window


def check_auth_failures(request: HttpRequest, *, scope: str) -> None:
    """Raise TooManyRequests if this address has used up its failed attempts this window."""
    key, window = _key(scope, client_address(request))
    try:
        failures = caches["ratelimit"].get(key, 0)
    except Exception:  # noqa: BLE001 - any cache outage: fail open
        logger.warning("rate-limit cache unavailable; allowing the request")
        return
    if failures >= settings.AUTH_FAILURE_LIMIT:
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - time.time()))
        raise TooManyRequests("Too many failed authentication attempts; retry later", retry_after=retry_after)


def note_auth_failure(request: HttpRequest, *, scope: str) -> None:
    key, _window = _key(scope, client_address(request))
    cache = caches["ratelimit"]
    try:
        if not cache.add(key, 1, timeout=WINDOW_SECONDS * 2):
            cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=WINDOW_SECONDS * 2)
    except Exception:  # noqa: BLE001 - any cache outage: fail open
        logger.warning("rate-limit cache unavailable; failure not counted")
