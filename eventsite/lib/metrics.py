"""The one small interface through which every layer records its figures for Prometheus.

Recording is a memory (or, in multiprocess mode, an mmap'ed file) write: no network or
database round trip, so it may be called on the ingest path. Label values are bounded sets
(API family, status code, outcome, task name): never a token, a user id, a slug or a raw path.
eventsite.ops serves the figures at /metrics.
"""

from prometheus_client import Counter, Histogram

from eventsite.lib.context import request_family

NAMESPACE = "eventsite"
FAMILIES = ("ksense", "barchart", "jitsu")

INGEST_REQUESTS = Counter(
    "ingest_requests", "Ingest requests answered, by API family and HTTP status code.",
    ["family", "code"], namespace=NAMESPACE,
)
INGEST_LATENCY = Histogram(
    "ingest_request_duration_seconds", "Time to answer an ingest request, by API family.",
    ["family"], namespace=NAMESPACE,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_ACCEPTED = Counter(
    "ingest_events_accepted", "Events stored by ingest.", ["family"], namespace=NAMESPACE,
)
EVENTS_SUPPRESSED = Counter(
    "ingest_events_suppressed", "Events dropped at ingest because their user is suppressed (purged).",
    ["family"], namespace=NAMESPACE,
)
EVENTS_SPOOLED = Counter(
    "ingest_events_spooled",
    "Events acknowledged into the local spool while the database was away (the drain stores them later).",
    ["family"], namespace=NAMESPACE,
)
REQUESTS_REJECTED = Counter(
    "ingest_rejected_requests",
    "Ingest requests refused, by reason; a request is all-or-nothing, so all of its events were refused.",
    ["family", "reason"], namespace=NAMESPACE,
)
BATCH_SIZE = Histogram(
    "ingest_batch_events", "Events per accepted ingest request.", ["family"], namespace=NAMESPACE,
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
AUTH_FAILURES = Counter(
    "auth_failures", "Failed authentications (401 answers, failed admin logins), by API family.",
    ["family"], namespace=NAMESPACE,
)
REPORT_JOBS = Counter(
    "report_jobs", "Report jobs that reached a final status.", ["status"], namespace=NAMESPACE,
)
REPORT_DURATION = Histogram(
    "report_job_duration_seconds", "From a report job's request to its final status.", ["status"],
    namespace=NAMESPACE, buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
)
REPORT_ROWS = Histogram(
    "report_job_rows", "Rows in a completed report file.", namespace=NAMESPACE,
    buckets=(0, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000),
)
PURGES = Counter("purges", "Purges carried out, by kind (user, dataset).", ["kind"], namespace=NAMESPACE)
PURGED_EVENTS = Counter(
    "purge_events_deleted", "Events erased by purges, by kind.", ["kind"], namespace=NAMESPACE,
)
RETENTION_DELETED = Counter(
    "retention_events_deleted", "Events deleted because they passed their datasource's retention.",
    namespace=NAMESPACE,
)
RETENTION_RUNS = Counter(
    "retention_runs", "Retention sweeps of one datasource, by outcome.", ["outcome"], namespace=NAMESPACE,
)
CELERY_TASKS = Counter(
    "celery_tasks", "Celery task executions, by task name and outcome (success, failure, retry).",
    ["task", "outcome"], namespace=NAMESPACE,
)

# Reasons for a refused ingest request, from the status code its family answered with.
REJECT_REASONS = {
    400: "invalid", 401: "unauthenticated", 403: "forbidden", 405: "method", 409: "conflict",
    413: "too_large", 415: "unsupported_media_type", 429: "rate_limited", 503: "unavailable",
}


def _family() -> str:
    # Events also arrive outside a request (a spool drain, a command): "other".
    return request_family.get() or "other"


def ingest_request(*, family: str, status: int, seconds: float) -> None:
    INGEST_REQUESTS.labels(family, str(status)).inc()
    INGEST_LATENCY.labels(family).observe(seconds)
    if status >= 400:
        REQUESTS_REJECTED.labels(family, REJECT_REASONS.get(status, "other" if status < 500 else "error")).inc()


def events_ingested(*, stored: int, suppressed: int) -> None:
    family = _family()
    if stored:
        EVENTS_ACCEPTED.labels(family).inc(stored)
    if suppressed:
        EVENTS_SUPPRESSED.labels(family).inc(suppressed)
    BATCH_SIZE.labels(family).observe(stored + suppressed)


def events_spooled(*, count: int) -> None:
    EVENTS_SPOOLED.labels(_family()).inc(count)


def auth_failed(*, family: str) -> None:
    AUTH_FAILURES.labels(family).inc()


def report_job_finished(*, status: str, seconds: float | None, rows: int | None) -> None:
    REPORT_JOBS.labels(status).inc()
    if seconds is not None:
        REPORT_DURATION.labels(status).observe(max(0.0, seconds))
    if rows is not None:
        REPORT_ROWS.observe(rows)


def purged(*, kind: str, events: int) -> None:
    """kind: "user" when a user's purge is done, "dataset" when a dataset's rows are reclaimed."""
    PURGES.labels(kind).inc()
    if events:
        PURGED_EVENTS.labels(kind).inc(events)


def retention_applied(*, deleted: int, outcome: str = "complete") -> None:
    RETENTION_RUNS.labels(outcome).inc()
    if deleted:
        RETENTION_DELETED.inc(deleted)


def celery_task(*, task: str, outcome: str) -> None:
    CELERY_TASKS.labels(task, outcome).inc()
