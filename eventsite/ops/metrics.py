"""GET /metrics: the Prometheus text format, for a scraper holding METRICS_TOKEN (bearer).

Off (404) while METRICS_TOKEN is unset. In multiprocess mode (eventsite.ops.multiproc) the
figures of every gunicorn worker and Celery process are added up from their files; the spool's
gauges are read when the scrape happens (a custom collector), never on the ingest path.
"""

import hmac
import os

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

import eventsite.lib.metrics  # noqa: F401 - registers the series, so they are listed from the start
from eventsite.ops.multiproc import ENV


class SpoolCollector:
    """The spool's size and age, read from events.spool at scrape time (when this build has a spool)."""

    def collect(self):
        from eventsite.ops.health import spool_status

        try:
            status = spool_status()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the spool cannot be read
            status = None
        if status is None:
            return
        yield GaugeMetricFamily("eventsite_spool_records", "Ingest batches waiting in the spool.",
                                value=status.get("records") or 0)
        yield GaugeMetricFamily("eventsite_spool_bytes", "Size of the spool on this host.",
                                value=status.get("bytes") or 0)
        yield GaugeMetricFamily("eventsite_spool_oldest_age_seconds", "Age of the oldest spooled batch (0 when empty).",
                                value=status.get("oldest_record_age_seconds") or 0)


def registry() -> CollectorRegistry:
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
    else:
        collected = CollectorRegistry()
        collected.register(_Default())
    collected.register(SpoolCollector())
    return collected


class _Default:
    """This process's own series (single-process mode: embedded runs and tests)."""

    def collect(self):
        yield from REGISTRY.collect()


def _authorised(request) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, supplied = header.partition(" ")
    expected = settings.METRICS_TOKEN.encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), expected)


def metrics(request) -> HttpResponse:
    if not settings.METRICS_TOKEN or request.method not in ("GET", "HEAD"):
        return HttpResponse(status=404, content_type="text/plain")
    if not _authorised(request):
        response = HttpResponse(b"unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
