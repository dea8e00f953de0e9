"""Celery tasks. Each takes ids and calls one service; reruns are harmless.

Each task imports its service inside the function: the services import this module to
enqueue (after their transaction commits), so a module-level import would be a circle.
Retry, acknowledgement and time limits live here, on the decorators, from settings.
"""

from celery import shared_task
from django.conf import settings


@shared_task(acks_late=True, autoretry_for=(Exception,), max_retries=3, retry_backoff=True,
             time_limit=settings.RECLAIM_TIME_LIMIT_SECONDS)
def reclaim_purged_epoch(reclaim_id: int) -> int:
    from reports.purges import purge_dataset_reclaim

    return purge_dataset_reclaim(reclaim_id=reclaim_id)


@shared_task(time_limit=settings.SWEEP_TIME_LIMIT_SECONDS)
def reclaim_pending_epochs() -> int:
    """Periodic sweep: reclaim epochs whose task was never delivered (e.g. the broker was down)."""
    from reports.purges import purge_dataset_reclaims_enqueue_pending

    return purge_dataset_reclaims_enqueue_pending()


# Late acknowledgement: a worker killed mid-export leaves the message to be redelivered, and
# the rerun overwrites the same object key. The service stops the export itself at
# REPORT_TIME_LIMIT_SECONDS (a TIMEOUT status); the hard limit only ends a worker stuck beyond that.
@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=settings.REPORT_TIME_LIMIT_SECONDS + 300)
def export_report(job_id: str) -> str:
    from reports.services import report_job_run

    return report_job_run(job_id=job_id)


@shared_task(time_limit=settings.SWEEP_TIME_LIMIT_SECONDS)
def sweep_report_jobs() -> dict:
    from reports.services import report_jobs_sweep

    return report_jobs_sweep()
