"""The health panel: is eventsite able to do its background work, and is anything stuck?

Every check answers within a bounded time (calls to the broker and to object storage run in a
thread that the page stops waiting for) and reports "unknown" rather than failing the page.
The cheap checks (database rows only) are separate from the live ones, so the overview and the
report list can show them without a network call.
"""

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.timesince import timesince

from eventsite.console.models import TaskRun, WorkerSeen
from reports.models import ReportJob

logger = logging.getLogger(__name__)

# Celery's ping always waits its whole timeout (it cannot know how many workers exist), so the
# panel's time is this; a worker on a reachable broker answers within milliseconds.
PING_SECONDS = 0.4
STORAGE_SECONDS = 3.0
# Workers write WorkerSeen every 30 s (taskruns.WORKER_BEAT_SECONDS): silent for this long means gone.
WORKER_SILENT = timedelta(seconds=90)
# The rollup runs every 30 s: no task finished for this long means no scheduler (or no default worker).
HEARTBEAT_STALE = timedelta(minutes=3)
# A report still RUNNING after this long while no export worker is alive (or all are busy) needs an operator.
REPORT_STALL_AFTER = timedelta(minutes=5)
# A spool older than this means events are waiting for the database.
SPOOL_WARN_AGE = timedelta(minutes=5)


@dataclass
class Check:
    name: str
    state: str  # "ok", "warning", "failed" or "unknown"
    summary: str
    action: str = ""


def _bounded(function, seconds: float):
    """Run function in a daemon thread; (result, None), or (None, reason) if it raised or took too long."""
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = function()
        except Exception as exc:  # noqa: BLE001 - reported on the page
            outcome["error"] = f"{exc.__class__.__name__}: {exc}"[:300]

    thread = threading.Thread(target=target, daemon=True, name="console-health-check")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return None, f"no answer within {seconds:g} s"
    return outcome.get("result"), outcome.get("error")


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    return f"{max(seconds, 0)} s ago" if seconds < 60 else f"{timesince(moment, now)} ago"


# --- cheap checks: database rows only ---------------------------------------------------------


def heartbeat_at() -> datetime | None:
    """When a worker last finished any task (recorded by eventsite.console.taskruns)."""
    run = TaskRun.objects.exclude(last_finished_at=None).order_by("-last_finished_at").first()
    return run.last_finished_at if run else None


def last_task_check(*, now: datetime) -> Check:
    """The rollup runs every 30 s: no task finished for minutes means no scheduler, or no default worker."""
    last = heartbeat_at()
    if last is not None and now - last <= HEARTBEAT_STALE:
        return Check("Last task finished", "ok", _ago(last, now))
    return Check(
        "Last task finished", "failed",
        ("no task has finished yet" if last is None else f"none for {timesince(last, now)}")
        + "; the console's rollup should run every 30 s",
        "Check that exactly one `celery -A eventsite beat` runs, and a default-queue worker "
        "(`celery -A eventsite worker --queues celery`); `make run` starts both.",
    )


def workers_alive(*, now: datetime) -> list[WorkerSeen]:
    return list(WorkerSeen.objects.filter(stopped_at=None, seen_at__gte=now - WORKER_SILENT).order_by("hostname"))


def export_workers_alive(*, now: datetime) -> int:
    return sum(1 for worker in workers_alive(now=now) if settings.EXPORTS_QUEUE in worker.queues)


def worker_checks(*, now: datetime, alive: list[WorkerSeen] | None = None) -> list[Check]:
    """One check per queue: which workers said they were alive in the last 90 s."""
    alive = workers_alive(now=now) if alive is None else alive
    roles = {
        settings.CELERY_TASK_DEFAULT_QUEUE: (
            "Workers: default queue", "purge reclaims, file deletions, sweeps, the console's counts",
            f"`celery -A eventsite worker --queues {settings.CELERY_TASK_DEFAULT_QUEUE}` (Procfile `worker`)"),
        settings.EXPORTS_QUEUE: (
            "Workers: exports queue", "report exports",
            f"`celery -A eventsite worker --queues {settings.EXPORTS_QUEUE}` (Procfile `exports`)"),
    }
    checks = []
    for queue, (name, work, command) in roles.items():
        serving = [worker.hostname for worker in alive if queue in worker.queues]
        if serving:
            checks.append(Check(name, "ok", f"{len(serving)} alive: {', '.join(serving)}"))
        else:
            checks.append(Check(name, "failed", f"no worker of queue {queue!r} has reported itself alive in the "
                                f"last {int(WORKER_SILENT.total_seconds())} s: nobody runs {work}",
                                f"Start one: {command}; `make run` starts both kinds."))
    return checks


def sweep_checks(*, now: datetime) -> list[Check]:
    """When the scheduler last had each periodic task run (late if over twice its interval)."""
    runs = {run.name: run for run in TaskRun.objects.all()}
    checks = []
    for entry, schedule in settings.CELERY_BEAT_SCHEDULE.items():
        interval = timedelta(seconds=float(schedule["schedule"]))
        run = runs.get(schedule["task"])
        last = run.last_finished_at if run else None
        every = f"every {int(interval.total_seconds())} s"
        if last is None:
            # Right after a deployment beat waits one interval before the first run: not alarming by itself
            # (the rollup, every 30 s, shows within a minute whether beat and a worker run at all).
            checks.append(Check(f"Scheduled: {entry}", "unknown", f"has not run yet ({every})"))
            continue
        late = now - last > 2 * interval + timedelta(minutes=1)
        checks.append(Check(
            f"Scheduled: {entry}", "warning" if late else "ok",
            f"last ran {_ago(last, now)} ({every})" + (f" on {run.hostname}" if run.hostname else ""),
            "Check that exactly one `celery -A eventsite beat` runs, and a worker." if late else "",
        ))
    return checks


def report_job_stall(*, job: ReportJob, now: datetime, export_workers: int) -> str:
    """Words for an operator when a RUNNING report cannot be progressing; "" when it looks fine.

    export_workers: how many workers of the exports queue are alive (export_workers_alive()).
    """
    if job.status != ReportJob.Status.RUNNING:
        return ""
    limit = timedelta(seconds=settings.REPORT_TIME_LIMIT_SECONDS)
    fail_at = f"{job.created_at + limit + timedelta(minutes=5):%Y-%m-%d %H:%M} UTC"
    start_one = (f"Start an export worker (`celery -A eventsite worker --queues {settings.EXPORTS_QUEUE}`, "
                 "Procfile `exports`)")
    if job.started_at is None:
        if now - job.created_at <= REPORT_STALL_AFTER:
            return ""
        if not export_workers:
            return (f"Stalled: waiting {timesince(job.created_at, now)} and no export worker is running. "
                    f"{start_one}: it starts the report then. Otherwise the sweep marks it FAILED after {fail_at}.")
        return (f"Waiting: {timesince(job.created_at, now)} in the queue; all {export_workers} export worker(s) "
                "are busy with other reports. Add export workers (or EXPORT_CONCURRENCY) if this keeps happening.")
    if not export_workers and now - job.started_at > REPORT_STALL_AFTER:
        return (f"Stalled: started {timesince(job.started_at, now)} ago and no export worker is alive (the one "
                f"running it has gone). {start_one}: the report is handed out again after "
                f"{settings.BROKER_VISIBILITY_TIMEOUT} s. Otherwise the sweep marks it FAILED after {fail_at} "
                "and it can be started again.")
    if now - job.started_at > limit + timedelta(minutes=5):
        return (f"Overdue: RUNNING for {timesince(job.started_at, now)}, past its time limit of "
                f"{settings.REPORT_TIME_LIMIT_SECONDS} s. The scheduler's sweep should have marked it FAILED: "
                "check that `celery -A eventsite beat` and a default-queue worker run.")
    return ""


def oldest_running_report_check(*, now: datetime, export_workers: int) -> Check:
    job = ReportJob.objects.filter(status=ReportJob.Status.RUNNING).order_by("created_at").first()
    if job is None:
        return Check("Oldest running report", "ok", "no report is running")
    stall = report_job_stall(job=job, now=now, export_workers=export_workers)
    return Check("Oldest running report", "failed" if stall else "ok",
                 f"{job.source} ({job.customer}/{job.product}), started {_ago(job.started_at or job.created_at, now)}",
                 stall)


def database_size_check() -> Check:
    try:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_database_size(current_database())")
                size = cursor.fetchone()[0]
        else:
            name = Path(str(connection.settings_dict["NAME"]))
            size = sum(p.stat().st_size for p in (name, Path(f"{name}-wal")) if p.exists())
    except Exception as exc:  # noqa: BLE001
        return Check("Database size", "unknown", f"could not be read ({exc.__class__.__name__})")
    return Check("Database size", "ok", f"{size / 1024 / 1024:,.1f} MiB ({connection.vendor})")


def spool_check(*, now: datetime) -> Check:
    """The durable ingest spool of this web host (events.spool.spool_status(), a dict), when that module exists.
    Each host spools on its own disk: the panel shows the host that served the page."""
    try:
        from events.spool import spool_status  # noqa: PLC0415 - optional: built by another change
    except ImportError:
        return Check("Ingest spool", "unknown", "no spool in this version (hook: events.spool.spool_status)")
    try:
        status = spool_status()
    except Exception as exc:  # noqa: BLE001
        return Check("Ingest spool", "unknown", f"could not be read ({exc.__class__.__name__})")
    records = status.get("records") or 0
    if not records:
        return Check("Ingest spool", "ok", "empty")
    age = timedelta(seconds=float(status.get("oldest_record_age_seconds") or 0))
    summary = (f"on this web host: {records:,} batch(es) waiting, {(status.get('bytes') or 0) / 1024 / 1024:,.1f} MiB "
               f"of {(status.get('max_bytes') or 0) / 1024 / 1024:,.0f}, oldest {timesince(now - age, now)} old")
    if status.get("warning", age > SPOOL_WARN_AGE):
        return Check("Ingest spool", "warning", summary,
                     "Accepted events wait on this machine's disk for the database: check PostgreSQL, then "
                     "that the spool drain runs (`manage.py drain_spool`).")
    return Check("Ingest spool", "ok", summary)


# --- live checks: broker and object storage, bounded ---------------------------------------


def _ping() -> list[str]:
    from eventsite.celery import app

    replies = app.control.ping(timeout=PING_SECONDS) or []
    return sorted(name for reply in replies for name in reply)


def worker_ping_check(*, alive: int = 0) -> Check:
    workers, error = _bounded(_ping, PING_SECONDS + 1.5)
    if error is not None:
        return Check("Workers (ping)", "unknown", f"the broker did not answer the ping ({error})")
    if workers:
        return Check("Workers (ping)", "ok", f"{len(workers)} answering: {', '.join(workers)}")
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        # The embedded filesystem broker may relay broadcasts poorly: the workers' own reports stand instead.
        return Check("Workers (ping)", "unknown", "no reply (the embedded filesystem broker may not relay pings); "
                     "see the workers' own reports above")
    if alive:
        return Check("Workers (ping)", "warning", f"no reply within {PING_SECONDS:g} s, but {alive} worker(s) "
                     "reported themselves alive in the last 90 s: busy, or a slow broker")
    return Check("Workers (ping)", "failed", f"no worker answered within {PING_SECONDS:g} s",
                 "Start a worker: `celery -A eventsite worker` (Procfile `worker`).")


def _redis_depth() -> tuple[int, int]:
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        # kombu's Redis transport keeps each queue's priority levels in lists: "celery", "celery\x06\x163", ...
        names = [key for queue in (settings.CELERY_TASK_DEFAULT_QUEUE, settings.EXPORTS_QUEUE)
                 for key in client.scan_iter(match=f"{queue}*", count=100) if client.type(key) == b"list"]
        waiting = sum(client.llen(name) for name in names)
        reserved = client.hlen("unacked")
    finally:
        client.close()
    return waiting, reserved


def _filesystem_depth() -> tuple[int, None]:
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    return sum(1 for entry in os.scandir(folder) if entry.is_file()) if folder.exists() else 0, None


def queue_depth_check() -> Check:
    function = _filesystem_depth if settings.CELERY_BROKER_URL.startswith("filesystem") else _redis_depth
    result, error = _bounded(function, 2.0)
    if error is not None:
        return Check("Task queue", "unknown", f"the broker could not be read ({error})",
                     "Check Redis (REDIS_URL): reports and purges cannot start without it.")
    waiting, reserved = result
    summary = f"{waiting:,} waiting" + (f", {reserved:,} taken by workers" if reserved is not None else "")
    if waiting > 100:
        return Check("Task queue", "warning", summary, "Tasks pile up: add workers or check that they run.")
    return Check("Task queue", "ok", summary)


def _storage_probe() -> bool:
    from reports import storage

    # Only reachability: a key that never exists is cheap to ask for on S3 and on disk.
    return storage.exists(key="health/probe-never-written")


def storage_check() -> Check:
    from reports import storage

    where = "local files (var/exports)" if storage.is_local() else f"S3 bucket {settings.S3_BUCKET}"
    _, error = _bounded(_storage_probe, STORAGE_SECONDS)
    if error is not None:
        return Check("Object storage", "failed", f"{where}: {error}",
                     "Reports cannot be written or downloaded: check S3_ENDPOINT_URL, credentials and the bucket.")
    return Check("Object storage", "ok", f"{where}: reachable")


def health_checks(*, now: datetime | None = None, live: bool = True) -> list[Check]:
    now = now or timezone.now()
    alive = workers_alive(now=now)
    checks = worker_checks(now=now, alive=alive)
    if live:
        # Side by side: the page waits for the slowest (the ping's timeout), not for their sum.
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="console-health") as pool:
            futures = [pool.submit(worker_ping_check, alive=len(alive)), pool.submit(queue_depth_check),
                       pool.submit(storage_check)]
            checks += [future.result() for future in futures]
    exporters = sum(1 for worker in alive if settings.EXPORTS_QUEUE in worker.queues)
    checks += [last_task_check(now=now), *sweep_checks(now=now),
               oldest_running_report_check(now=now, export_workers=exporters), database_size_check(),
               spool_check(now=now)]
    return checks
