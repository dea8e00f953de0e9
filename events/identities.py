"""User identities: normalisation and hashing, shared by ingest and purge.

Each identity is stored as the SHA-256 hex digest of its normalised value. A client may
send `hash1:<sha256 hex>` instead of the raw value (kSense); that digest is stored as is,
so a purge by the raw value finds events that arrived pre-hashed, and the reverse.
"""

import hashlib
import hmac
import re

from django.conf import settings

from events.models import IDENTITY_TYPES
from eventsite.lib.errors import InvalidInput

_HASH1 = re.compile(r"^hash1:([0-9a-fA-F]{64})$")
_NON_DIGITS = re.compile(r"\D")
MAX_IDENTITY_LENGTH = 512


def normalize_identity_value(kind: str, value: str) -> str:
    """The canonical text form of an identity: what is hashed."""
    if kind == "email":
        return value.strip().lower()
    if kind == "phone":
        digits = _NON_DIGITS.sub("", value)
        if not digits:
            raise InvalidInput(f"user_id.phone {value[:40]!r} has no digits", field="phone")
        return "+" + digits
    if kind in ("idfa", "gaid"):
        return value.strip().lower()
    return value.strip()


def identity_type_check(kind: str, *, field: str = "user_id_type") -> str:
    """kind, if it is one of the identity types; the one check ingest, purges and suppressions share."""
    if kind not in IDENTITY_TYPES:
        raise InvalidInput(f"{field} must be one of {', '.join(IDENTITY_TYPES)}; {kind!r} is not", field=field)
    return kind


def identity_digest(kind: str, value, *, where: str = "user_id") -> str | None:
    """SHA-256 hex of a normalised identity, or None for an absent/empty value."""
    identity_type_check(kind, field=kind)
    if value is None:
        return None
    # Numeric user ids are common (Jitsu's user.id); contact identities must be text.
    numeric_allowed = kind in ("internal_id", "anonymous_id")
    if isinstance(value, bool) or not isinstance(value, (str, int) if numeric_allowed else str):
        raise InvalidInput(f"{where}.{kind} must be a string", field=kind)
    value = str(value)
    if value == "":
        return None
    if len(value) > MAX_IDENTITY_LENGTH:
        raise InvalidInput(f"{where}.{kind} is longer than {MAX_IDENTITY_LENGTH} characters", field=kind)
    hashed = _HASH1.match(value)
    if hashed:
        return hashed.group(1).lower()
    if value.startswith("hash1:"):
        raise InvalidInput(f"{where}.{kind} starts with hash1: but is not followed by 64 hex digits", field=kind)
    try:
        encoded = normalize_identity_value(kind, value).encode()
    except UnicodeEncodeError:  # a lone surrogate (no JSON body holds one; found by the property tests)
        raise InvalidInput(f"{where}.{kind} is not valid Unicode", field=kind) from None
    return hashlib.sha256(encoded).hexdigest()


def user_id_hmac(*, datasource, kind: str, digest: str) -> str:
    """A keyed hash for purge audits: proves which user was purged to whoever holds SECRET_KEY.
    The spool's drain compares it with the identities of spooled events (a purge wins)."""
    message = f"{datasource.pk}:{kind}:{digest}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()
