"""Issuing and revoking tokens. The raw secret is returned once and never stored."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from events.models import DataSource
from eventsite.audit.services import staff_action_record
from eventsite.lib.errors import AuthenticationFailed, InvalidInput
from tokens.cache import token_cache
from tokens.models import PersonalToken, Scope, Token

TOKEN_PREFIX = "evs_"
HINT_LENGTH = 12


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: Token
    raw: str


def token_hash(raw: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: no dictionary can reach them.
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def token_issue(
    *,
    datasource: DataSource,
    scope: str,
    label: str = "",
    expires_at: datetime | None = None,
    expires_in_days: int | None = None,
) -> IssuedToken:
    if scope not in Scope.values:
        raise InvalidInput(f"Unknown scope {scope!r}; use one of {', '.join(Scope.values)}", field="scope")
    if expires_in_days is not None:
        if expires_in_days < 1:
            raise InvalidInput("expires_in_days must be at least 1", field="expires_in_days")
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = Token.objects.create(
        datasource=datasource,
        scope=scope,
        label=label,
        hint=raw[:HINT_LENGTH],
        secret_hash=token_hash(raw),
        expires_at=expires_at,
    )
    # The hint only (already shown in every list), never the raw value.
    staff_action_record(action="token.issue", target=token, detail={
        "datasource": datasource.slug, "scope": scope, "label": label, "hint": token.hint, "expires_at": expires_at})
    return IssuedToken(token=token, raw=raw)


def token_revoke(*, token: Token) -> Token:
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            staff_action_record(action="token.revoke", target=token,
                                detail={"datasource": token.datasource.slug, "scope": token.scope, "hint": token.hint})
    token_cache.evict(token.secret_hash)
    return token


# Personal API tokens (issue 15): a staff user's credential for the management API, in place of a
# password that would bypass the console's second factor. A prefix of their own, so neither kind of
# token is ever mistaken for the other (in logs, in a leaked-secret scan, at the wrong endpoint).
PERSONAL_TOKEN_PREFIX = "evp_"
# last_used_at is written at most this often per token (a script calling in a loop writes once a minute).
PERSONAL_TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)
PERSONAL_TOKEN_MAX_LENGTH = 200


@dataclass(frozen=True, slots=True)
class IssuedPersonalToken:
    token: PersonalToken
    raw: str


@transaction.atomic
def personal_token_issue(
    *, user, label: str = "", expires_at: datetime | None = None, expires_in_days: int | None = None
) -> IssuedPersonalToken:
    """A new personal token for `user` (who must be an active staff user); the raw value is returned once."""
    if not (user.is_active and user.is_staff):
        raise InvalidInput("Personal API tokens are for active staff users only", field="user")
    if expires_in_days is not None:
        if expires_in_days < 1:
            raise InvalidInput("expires_in_days must be at least 1", field="expires_in_days")
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    raw = PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = PersonalToken.objects.create(
        user=user, label=label, hint=raw[:HINT_LENGTH], secret_hash=token_hash(raw), expires_at=expires_at
    )
    staff_action_record(action="personal_token.issue", target=token,
                        detail={"user": user.get_username(), "hint": token.hint})
    return IssuedPersonalToken(token=token, raw=raw)


def personal_token_revoke(*, token: PersonalToken) -> PersonalToken:
    """Revoke `token` (idempotent: a revoked token keeps its first revocation time)."""
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            staff_action_record(action="personal_token.revoke", target=token,
                                detail={"user": token.user.get_username(), "hint": token.hint})
    return token


def personal_token_authenticate(*, raw: str) -> PersonalToken:
    """The active personal token for `raw`, with its user, or AuthenticationFailed (401).

    Checked on every request (no cache): a revocation, an expiry, or the user losing staff status
    or being deactivated takes effect at once. Its permissions are its user's, read as usual.
    """
    if not raw.startswith(PERSONAL_TOKEN_PREFIX) or len(raw) > PERSONAL_TOKEN_MAX_LENGTH:
        raise AuthenticationFailed("The token is not valid")
    digest = token_hash(raw)
    token = PersonalToken.objects.select_related("user").filter(secret_hash=digest).first()
    # The lookup is by hash; the constant-time comparison keeps the check free of timing differences.
    if token is None or not hmac.compare_digest(token.secret_hash, digest):
        raise AuthenticationFailed("The token is not valid")
    now = timezone.now()
    if token.revoked_at is not None:
        raise AuthenticationFailed("The token has been revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise AuthenticationFailed("The token has expired")
    if not (token.user.is_active and token.user.is_staff):
        raise AuthenticationFailed("The token's user is no longer an active staff user")
    if token.last_used_at is None or now - token.last_used_at > PERSONAL_TOKEN_LAST_USED_RESOLUTION:
        token.last_used_at = now
        PersonalToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
