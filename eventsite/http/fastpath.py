"""The ingest fast path: single-event ingest is most of the traffic a deployment sees, and it
needs none of the browser machinery (sessions, CSRF, authentication, messages, django-axes).

IngestFastPathMiddleware sits right after the middleware every request needs (security headers,
static files, and whatever operations middleware precedes it) and calls the ingest views itself,
skipping the rest of the stack. The views are csrf-exempt, authenticate by token and render
their own errors (eventsite/http/common.py api_view), so nothing they rely on is skipped.
"""

from django.db import connections
from django.urls import resolve, reverse

INGEST_URL_NAMES = ("ksense-post-event", "jitsu-event", "jitsu-s2s-event", "barchart-events")


class IngestFastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # The ingest paths have no parameters: resolved once, at start-up.
        self.matches = {path: resolve(path) for path in (reverse(name) for name in INGEST_URL_NAMES)}

    def __call__(self, request):
        match = self.matches.get(request.path_info)
        if match is None:
            return self.get_response(request)
        request.resolver_match = match
        # A connection that failed since its last use is still checked (Django does that at
        # request start whatever this says); a healthy one skips the per-request SELECT 1:
        # a dead socket fails the insert, which answers 503 (or spools) and drops the connection.
        for connection in connections.all(initialized_only=True):
            if not connection.errors_occurred:
                connection.health_check_done = True
        return match.func(request, *match.args, **match.kwargs)
