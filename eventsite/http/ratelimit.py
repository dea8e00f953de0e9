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
    # Behind a proxy REMOTE_ADDR is the proxy's; operators set AUTH_CLIENT_IP_HEADER to the
    # header their proxy writes (e.g. HTTP_X_REAL_IP). Never trust it without a proxy.
    header = settings.AUTH_CLIENT_IP_HEADER
    if header and request.META.get(header):
        return request.META[header].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "unknown")


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
