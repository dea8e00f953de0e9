"""Counting refused API requests for the console's overview, with no database round trip.

api_view wraps every compatible-API view with count_rejections, which counts each answer of
400 or more (no database round trip: a dictionary in this process). The datasource is the
one of the request's token when this process verified that token moments ago (it sits in the
token cache: wrong scope, bad body, too large); otherwise "" (unknown or revoked tokens, no
token). eventsite.console writes the counts (eventsite/lib/tally.py).
"""

import functools

from django.http import HttpRequest
from django.utils import timezone

from eventsite.http.auth import token_from_request
from eventsite.lib.tally import rejected_requests
from tokens.authentication import MAX_TOKEN_LENGTH
from tokens.cache import token_cache
from tokens.services import token_hash


def _datasource_slug(request: HttpRequest) -> str:
    raw = token_from_request(request)
    token = token_cache.get(token_hash(raw)) if raw and len(raw) <= MAX_TOKEN_LENGTH else None
    return token.datasource.slug if token is not None else ""


def count_rejection(request: HttpRequest, status: int) -> None:
    if status < 400:
        return
    try:
        slug = _datasource_slug(request)
    except Exception:  # noqa: BLE001 - counting must never turn an error answer into a 500
        slug = ""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    rejected_requests.add((hour, slug, status))


def count_rejections(view):
    """Wrap a view: count its error answers (it must already turn every exception into an answer)."""

    @functools.wraps(view)
    def counted(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code >= 400:
            count_rejection(request, response.status_code)
        return response

    return counted
