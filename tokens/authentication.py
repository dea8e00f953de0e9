"""Finding and checking the token of an API request (kSense and Jitsu families).

The token may come in the X-KSense-Tok header, an `Authorization: Bearer` header, or the
`token` / `tok` query parameter (the kSense docs name both). It is never logged.
"""

import hmac
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest
from django.utils import timezone

from eventsite.lib import ratelimit
from eventsite.lib.errors import AuthenticationFailed, PermissionDenied, ServiceUnavailable
from tokens.cache import token_cache
from tokens.models import Token
from tokens.services import token_hash

# last_used_at is written at most this often per token, to keep ingest free of extra writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_TOKEN_LENGTH = 200




def _load_token(digest: str) -> Token | None:
    ttl = settings.TOKEN_CACHE_SECONDS
    token = token_cache.get(digest) if ttl else None
    if token is None:
        token = Token.objects.select_related("datasource").filter(secret_hash=digest).first()
        if token is not None and ttl:
            token_cache.put(digest, token, ttl)
    return token


def token_from_request(request: HttpRequest) -> str | None:
    raw = request.headers.get("X-KSense-Tok")
    if not raw:
        authorization = request.headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            raw = authorization[7:]
    if not raw:
        raw = request.GET.get("token") or request.GET.get("tok")
    return raw.strip() if raw else None


def token_authenticate(*, raw: str | None, scope: str) -> Token:
    """The active token for raw with the given scope, or a 401/403 domain error."""
    if not raw:
        raise AuthenticationFailed("A token is required: send it in X-KSense-Tok or ?token=")
    if len(raw) > MAX_TOKEN_LENGTH:
        raise AuthenticationFailed("The token is not valid")
    digest = token_hash(raw)
    try:
        token = _load_token(digest)
        # The lookup is by hash; comparing the stored hash in constant time as well keeps
        # the check free of timing differences whatever the index does.
        if token is None or not hmac.compare_digest(token.secret_hash, digest):
            raise AuthenticationFailed("The token is not valid")
        now = timezone.now()
        if token.revoked_at is not None:
            raise AuthenticationFailed("The token has been revoked")
        if token.expires_at is not None and token.expires_at <= now:
            raise AuthenticationFailed("The token has expired")
        if token.scope != scope:
            raise PermissionDenied(f"This token has the {token.scope!r} scope; this call needs {scope!r}")
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            Token.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
    except (OperationalError, InterfaceError) as exc:
        raise ServiceUnavailable("The database is unavailable; retry shortly") from exc
    return token


def authenticate_request(request: HttpRequest, *, scope: str) -> Token:
    # Failed attempts are rate-limited per client IP (429 once over the limit); successes never
    # touch the limiter's cache.
    key = ratelimit.client_key(request)
    ratelimit.check(key)
    try:
        return token_authenticate(raw=token_from_request(request), scope=scope)
    except AuthenticationFailed:
        ratelimit.note_failure(key)
        raise
