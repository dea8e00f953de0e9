"""Checking an API token (kSense, Barchart and Jitsu ingest, kSense purges).

Where a request carries its token is the HTTP layer's business (eventsite/http/auth.py);
here a raw token is verified against the stored hashes. It is never logged.
"""

import hmac
from datetime import timedelta

from django.conf import settings
from django.db import Error as DatabaseFailure
from django.utils import timezone

from eventsite.lib.dberrors import database_errors, database_unavailable
from eventsite.lib.errors import AuthenticationFailed, PermissionDenied
from tokens.cache import token_cache
from tokens.models import Token
from tokens.services import token_hash

# last_used_at is written at most this often per token, to keep ingest free of extra writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_TOKEN_LENGTH = 200


def _load_token(digest: str) -> Token | None:
    ttl = settings.TOKEN_CACHE_SECONDS
    token = token_cache.get(digest) if ttl else None
    if token is not None:
        return token
    try:
        token = Token.objects.select_related("datasource").filter(secret_hash=digest).first()
    except DatabaseFailure as error:
        # The database is away (ingest spools meanwhile): a token this process read within
        # TOKEN_OUTAGE_TRUST_SECONDS stands in, and is still checked for revocation, expiry and
        # scope below. Any other token gets the database error (503), never a 200.
        trusted = token_cache.verified(digest, settings.TOKEN_OUTAGE_TRUST_SECONDS)
        if trusted is None or not database_unavailable(error):
            raise
        return trusted
    if token is not None:
        token_cache.note_verified(digest, token)
        if ttl:
            token_cache.put(digest, token, ttl)
    return token


def token_authenticate(*, raw: str | None, scope: str) -> Token:
    """The active token for raw with the given scope, or a 401/403 domain error."""
    if not raw:
        raise AuthenticationFailed("A token is required: send it in X-KSense-Tok or ?token=")
    if len(raw) > MAX_TOKEN_LENGTH:
        raise AuthenticationFailed("The token is not valid")
    digest = token_hash(raw)
    with database_errors():
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
            # str(): callers pass Scope members, whose repr is the enum's name ("Scope.PURGE").
            raise PermissionDenied(f"This token has the {str(token.scope)!r} scope; this call needs {str(scope)!r}")
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            token.last_used_at = now
            try:
                Token.objects.filter(pk=token.pk).update(last_used_at=now)
            except DatabaseFailure as error:
                if not database_unavailable(error):  # bookkeeping only: an outage must not refuse the request
                    raise
    return token
