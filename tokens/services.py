"""Issuing and revoking tokens. The raw secret is returned once and never stored."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from events.models import DataSource
from eventsite.audit.services import staff_action_record
from eventsite.lib.errors import InvalidInput
from tokens.cache import token_cache
from tokens.models import Scope, Token

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
