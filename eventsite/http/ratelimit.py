"""Rate limiting of failed authentication, per client address, in the Django cache.

Fixed one-minute windows: after AUTH_FAILURE_LIMIT failed credentials from one address,
further attempts from it get 429 with Retry-After until the window ends, whatever the
credentials. The cache is Redis in production; if it is down the limiter lets requests
through (fails open): brute-force protection must never take ingest down with it.
"""

import hashlib
import ipaddress
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


def client_ip_for_axes(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: client_address, or None when it is not an IP address (axes stores it in an
    inet column on PostgreSQL, which refuses anything else)."""
    address = client_address(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    return address


def _keys(request: HttpRequest, scope: str, username: str | None) -> tuple[list[str], int]:
    """The counters an attempt is charged to: its address, and for Basic auth its username too (an
    attacker with many addresses still gets AUTH_FAILURE_LIMIT guesses a minute at one user)."""
    window = int(time.time() // WINDOW_SECONDS)
    keys = [f"{settings.RATELIMIT_NAMESPACE}:{scope}:{client_address(request)}:{window}"]
    if username is not None:
        # Hashed: a username is any text the client sends, the key stays short and plain.
        user = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        keys.append(f"{settings.RATELIMIT_NAMESPACE}:{scope}-user:{user}:{window}")
    return keys, window


def check_auth_failures(request: HttpRequest, *, scope: str, username: str | None = None) -> None:
    """Raise TooManyRequests if this address (or username) has used up its failed attempts this window."""
    keys, window = _keys(request, scope, username)
    try:
        counts = caches["ratelimit"].get_many(keys)
    except Exception:  # noqa: BLE001 - any cache outage: fail open
        logger.warning("rate-limit cache unavailable; allowing the request")
        return
    if any(count >= settings.AUTH_FAILURE_LIMIT for count in counts.values()):
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - time.time()))
        raise TooManyRequests("Too many failed authentication attempts; retry later", retry_after=retry_after)


def note_auth_failure(request: HttpRequest, *, scope: str, username: str | None = None) -> None:
    keys, _window = _keys(request, scope, username)
    cache = caches["ratelimit"]
    for key in keys:
        try:
            if not cache.add(key, 1, timeout=WINDOW_SECONDS * 2):
                cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=WINDOW_SECONDS * 2)
        except Exception:  # noqa: BLE001 - any cache outage: fail open
            logger.warning("rate-limit cache unavailable; failure not counted")
            return
