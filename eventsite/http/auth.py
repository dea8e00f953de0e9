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
from eventsite.lib.access import second_factor_required
from eventsite.lib.errors import AuthenticationFailed
from reports.principals import ReportPrincipal, report_principal_for
from tokens.authentication import token_authenticate
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
    """token_authenticate for a request. A token that verifies is never refused; failed attempts are
    rate-limited per address (past the limit they get 429 instead of 401).

    The credential is checked first: checking the limit first let 45 bad tokens from one address make
    a valid, uncached purge token answer 429 (issue 11). A token is 256 random bits, so a guess cannot
    succeed; the limit keeps floods of bad tokens cheap, and costs the hot path nothing.
    """
    raw = token_from_request(request)
    try:
        return token_authenticate(raw=raw, scope=scope)
    except AuthenticationFailed:
        if raw:  # a wrong credential, not a client that simply sent none
            check_auth_failures(request, scope="token")
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
    # Limited before the password is checked: each check is a PBKDF2 run (a quarter of a second of CPU).
    check_auth_failures(request, scope="basic", username=credentials[0])
    # The request goes along so django-axes can count and lock out this login.
    user = authenticate(request, username=credentials[0], password=credentials[1])
    if user is None or not user.is_active:
        note_auth_failure(request, scope="basic", username=credentials[0])
        raise AuthenticationFailed("Unauthorized")
    principal = report_principal_for(user=user)
    # Staff whose rights need a second factor: a password alone must not reach every customer's
    # exports (the console asks them for the second factor; report users are bound to one customer).
    if principal.customer is None and second_factor_required(user):
        # Barchart clients see its fixed 401 body; the reason is for logs and other callers.
        raise AuthenticationFailed("This staff user's rights need a second factor: "
                                   "start and download reports in the console")
    return principal
