"""Writes of the reports layer."""

import csv
import json
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
from django.db import connection, connections, transaction
from django.db.models import BigIntegerField, F, Func, IntegerField, Max, Min, Q, TextField
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Extract, Floor
from django.db.utils import OperationalError
from django.urls import reverse
from django.utils import timezone

from events.models import Event
from events.parsing import malformed_field
from events.selectors import events_visible
from events.services import PurgedEvent, timestamp_ms
from eventsite.lib import metrics
from eventsite.lib.context import current_request_id
from eventsite.lib.errors import InvalidInput, ServiceUnavailable, TooManyRequests
from eventsite.lib.replica import run_on_replica
from reports import storage
from reports.exceptions import ReportJobRunning, ReportJobUnavailable
from reports.models import ReportJob, ReportUser
from reports.principals import ReportPrincipal
from reports.selectors import report_catalog_codes, report_catalog_width, report_context_keys
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
# A delimiter is one single-byte ASCII character; these would break the CSV (or PostgreSQL's
# COPY, which reads a backslash in its E'' literal as an escape).
FORBIDDEN_DELIMITERS = {'"', "\n", "\r", "\x00", "\\"}
MAX_ATTEMPTS = 3
MAX_PURGE_RERUNS = 3
PROGRESS_EVERY = 10_000
DOWNLOAD_SALT = "reports.download"
RUNNING_CAP_RETRY_SECONDS = 30
SWEEP_STORAGE_FAILURES = 3  # consecutive file deletions refused before a sweep leaves the rest for the next


@dataclass(frozen=True, slots=True)
class ReportRequest:
    customer: str
    product: str
    types: list[str] | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    delimiter: str = "|"
    raw: bool = False  # output.raw: keep values that a spreadsheet would run as formulas


def _report_request_problems(request: ReportRequest) -> list[str]:
    """Every value of a report request that cannot be used (Barchart lists them all)."""
    problems = []
    for name in ("customer", "product"):
        value = getattr(request, name)
        if not isinstance(value, str) or not value or len(value) > 64:
            problems.append(malformed_field(name))
    if request.types is not None and (not request.types or not all(0 < len(t) <= 200 for t in request.types)):
        problems.append(malformed_field("types"))
    elif request.types is not None and len(request.types) > settings.REPORT_MAX_TYPES:
        problems.append(malformed_field("types") + f" At most {settings.REPORT_MAX_TYPES} types (REPORT_MAX_TYPES).")
    for name in ("start_ms", "end_ms"):
        value = getattr(request, name)
        if value is not None and not 0 <= value < 2**53:
            problems.append(malformed_field(name.removesuffix("_ms")))
    if (request.start_ms is not None and request.end_ms is not None and not problems
            and request.start_ms > request.end_ms):
        problems.append(malformed_field("end") + " It is before start.")
    if len(request.delimiter) != 1 or not request.delimiter.isascii() or request.delimiter in FORBIDDEN_DELIMITERS:
        problems.append(malformed_field("delimiter") + " Use one ASCII character other than a quote, a line break,"
                        " a backslash or NUL.")
    codes = report_catalog_codes()
    if codes is not None:
        # With a catalog a typo would otherwise run a COMPLETE, empty report.
        if isinstance(request.customer, str) and request.customer not in codes.customers:
            problems.append(f"{malformed_field('customer')} {request.customer!r} is not a known customer.")
        if isinstance(request.product, str) and request.product not in codes.products:
            problems.append(f"{malformed_field('product')} {request.product!r} is not a known product.")
    return problems


def report_job_create(*, principal: ReportPrincipal, request: ReportRequest) -> ReportJob:
    """Create a RUNNING job and hand it to a worker.

    The job is committed before it is published (the worker must find it). If the broker
    is down the job is marked FAILED at once and the caller gets a 503: no job stays RUNNING
    without a worker to run it.
    """
    principal.check_start()
    problems = _report_request_problems(request)
    if problems:
        raise InvalidInput("The report request cannot be interpreted", details=problems)
    principal.check_customer(request.customer)
    with transaction.atomic():
        # The user's row lock serialises one user's requests, so two at once cannot both pass the cap.
        User.objects.select_for_update().filter(pk=principal.user.pk).first()
        running = ReportJob.objects.filter(requested_by=principal.user, status=ReportJob.Status.RUNNING).count()
        if running >= settings.REPORT_MAX_RUNNING_PER_USER:
            # Each running job may hold a worker for REPORT_TIME_LIMIT_SECONDS: one user must not hold them all.
            raise TooManyRequests(f"{running} of your reports are still running (REPORT_MAX_RUNNING_PER_USER); "
                                  "retry when one has finished", retry_after=RUNNING_CAP_RETRY_SECONDS)
        job = ReportJob.objects.create(
            requested_by=principal.user, customer=request.customer,
            product=request.product, types=request.types, start_ms=request.start_ms, end_ms=request.end_ms,
            delimiter=request.delimiter, raw_values=request.raw, request_id=current_request_id(),
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
    finished_at = timezone.now()
    updated = jobs.update(status=status, status_reason=reason, finished_at=finished_at, **fields)
    if updated:
        # One line per job outcome; it carries the request id of the request that started the job.
        logger.info("report job %s ended %s%s", job.pk, status, f" ({fields['rows']} rows)" if "rows" in fields else "")
        metrics.report_job_finished(status=status, seconds=(finished_at - job.created_at).total_seconds(),
                                    rows=fields.get("rows") if status == ReportJob.Status.COMPLETE else None)
    return bool(updated)


def _job_events(job: ReportJob):
    """The events a job exports (visible ones only: a purged datasource's rows never leak),
    in file order. Both export paths read this one queryset."""
    return _job_filter(job, events_visible()).order_by("timestamp", "id")


def _job_filter(job: ReportJob, events):
    """events narrowed to what the job's filter selects (customer, product, types, period)."""
    events = events.filter(customer=job.customer, product=job.product)
    if job.types is not None:
        events = events.filter(type__in=job.types)
    if job.start_ms is not None:
        events = events.filter(timestamp__gte=datetime.fromtimestamp(job.start_ms / 1000, UTC))
    if job.end_ms is not None:
        events = events.filter(timestamp__lt=datetime.fromtimestamp(job.end_ms / 1000, UTC))
    return events


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
    try:
        for _ in range(MAX_PURGE_RERUNS):
            outcome = _export_once(job, key, began)
            if outcome is not None:
                return outcome
            # A purge touched this report while it ran: export again, without the purged events.
            ReportJob.objects.filter(pk=job.pk).update(rerun_required=False)
    except Exception as exc:
        # Whatever went wrong (a bad statement, a bug, a lost connection), the requester learns
        # it now rather than from the sweep an hour later. A worker killed outright raises
        # nothing: its task is redelivered instead.
        logger.exception("report job %s failed", job.pk)
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()  # a lost connection reconnects for the update
        if _finish(job, ReportJob.Status.FAILED, _failure_reason(exc)):
            _remove_partial(key)  # the error may have come after the upload: leave no orphan file
        return ReportJob.Status.FAILED
    _finish(job, ReportJob.Status.FAILED, "Purges kept changing the data during the export; request it again")
    return ReportJob.Status.FAILED


def _failure_reason(exc: Exception) -> str:
    detail = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"The export failed: {exc.__class__.__name__}" + (f": {detail}" if detail else "")


def _export_once(job: ReportJob, key: str, began: float) -> str | None:
    """One export pass; None when a purge asked for a rerun before it could complete."""
    with tempfile.TemporaryDirectory(prefix="eventsite-report-") as workdir:
        try:
            rows, path, scope = _write_file(job, Path(workdir), began)
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
    if _finish(job, ReportJob.Status.COMPLETE, "", file_key=key, rows=rows, bytes=size, **scope):
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


def _write_file(job: ReportJob, workdir: Path, began: float) -> tuple[int, Path, dict]:
    """Write the job's file; returns the row count, the path and what the file holds (the
    export scope a purge compares with its events, see report_files_purge_events).

    It reads the read replica when one is configured and has replayed the latest purge (each
    pass, so a rerun after a purge waits for it again); a replica that fails mid-way makes the
    pass start over on the primary (eventsite.lib.replica)."""
    return run_on_replica(lambda: _write_file_from(job, workdir, began))


def _write_file_from(job: ReportJob, workdir: Path, began: float) -> tuple[int, Path, dict]:
    if connections[_job_events(job).db].vendor == "postgresql":
        return _write_file_with_copy(job, workdir, began)
    keys = report_context_keys(product=job.product, types=job.types)
    width = len(keys) if keys is not None else report_catalog_width(product=job.product)
    body_path, final_path = workdir / "body.csv", workdir / "report.csv"
    rows = 0
    cell = str if job.raw_values else csv_safe
    epochs: dict[str, int] = {}
    first_ms = last_ms = None
    with body_path.open("w", newline="", encoding="utf-8") as body:
        writer = _csv_writer(body, job.delimiter, raw=job.raw_values)
        rows_of = _job_events(job).values_list("timestamp", "type", "payload__context", "datasource_id", "epoch")
        for timestamp, event_type, context, datasource_id, epoch in rows_of.iterator(chunk_size=5000):
            values = [cell(_json_text(value)) for value in context] if isinstance(context, list) else []
            width = max(width, len(values))
            event_ms = timestamp_ms(timestamp)
            writer.writerow([event_ms, cell(event_type), *values])
            epochs[str(datasource_id)] = epoch
            first_ms = event_ms if first_ms is None else first_ms  # rows come in time order
            last_ms = event_ms
            rows += 1
            if rows % PROGRESS_EVERY == 0:
                _check_limits(rows, began)
        _check_limits(rows, began)
    header = _header(keys, width, raw=job.raw_values)
    with (
        final_path.open("w", newline="", encoding="utf-8") as final,
        body_path.open(newline="", encoding="utf-8") as body,  # newline="": keep \r inside values
    ):
        _csv_writer(final, job.delimiter).writerow(header)
        shutil.copyfileobj(body, final, length=1024 * 1024)
    return rows, final_path, _scope(epochs, first_ms, last_ms)


def _json_text(value) -> str:
    """A context value as PostgreSQL's ->> writes it (the COPY path): null empty, booleans and
    nested values as JSON, strings and numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, (bool, dict, list)):
        return json.dumps(value)
    return str(value)


def _scope(epochs: dict[str, int], first_ms: int | None, last_ms: int | None) -> dict:
    return {"exported_datasources": epochs, "exported_min_ms": first_ms, "exported_max_ms": last_ms}


# A cell starting with one of these is run as a formula by spreadsheets (OWASP, CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_PATTERN = "^([=+\\-@\t\r])"  # the same, as a PostgreSQL regular expression (the trigger captured)


def csv_safe(value: str) -> str:
    """OWASP's neutralisation: a leading single quote makes the cell text (and the cell is
    always quoted, see _csv_writer). output.raw turns it off."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


class _CsvSafe(Func):
    """csv_safe in SQL, so the COPY path still streams without Python touching a row."""

    arity = 1
    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        # One regexp_replace, so the cell's expression (a JSON extraction) is evaluated once: a
        # CASE that tested and then concatenated evaluated it twice per cell.
        sql, params = compiler.compile(self.source_expressions[0])
        return f"regexp_replace({sql}, %s, %s)", (*params, FORMULA_PATTERN, "'\\1")


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


def _csv_writer(handle, delimiter: str, *, raw: bool = True):
    # Neutralised files quote every text cell (the timestamp, an int, stays bare), as COPY's
    # FORCE_QUOTE does in the PostgreSQL path: both paths write the same bytes.
    quoting = csv.QUOTE_MINIMAL if raw else csv.QUOTE_NONNUMERIC
    return csv.writer(_LineFeedRows(handle), delimiter=delimiter, lineterminator="\r\n", quoting=quoting)


def _header(keys: list[str] | None, width: int, *, raw: bool = True) -> list[str]:
    columns = keys if keys is not None and len(keys) == width else [f"context_{n}" for n in range(1, width + 1)]
    return ["timestamp", "type", *(columns if raw else map(csv_safe, columns))]


def _write_file_with_copy(job: ReportJob, workdir: Path, began: float) -> tuple[int, Path, dict]:
    """PostgreSQL streams the file itself: COPY (SELECT ...) TO STDOUT in CSV, the same quoting
    rules as the csv module, straight into the file; no row passes through Python.

    One REPEATABLE READ transaction: the scope recorded for purges (datasources, time range)
    describes exactly the rows COPY wrote, whatever ingest or purges commit meanwhile.
    """
    keys = report_context_keys(product=job.product, types=job.types)
    events = _job_events(job)
    final_path = workdir / "report.csv"
    remaining = settings.REPORT_TIME_LIMIT_SECONDS - (time.monotonic() - began)
    # The server the router picked for this queryset (the replica inside replica reads).
    alias = events.db
    snapshot = not connections[alias].in_atomic_block  # the isolation level can only be set first thing
    try:
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            if snapshot:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET LOCAL statement_timeout = %s", [max(1, int(remaining * 1000))])
            # Column count (the longest context among the selected events) and the scope, per
            # datasource and epoch, in one pass.
            context_length = Func(KeyTransform("context", "payload"), function="jsonb_array_length",
                                  output_field=IntegerField())
            groups = list(events.order_by().values("datasource_id", "epoch").annotate(
                width=Max(context_length), first=Min("timestamp"), last=Max("timestamp")))
            width = max([group["width"] or 0 for group in groups] + [len(keys) if keys is not None else 0])
            text = _CsvSafe if not job.raw_values else (lambda expression: expression)
            columns = {
                "timestamp_ms": Cast(Floor(Extract("timestamp", "epoch") * 1000), BigIntegerField()),
                "event_type": text(F("type")),
                **{f"context_{n + 1}": text(KeyTextTransform(str(n), KeyTransform("context", "payload")))
                   for n in range(width)},
            }
            selected = events.annotate(**columns).values_list(*columns)[: settings.REPORT_MAX_ROWS + 1]
            query = cursor.mogrify(*selected.query.sql_with_params()).decode()
            delimiter = job.delimiter.replace("'", "''")
            # FORCE_QUOTE: every text cell quoted, as OWASP asks (and as the Python path writes).
            force_quote = "" if job.raw_values else f", FORCE_QUOTE ({', '.join(list(columns)[1:])})"
            with final_path.open("w", newline="", encoding="utf-8") as final:
                _csv_writer(final, job.delimiter).writerow(_header(keys, width, raw=job.raw_values))
                final.flush()
                cursor.cursor.copy_expert(
                    f"COPY ({query}) TO STDOUT WITH (FORMAT csv, DELIMITER E'{delimiter}', ENCODING 'UTF8'"
                    f"{force_quote})", final
                )
                rows = cursor.cursor.rowcount
    except OperationalError as exc:
        if "statement timeout" in str(exc):
            raise _time_limit_stop() from exc
        raise
    _check_limits(rows, began)
    epochs = {str(group["datasource_id"]): group["epoch"] for group in groups}
    firsts = [timestamp_ms(group["first"]) for group in groups]
    lasts = [timestamp_ms(group["last"]) for group in groups]
    return rows, final_path, _scope(epochs, min(firsts, default=None), max(lasts, default=None))


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
    if job.file_delete_requested_at is not None or job.file_deleted_at is not None:
        # Also while storage has not confirmed the deletion (a purge while S3 was down).
        reason = f": {job.status_reason}" if job.status_reason else ""
        raise ReportJobUnavailable(f"The file of report {job.source} no longer exists{reason}")
    if not job.file_key or not storage.exists(key=job.file_key):
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
    job = ReportJob.objects.filter(pk=data["job"], file_key=data["key"], file_delete_requested_at=None,
                                   file_deleted_at=None).first()
    if job is None or not storage.exists(key=job.file_key):
        raise ReportJobUnavailable("The file of this report no longer exists")
    return storage.local_path(key=job.file_key)


def report_jobs_sweep() -> dict[str, int]:
    """Periodic: fail jobs stuck RUNNING past their time limit; delete files past retention;
    retry file deletions that storage has not confirmed yet (a purge while S3 was down)."""
    now = timezone.now()
    stuck_before = now - timedelta(seconds=settings.REPORT_TIME_LIMIT_SECONDS + 300)
    stuck = ReportJob.objects.filter(status=ReportJob.Status.RUNNING, created_at__lt=stuck_before).update(
        status=ReportJob.Status.FAILED, status_reason="No worker finished it within the time limit",
        finished_at=now)
    for _ in range(stuck):
        metrics.report_job_finished(status=ReportJob.Status.FAILED, seconds=None, rows=None)
    retention_before = now - timedelta(days=settings.REPORT_RETENTION_DAYS)
    expired = list(ReportJob.objects.filter(file_delete_requested_at=None, file_deleted_at=None,
                                            finished_at__lt=retention_before).exclude(file_key=""))
    _files_delete_request(expired)
    # Random order: a file storage keeps refusing cannot hold the others back sweep after sweep.
    pending = list(ReportJob.objects.filter(file_delete_requested_at__isnull=False, file_deleted_at=None)
                   .order_by("?"))
    deleted = _files_delete_confirm(pending, give_up_after=SWEEP_STORAGE_FAILURES)
    return {"stuck": stuck, "expired": len(expired), "deleted": deleted, "pending": len(pending) - deleted}


def report_files_pending() -> int:
    """How many file deletions storage has not confirmed yet."""
    return ReportJob.objects.filter(file_delete_requested_at__isnull=False, file_deleted_at=None).count()


def _files_delete_request(jobs: list[ReportJob], reason: str | None = None) -> list[ReportJob]:
    """Mark files for deletion: from this update on no link is issued for them, whatever
    storage does. Returns the jobs this call marked (not those already marked)."""
    if not jobs:
        return []
    changes = {"file_delete_requested_at": timezone.now()}
    if reason:
        changes["status_reason"] = reason
    unmarked = ReportJob.objects.filter(pk__in=[job.pk for job in jobs], file_delete_requested_at=None,
                                        file_deleted_at=None)
    marked = set(unmarked.values_list("pk", flat=True))
    ReportJob.objects.filter(pk__in=marked).update(**changes)
    return [job for job in jobs if job.pk in marked]


def _files_delete_confirm(jobs: list[ReportJob], *, give_up_after: int) -> int:
    """Delete marked files until storage fails give_up_after times in a row (it is down: the
    rest stay pending for the next sweep instead of each waiting out its timeout)."""
    deleted = failures = 0
    for job in jobs:
        if _file_delete_confirm(job):
            deleted, failures = deleted + 1, 0
        else:
            failures += 1
            if failures >= give_up_after:
                break
    return deleted


def _file_delete_confirm(job: ReportJob) -> bool:
    """Delete a marked job's file; file_deleted_at only once storage confirmed it."""
    if job.file_key:
        try:
            storage.delete(key=job.file_key)
        except ServiceUnavailable:
            logger.warning("could not delete the file of %s; it stays pending for the sweep", job.pk)
            return False
    ReportJob.objects.filter(pk=job.pk, file_deleted_at=None).update(file_deleted_at=timezone.now())
    return True


PURGED_REASON = "File deleted: it held events erased by a purge"


def _purge_files(*, running: list[ReportJob], complete_of) -> int:
    """Running jobs rerun, then complete files are marked and deleted. In that order a job
    either reruns or loses its file: complete_of runs after the rerun flags are written.

    Returns the number of files the purge reached (deleted, or pending until storage answers).
    """
    if running:
        ReportJob.objects.filter(pk__in=[job.pk for job in running], status=ReportJob.Status.RUNNING).update(
            rerun_required=True)
    marked = _files_delete_request(complete_of(), PURGED_REASON)
    # A purge may answer an HTTP request: at the first storage failure the rest wait for the sweep.
    _files_delete_confirm(marked, give_up_after=1)
    return len(marked)


def _candidates(pairs: set[tuple[str, str | None]], status: str) -> list[ReportJob]:
    if not pairs:
        return []  # an empty Q() would match every job
    match = Q()
    for customer, product in pairs:
        match |= Q(customer=customer, product=product)
    jobs = ReportJob.objects.filter(match, status=status)
    if status == ReportJob.Status.COMPLETE:
        jobs = jobs.filter(file_delete_requested_at=None, file_deleted_at=None)
    return list(jobs)


def _reads(job: ReportJob, event: PurgedEvent) -> bool:
    """Whether the job's filter selects the event (what a running export may read)."""
    return ((job.types is None or event.type in job.types)
            and (job.start_ms is None or event.timestamp_ms >= job.start_ms)
            and (job.end_ms is None or event.timestamp_ms < job.end_ms))


def _holds(job: ReportJob, event: PurgedEvent) -> bool:
    """Whether a complete job's file can hold the event: its filter selects it and the export
    read the event's datasource in its epoch, within the exported time range."""
    if not _reads(job, event):
        return False
    if job.exported_datasources is None:  # exported before scopes were recorded
        return True
    return (job.exported_datasources.get(str(event.datasource_id)) == event.epoch
            and job.exported_min_ms is not None
            and job.exported_min_ms <= event.timestamp_ms <= job.exported_max_ms)


def report_files_purge_events(*, events: list[PurgedEvent]) -> int:
    """After a purge_user: jobs that can hold the erased events forget them. A running one
    whose filter selects one of them reruns; a complete file that holds one (its datasource,
    epoch and time range) is deleted, its links stop working. Returns the files reached."""
    by_pair: dict[tuple[str, str | None], list[PurgedEvent]] = {}
    for event in events:
        by_pair.setdefault((event.customer, event.product), []).append(event)

    def any_event(job: ReportJob, test) -> bool:
        return any(test(job, event) for event in by_pair[(job.customer, job.product)])

    running = [job for job in _candidates(set(by_pair), ReportJob.Status.RUNNING) if any_event(job, _reads)]
    return _purge_files(running=running, complete_of=lambda: [
        job for job in _candidates(set(by_pair), ReportJob.Status.COMPLETE) if any_event(job, _holds)])


def report_files_purge_epoch(*, datasource_id: int, epoch: int, pairs: set[tuple[str, str | None]]) -> int:
    """Before a purged datasource epoch's rows are reclaimed: jobs that can hold them forget them.

    pairs: the (customer, product) of the epoch's events. A running job reruns if the epoch
    has an event its filter selects (asked of the database while the rows still exist); a
    complete file is deleted if its export read this datasource in this epoch.
    """
    def reads_epoch(job: ReportJob) -> bool:
        return _job_filter(job, Event.objects.filter(datasource_id=datasource_id, epoch=epoch)).exists()

    def holds_epoch(job: ReportJob) -> bool:
        if job.exported_datasources is None:  # exported before scopes were recorded
            return reads_epoch(job)
        return job.exported_datasources.get(str(datasource_id)) == epoch

    running = [job for job in _candidates(pairs, ReportJob.Status.RUNNING) if reads_epoch(job)]
    return _purge_files(running=running, complete_of=lambda: [
        job for job in _candidates(pairs, ReportJob.Status.COMPLETE) if holds_epoch(job)])
