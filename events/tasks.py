"""Celery tasks of the events layer. Each calls one service (imported inside: services import tasks)."""

from celery import shared_task


@shared_task(acks_late=True, time_limit=6 * 3600)
def apply_retention() -> int:
    """Periodic: delete events past their datasource's retention, in bounded chunks."""
    from events.services import events_apply_retention_all

    return sum(run.events_deleted for run in events_apply_retention_all(trigger="scheduler"))
