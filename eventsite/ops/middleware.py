"""The first middleware: request ids, the operations endpoints, and per-family request metrics.

/healthz, /readyz and /metrics are answered here, before SecurityMiddleware and CommonMiddleware,
because load balancers and Prometheus call an instance by IP address over plain http: neither
ALLOWED_HOSTS (request.get_host() is never called for them) nor the HTTPS redirect applies.
"""

import time

from django.urls import reverse

from eventsite.lib import metrics
from eventsite.lib.context import request_family, request_id, request_method, request_path
from eventsite.ops import health, requestid
from eventsite.ops import metrics as metrics_view

OPS_PATHS = {
    "/healthz": health.healthz,
    "/readyz": health.readyz,
    "/metrics": metrics_view.metrics,
}
# The URL names of the ingest endpoints, by family (a bounded label, never the raw path).
INGEST_URL_NAMES = {
    "ksense-post-event": "ksense",
    "barchart-events": "barchart",
    "jitsu-event": "jitsu",
    "jitsu-s2s-event": "jitsu",
}


def family_of(request) -> str:
    """The API family of a request, for metric labels: from its URL name, else its path prefix."""
    match = getattr(request, "resolver_match", None)
    name = (match.url_name or "") if match is not None else ""
    if name in INGEST_URL_NAMES:
        return INGEST_URL_NAMES[name]
    prefix = name.split("-", 1)[0]
    if prefix in ("ksense", "jitsu", "barchart"):
        return prefix
    if prefix == "report":
        return "reports"
    path = request.path
    if path.startswith("/api/manage/"):
        return "manage"
    if path.startswith("/admin/"):
        return "admin"
    return "other"


class OpsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # The ingest paths have no parameters: known at start-up, so the family is set before the
        # view runs (the ingest fast path calls the view directly, without process_view hooks).
        self.ingest_paths = {reverse(name): family for name, family in INGEST_URL_NAMES.items()}

    def __call__(self, request):
        rid = requestid.from_meta(request.META)
        request.request_id = rid
        # Kept until the response is closed (request_finished clears them): Django logs a request's
        # 4xx/5xx line after the middleware chain has returned, and that line needs the id too.
        request_id.set(rid)
        request_method.set(request.method)
        request_path.set(request.path)
        request_family.set(self.ingest_paths.get(request.path_info))
        view = OPS_PATHS.get(request.path_info)
        response = view(request) if view is not None else self._serve(request)
        response[requestid.HEADER] = rid
        return response

    def _serve(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        family = family_of(request)
        if _is_ingest(request):
            metrics.ingest_request(family=family, status=response.status_code, seconds=time.perf_counter() - started)
        if response.status_code == 401:
            metrics.auth_failed(family=family)
        return response


def clear_request_context(**kwargs) -> None:
    """request_finished: this thread serves no request any more (gthread threads are reused)."""
    for var in (request_id, request_method, request_path, request_family):
        var.set(None)


def _is_ingest(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.url_name in INGEST_URL_NAMES

