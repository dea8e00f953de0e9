"""Writes of the reports layer."""

import csv
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.db import connection, transaction
from django.db.models import BigIntegerField, Func, IntegerField, Max, Q
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Extract, Floor
from django.db.utils import OperationalError
from django.urls import reverse
from django.utils import timezone

from events.parsing import malformed_field
from events.selectors import events_visible
from eventsite.lib.errors import InvalidInput, ServiceUnavailable
from reports import storage
from reports.exceptions import ReportJobRunning, ReportJobUnavailable
from reports.models import ReportJob, ReportUser
from reports.principals import ReportPrincipal
from reports.selectors import report_catalog_width, report_context_keys
from reports.tasks import export_report


@transaction.atomic
def report_user_upsert(*, username: str, customer: str, password: str | None) -> tuple[User, bool]:
    """Create a report user bound to a customer, or rebind/re-password an existing one."""
    customer = customer.strip()
    if not customer or len(customer) > 64:
        raise InvalidInput("The customer code must be 1 to 64 characters", field="customer")
    user = User.objects.filter(username=username).first()
    created = user is None
    if created:
        if not password:
            raise InvalidInput("A new report user needs a password", field="password")
        user = User.objects.create_user(username=username, password=password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    ReportUser.objects.update_or_create(user=user, defaults={"customer": customer})
    return user, created


# --- Report jobs ---------------------------------------------------------------------------

logger = logging.getLogger(__name__)
FORBIDDEN_DELIMITERS = {'"', "\n", "\r", "\x00"}
MAX_ATTEMPTS = 3
MAX_PURGE_RERUNS = 3
PROGRESS_EVERY = 10_000
DOWNLOAD_SALT = "reports.download"


@dataclass(frozen=True, slots=True)
class ReportRequest:
    customer: str
    product: str
    types: list[str] | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    delimiter: str = "|"


def _report_request_problems(request: ReportRequest) -> list[str]:
    """Every value of a report request that cannot be used (Barchart lists them all)."""
    problems = []
    for name in ("customer", "product"):
        value = getattr(request, name)
        if not isinstance(value, str) or not value or len(value) > 64:
            problems.append(malformed_field(name))
    if request.types is not None and (not request.types or not all(0 < len(t) <= 200 for t in request.types)):
        problems.append(malformed_field("types"))
    for name in ("start_ms", "end_ms"):
        value = getattr(request, name)
        if value is not None and not 0 <= value < 2**53:
            problems.append(malformed_field(name.removesuffix("_ms")))
    if (request.start_ms is not None and request.end_ms is not None and not problems
            and request.start_ms > request.end_ms):
        problems.append(malformed_field("end") + " It is before start.")
    if len(request.delimiter) != 1 or request.delimiter in FORBIDDEN_DELIMITERS:
        problems.append(malformed_field("delimiter") + " Use one character other than a quote or a line break.")
    return problems


def report_job_create(*, principal: ReportPrincipal, request: ReportRequest) -> ReportJob:
    """Create a RUNNING job and hand it to a worker.

    The job is committed before it is published (the worker must find it). If the broker
    is down the job is marked FAILED at once and the caller gets a 503: no job stays RUNNING
    without a worker to run it.
    """
    problems = _report_request_problems(request)
    if problems:
        raise InvalidInput("The report request cannot be interpreted", details=problems)
    principal.check_customer(request.customer)
    job = ReportJob.objects.create(
        requested_by=principal.user, customer=request.customer,
        product=request.product, types=request.types, start_ms=request.start_ms, end_ms=request.end_ms,
        delimiter=request.delimiter,
    )
    try:
        export_report.apply_async((str(job.id),), retry=False)
    except Exception as exc:  # noqa: BLE001 - any broker failure
        logger.warning("could not publish report job %s: %s", job.id, exc.__class__.__name__)
        _finish(job, ReportJob.Status.FAILED, "The task queue was unavailable when the report was requested")
        raise ServiceUnavailable("The report queue is unavailable; retry shortly") from exc
    return job


def _finish(job: ReportJob, status: str, reason: str = "", **fields) -> bool:
    """Move a RUNNING job to a terminal status; False if it was no longer RUNNING, or if a
    purge asked for a rerun (a COMPLETE file must not hold events purged meanwhile)."""
    jobs = ReportJob.objects.filter(pk=job.pk, status=ReportJob.Status.RUNNING)
    if status == ReportJob.Status.COMPLETE:
        jobs = jobs.filter(rerun_required=False)
    updated = jobs.update(status=status, status_reason=reason, finished_at=timezone.now(), **fields)
    return bool(updated)


def _job_events(job: ReportJob):
    """The events a job exports (visible ones only: a purged datasource's rows never leak),
    in file order. Both export paths read this one queryset."""
    events = events_visible().filter(customer=job.customer, product=job.product)
    if job.types is not None:
        events = events.filter(type__in=job.types)
    if job.start_ms is not None:
        events = events.filter(timestamp__gte=datetime.fromtimestamp(job.start_ms / 1000, UTC))
    if job.end_ms is not None:
        events = events.filter(timestamp__lt=datetime.fromtimestamp(job.end_ms / 1000, UTC))
    return events.order_by("timestamp", "id")


class _Stop(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def report_job_run(*, job_id: str) -> str:
    """Export a job's events into its file: streamed from the database, never all in memory.

    Idempotent: a rerun (a redelivered task after a worker died) writes the same object key.
    """
    job = ReportJob.objects.filter(pk=job_id).first()
    if job is None or job.status != ReportJob.Status.RUNNING:
        return job.status if job else "MISSING"
    ReportJob.objects.filter(pk=job.pk).update(started_at=timezone.now(), attempts=job.attempts + 1)
    if job.attempts + 1 > MAX_ATTEMPTS:
        _finish(job, ReportJob.Status.FAILED, f"Gave up after {MAX_ATTEMPTS} attempts")
        return ReportJob.Status.FAILED
    key = f"reports/{job.id}.csv"
    began = time.monotonic()
    for _ in range(MAX_PURGE_RERUNS):
        outcome = _export_once(job, key, began)
        if outcome is not None:
            return outcome
        # A purge touched this report while it ran: export again, without the purged events.
        ReportJob.objects.filter(pk=job.pk).update(rerun_required=False)
    _finish(job, ReportJob.Status.FAILED, "Purges kept changing the data during the export; request it again")
    return ReportJob.Status.FAILED


def _export_once(job: ReportJob, key: str, began: float) -> str | None:
    """One export pass; None when a purge asked for a rerun before it could complete."""
    with tempfile.TemporaryDirectory(prefix="eventsite-report-") as workdir:
        try:
            rows, path = _write_file(job, Path(workdir), began)
        except _Stop as stop:
            _finish(job, stop.status, stop.reason)
            return stop.status
        try:
            storage.upload(key=key, path=path)
        except ServiceUnavailable as error:
            _remove_partial(key)
            _finish(job, ReportJob.Status.FAILED, error.message)
            return ReportJob.Status.FAILED
        size = path.stat().st_size
    if _finish(job, ReportJob.Status.COMPLETE, "", file_key=key, rows=rows, bytes=size):
        return ReportJob.Status.COMPLETE
    current = ReportJob.objects.get(pk=job.pk)
    if current.status == ReportJob.Status.RUNNING and current.rerun_required:
        return None
    _remove_partial(key)  # swept meanwhile: leave no orphan file
    return current.status


def _remove_partial(key: str) -> None:
    try:
        storage.delete(key=key)
    except ServiceUnavailable:
        logger.warning("could not remove %s; the retention sweep will", key)


def _write_file(job: ReportJob, workdir: Path, began: float) -> tuple[int, Path]:
    if connection.vendor == "postgresql":
        return _write_file_with_copy(job, workdir, began)
    keys = report_context_keys(product=job.product, types=job.types)
    width = len(keys) if keys is not None else report_catalog_width(product=job.product)
    body_path, final_path = workdir / "body.csv", workdir / "report.csv"
    rows = 0
    with body_path.open("w", newline="", encoding="utf-8") as body:
        writer = _csv_writer(body, job.delimiter)
        rows_of = _job_events(job).values_list("timestamp", "type", "payload__context")
        for timestamp, event_type, context in rows_of.iterator(chunk_size=5000):
            values = [str(value) for value in context] if isinstance(context, list) else []
            width = max(width, len(values))
            writer.writerow([int(timestamp.timestamp() * 1000), event_type, *values])
            rows += 1
            if rows % PROGRESS_EVERY == 0:
                _check_limits(rows, began)
        _check_limits(rows, began)
    header = _header(keys, width)
    with (
        final_path.open("w", newline="", encoding="utf-8") as final,
        body_path.open(newline="", encoding="utf-8") as body,  # newline="": keep \r inside values
    ):
        _csv_writer(final, job.delimiter).writerow(header)
        shutil.copyfileobj(body, final, length=1024 * 1024)
    return rows, final_path


class _LineFeedRows:
    """A file wrapper for csv writers set to \r\n line endings: each row ends in \n instead.

    Python's csv quotes a value holding \r only when \r is part of the line terminator; the
    files (like PostgreSQL's COPY CSV) end their lines in \n. csv writes one row per call.
    """

    def __init__(self, handle):
        self._handle = handle

    def write(self, text: str) -> int:
        if text.endswith("\r\n"):
            text = text[:-2] + "\n"
        return self._handle.write(text)


def _csv_writer(handle, delimiter: str):
    return csv.writer(_LineFeedRows(handle), delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)


def _header(keys: list[str] | None, width: int) -> list[str]:
    columns = keys if keys is not None and len(keys) == width else [f"context_{n}" for n in range(1, width + 1)]
    return ["timestamp", "type", *columns]


def _write_file_with_copy(job: ReportJob, workdir: Path, began: float) -> tuple[int, Path]:
    """PostgreSQL streams the file itself: COPY (SELECT ...) TO STDOUT in CSV, the same quoting
    rules as the csv module, straight into the file; no row passes through Python."""
    keys = report_context_keys(product=job.product, types=job.types)
    events = _job_events(job)
    final_path = workdir / "report.csv"
    remaining = settings.REPORT_TIME_LIMIT_SECONDS - (time.monotonic() - began)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = %s", [max(1, int(remaining * 1000))])
            # Column count: the longest context among the selected events.
            width = events.aggregate(width=Max(Func(KeyTransform("context", "payload"),
                                                    function="jsonb_array_length", output_field=IntegerField())))
            width = max(width["width"] or 0, len(keys) if keys is not None else 0)
            timestamp_ms = Cast(Floor(Extract("timestamp", "epoch") * 1000), BigIntegerField())
            context = [KeyTextTransform(str(n), KeyTransform("context", "payload")) for n in range(width)]
            selected = events.values_list(timestamp_ms, "type", *context)[: settings.REPORT_MAX_ROWS + 1]
            query = cursor.mogrify(*selected.query.sql_with_params()).decode()
            delimiter = job.delimiter.replace("'", "''")
            with final_path.open("w", newline="", encoding="utf-8") as final:
                _csv_writer(final, job.delimiter).writerow(_header(keys, width))
                final.flush()
                cursor.cursor.copy_expert(
                    f"COPY ({query}) TO STDOUT WITH (FORMAT csv, DELIMITER E'{delimiter}', ENCODING 'UTF8')", final
                )
                rows = cursor.cursor.rowcount
    except OperationalError as exc:
        if "statement timeout" in str(exc):
            raise _time_limit_stop() from exc
        raise
    _check_limits(rows, began)
    return rows, final_path


def _time_limit_stop() -> "_Stop":
    return _Stop(ReportJob.Status.TIMEOUT,
                 f"Ran longer than {settings.REPORT_TIME_LIMIT_SECONDS} s (REPORT_TIME_LIMIT_SECONDS)")


def _check_limits(rows: int, began: float) -> None:
    if rows > settings.REPORT_MAX_ROWS:
        raise _Stop(ReportJob.Status.TIMEOUT, f"More than {settings.REPORT_MAX_ROWS} rows (REPORT_MAX_ROWS)")
    if time.monotonic() - began > settings.REPORT_TIME_LIMIT_SECONDS:
        raise _time_limit_stop()


def report_link_issue(*, job: ReportJob, base_url: str) -> str:
    """A download link valid for REPORT_LINK_SECONDS; only for a file that exists."""
    if job.status == ReportJob.Status.RUNNING:
        raise ReportJobRunning(f"Report {job.source} is still running")
    if job.status != ReportJob.Status.COMPLETE:
        raise ReportJobUnavailable(f"Report {job.source} ended {job.status}: {job.status_reason}")
    if job.file_deleted_at is not None or not job.file_key or not storage.exists(key=job.file_key):
        raise ReportJobUnavailable(f"The file of report {job.source} no longer exists")
    if storage.is_local():
        signed = signing.dumps({"job": str(job.id), "key": job.file_key}, salt=DOWNLOAD_SALT)
        return base_url.rstrip("/") + reverse("report-download", args=[signed])
    return storage.presigned_url(key=job.file_key)


def report_download_resolve(*, signed: str) -> Path:
    """The local file behind a signed download link, if the link is still valid."""
    try:
        data = signing.loads(signed, salt=DOWNLOAD_SALT, max_age=settings.REPORT_LINK_SECONDS)
    except signing.SignatureExpired:
        raise ReportJobUnavailable("This download link has expired; ask for a new one") from None
    except signing.BadSignature:
        raise ReportJobUnavailable("This download link is not valid") from None
    job = ReportJob.objects.filter(pk=data["job"], file_key=data["key"], file_deleted_at=None).first()
    if job is None or not storage.exists(key=job.file_key):
        raise ReportJobUnavailable("The file of this report no longer exists")
    return storage.local_path(key=job.file_key)


def report_jobs_sweep() -> dict[str, int]:
    """Periodic: fail jobs stuck RUNNING past their time limit; delete files past retention."""
    now = timezone.now()
    stuck_before = now - timedelta(seconds=settings.REPORT_TIME_LIMIT_SECONDS + 300)
    stuck = ReportJob.objects.filter(status=ReportJob.Status.RUNNING, created_at__lt=stuck_before).update(
        status=ReportJob.Status.FAILED, status_reason="No worker finished it within the time limit",
        finished_at=now)
    expired = 0
    retention_before = now - timedelta(days=settings.REPORT_RETENTION_DAYS)
    for job in ReportJob.objects.filter(file_deleted_at=None, finished_at__lt=retention_before).exclude(file_key=""):
        try:
            storage.delete(key=job.file_key)
        except ServiceUnavailable:
            continue  # next sweep
        ReportJob.objects.filter(pk=job.pk).update(file_deleted_at=now)
        expired += 1
    return {"stuck": stuck, "expired": expired}


def report_files_purge(*, pairs: set[tuple[str, str]], running_too: bool = True) -> int:
    """After a purge: make reports that may hold purged events forget them.

    pairs: the (customer, product) of the purged events; reports filter on both. First every
    RUNNING job of those pairs is told to rerun, then the files of COMPLETE ones are deleted
    (their links stop working). In that order a job either reruns or loses its file.
    Returns the number of files removed.
    """
    if not pairs:
        return 0
    match = Q()
    for customer, product in pairs:
        match |= Q(customer=customer, product=product)
    if running_too:
        ReportJob.objects.filter(match, status=ReportJob.Status.RUNNING).update(rerun_required=True)
    removed = 0
    now = timezone.now()
    for job in ReportJob.objects.filter(match, status=ReportJob.Status.COMPLETE, file_deleted_at=None):
        if job.file_key:
            try:
                storage.delete(key=job.file_key)
            except ServiceUnavailable:
                logger.warning("could not delete %s after a purge; the job is marked so no link is issued", job.pk)
        ReportJob.objects.filter(pk=job.pk).update(
            file_deleted_at=now, status_reason="File deleted: it held events erased by a purge")
        removed += 1
    return removed
