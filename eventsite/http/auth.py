"""Credentials carried by requests: API tokens (kSense, Barchart, Jitsu) and HTTP Basic report users.

A token may come in the X-KSense-Tok header, an `Authorization: Bearer` header, or the
`token` / `tok` query parameter (the kSense docs name both). Failed attempts are rate-limited
per client address (eventsite/http/ratelimit.py). Credentials are never logged.
"""

import base64
import binascii

from django.contrib.auth import authenticate
from django.http import HttpRequest

from eventsite.http.ratelimit import check_auth_failures, note_auth_failure
from eventsite.lib.errors import AuthenticationFailed
from reports.principals import ReportPrincipal, report_principal_for
from tokens.authentication import token_authenticate, token_recently_verified
from tokens.models import Token

# The credentials read here as OpenAPI security schemes (eventsite/http/openapi.py registers them).
SECURITY_SCHEMES = {
    "ksenseTok": {"type": "apiKey", "in": "header", "name": "X-KSense-Tok"},
    "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
    "tokQuery": {"type": "apiKey", "in": "query", "name": "tok"},
    "bearerAuth": {"type": "http", "scheme": "bearer"},
    "basicAuth": {"type": "http", "scheme": "basic"},
}
TOKEN_SCHEMES = ("ksenseTok", "tokenQuery", "tokQuery", "bearerAuth")  # token_from_request: any one of them
BASIC_SCHEMES = ("basicAuth",)  # report_user_authenticate


def token_from_request(request: HttpRequest) -> str | None:
    raw = request.headers.get("X-KSense-Tok")
    if not raw:
        authorization = request.headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            raw = authorization[7:]
    if not raw:
        raw = request.GET.get("token") or request.GET.get("tok")
    return raw.strip() if raw else None


def authenticate_request(request: HttpRequest, *, scope: str) -> Token:
    """token_authenticate for a request, with failed attempts rate-limited per address."""
    raw = token_from_request(request)
    # A token in the cache was valid moments ago, so it cannot be a guess: the hot path
    # skips the limiter's cache round trip.
    if not raw or not token_recently_verified(raw=raw):
        check_auth_failures(request, scope="token")
    try:
        return token_authenticate(raw=raw, scope=scope)
    except AuthenticationFailed:
        if raw:  # a wrong credential, not a client that simply sent none
            note_auth_failure(request, scope="token")
        raise


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, separator, password = decoded.partition(":")
    # NUL can be in no stored username, and PostgreSQL refuses it in the lockout bookkeeping's query (was a 500).
    if not separator or "\x00" in decoded:
        return None
    return username, password


def report_user_authenticate(request: HttpRequest) -> ReportPrincipal:
    """The report principal of a request with valid Basic credentials, else AuthenticationFailed."""
    credentials = basic_credentials(request)
    if credentials is None:
        raise AuthenticationFailed("Unauthorized")
    check_auth_failures(request, scope="basic")
    # The request goes along so django-axes can count and lock out this login.
    user = authenticate(request, username=credentials[0], password=credentials[1])
    if user is None or not user.is_active:
        note_auth_failure(request, scope="basic")
        raise AuthenticationFailed("Unauthorized")
    return report_principal_for(user=user)
