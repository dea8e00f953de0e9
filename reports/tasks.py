"""Celery tasks. Each takes ids and calls one service; reruns are harmless."""

from celery import shared_task

from events.models import EpochReclaim
from reports.purges import purge_dataset_reclaim


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
