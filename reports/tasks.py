"""Celery tasks. Each takes ids and calls one service; reruns are harmless."""

from celery import shared_task

from events.models import EpochReclaim
from reports.purges import purge_dataset_reclaim
from reports.services import report_job_run, report_jobs_sweep


@shared_task(acks_late=True, autoretry_for=(Exception,), max_retries=3, retry_backoff=True, time_limit=3600)
def reclaim_purged_epoch(reclaim_id: int) -> int:
    return purge_dataset_reclaim(reclaim_id=reclaim_id)


@shared_task
def reclaim_pending_epochs() -> int:
    """Periodic sweep: reclaim epochs whose task was never delivered (e.g. the broker was down)."""
    pending = list(EpochReclaim.objects.filter(finished_at=None).values_list("pk", flat=True))
    for reclaim_id in pending:
        reclaim_purged_epoch.delay(reclaim_id)
    return len(pending)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_report(job_id: str) -> str:
    # Late acknowledgement: a worker killed mid-export leaves the message to be redelivered,
    # and the rerun overwrites the same object key. The job's own time limit (a TIMEOUT
    # status) is enforced by the service; the sweep fails jobs no worker ever finishes.
    return report_job_run(job_id=job_id)


@shared_task
def sweep_report_jobs() -> dict:
    return report_jobs_sweep()
