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

from eventsite.console.models import TaskRun
from reports.models import ReportJob

logger = logging.getLogger(__name__)

# Celery's ping always waits its whole timeout (it cannot know how many workers exist), so the
# panel's time is this; a worker on a reachable broker answers within milliseconds.
PING_SECONDS = 0.4
STORAGE_SECONDS = 3.0
# The rollup runs every 30 s: no task finished for this long means no worker (or no scheduler).
HEARTBEAT_STALE = timedelta(minutes=3)
# A report still RUNNING after this long with no worker heartbeat cannot be progressing.
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


def heartbeat_check(*, now: datetime, last: datetime | None) -> Check:
    if last is not None and now - last <= HEARTBEAT_STALE:
        return Check("Workers (heartbeat)", "ok", f"a worker finished a task {_ago(last, now)}")
    return Check(
        "Workers (heartbeat)", "failed",
        ("no worker has finished a task yet" if last is None else f"no worker has finished a task for "
         f"{timesince(last, now)}") + "; the rollup should run every 30 s",
        "Start a worker and the scheduler: `celery -A eventsite worker` and exactly one `celery -A eventsite beat` "
        "(Procfile `worker` and `beat`; `make run` starts both).",
    )


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


def report_job_stall(*, job: ReportJob, now: datetime, worker_seen_at: datetime | None) -> str:
    """Words for an operator when a RUNNING report cannot be progressing; "" when it looks fine."""
    if job.status != ReportJob.Status.RUNNING:
        return ""
    running_for = now - (job.started_at or job.created_at)
    limit = timedelta(seconds=settings.REPORT_TIME_LIMIT_SECONDS)
    fail_at = job.created_at + limit + timedelta(minutes=5)
    worker_alive = worker_seen_at is not None and now - worker_seen_at <= HEARTBEAT_STALE
    if running_for > REPORT_STALL_AFTER and not worker_alive:
        return (
            f"Stalled: RUNNING for {timesince(now - running_for, now)} and no worker has finished any task "
            f"{'yet' if worker_seen_at is None else 'for ' + timesince(worker_seen_at, now)}. "
            "Start a worker (`celery -A eventsite worker`): a report still queued starts then (one a dead "
            f"worker had taken is handed out again after {settings.BROKER_VISIBILITY_TIMEOUT} s). Otherwise the "
            f"sweep marks it FAILED after {fail_at:%Y-%m-%d %H:%M} UTC and it can be started again."
        )
    if running_for > limit + timedelta(minutes=5):
        return (
            f"Overdue: RUNNING for {timesince(now - running_for, now)}, past its time limit of "
            f"{settings.REPORT_TIME_LIMIT_SECONDS} s. The scheduler's sweep should have marked it FAILED: "
            "check that `celery -A eventsite beat` runs."
        )
    return ""


def oldest_running_report_check(*, now: datetime, worker_seen_at: datetime | None) -> Check:
    job = ReportJob.objects.filter(status=ReportJob.Status.RUNNING).order_by("created_at").first()
    if job is None:
        return Check("Oldest running report", "ok", "no report is running")
    stall = report_job_stall(job=job, now=now, worker_seen_at=worker_seen_at)
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
    """The durable ingest spool (events.spool.spool_status(), a dict), when that module exists."""
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
    summary = (f"{records:,} batch(es) waiting, {(status.get('bytes') or 0) / 1024 / 1024:,.1f} MiB "
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


def worker_ping_check(*, heartbeat: datetime | None = None, now: datetime | None = None) -> Check:
    workers, error = _bounded(_ping, PING_SECONDS + 1.5)
    if error is not None:
        return Check("Workers (ping)", "unknown", f"the broker did not answer the ping ({error})")
    if workers:
        return Check("Workers (ping)", "ok", f"{len(workers)} answering: {', '.join(workers)}")
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        # The embedded filesystem broker relays broadcasts poorly: trust the heartbeat instead.
        return Check("Workers (ping)", "unknown", "no reply (the embedded filesystem broker may not relay pings); "
                     "see the heartbeat")
    now = now or timezone.now()
    if heartbeat is not None and now - heartbeat <= HEARTBEAT_STALE:
        return Check("Workers (ping)", "warning", f"no reply within {PING_SECONDS:g} s, but a worker finished a "
                     f"task {_ago(heartbeat, now)}: busy, or a slow broker")
    return Check("Workers (ping)", "failed", f"no worker answered within {PING_SECONDS:g} s",
                 "Start a worker: `celery -A eventsite worker` (Procfile `worker`).")


def _redis_depth() -> tuple[int, int]:
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        # kombu's Redis transport keeps each priority level in its own list: "celery", "celery\x06\x163", ...
        names = [key for key in client.scan_iter(match="celery*", count=100) if client.type(key) == b"list"]
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
    seen = heartbeat_at()
    checks = [heartbeat_check(now=now, last=seen)]
    if live:
        # Side by side: the page waits for the slowest (the ping's timeout), not for their sum.
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="console-health") as pool:
            futures = [pool.submit(worker_ping_check, heartbeat=seen, now=now), pool.submit(queue_depth_check),
                       pool.submit(storage_check)]
            checks += [future.result() for future in futures]
    checks += [*sweep_checks(now=now), oldest_running_report_check(now=now, worker_seen_at=seen),
               database_size_check(), spool_check(now=now)]
    return checks
