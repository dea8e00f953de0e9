"""The console's periodic task. It takes no arguments and calls one service; reruns are harmless."""

from celery import shared_task


@shared_task(ignore_result=True, time_limit=300, expires=60)
def rollup_events() -> dict:
    from eventsite.console.rollup import events_rollup

    result = events_rollup()
    return {"settled_id": result.settled_id, "settled": result.settled_events, "tail": result.tail_events}
