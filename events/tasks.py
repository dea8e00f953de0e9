"""Celery tasks of the events layer: they call its services (imported inside the task)."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=600, time_limit=660)
def drain_spool() -> int:
    """The periodic trigger of the spool drain on the worker's host (beat, every minute): a
    backstop for the web processes' own drain thread. Returns the batches written."""
    from events.services import events_spool_drain

    return events_spool_drain().batches


@shared_task(acks_late=True, time_limit=6 * 3600)
def apply_retention() -> int:
    """Periodic: delete events past their datasource's retention, in bounded chunks."""
    from events.services import events_apply_retention_all

    return sum(run.events_deleted for run in events_apply_retention_all(trigger="scheduler"))
