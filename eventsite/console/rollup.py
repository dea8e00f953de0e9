"""Counting received events per datasource, minute and hour, off the ingest path.

A periodic task (eventsite.console.tasks.rollup_events, every ROLLUP_SECONDS) reads only rows
newer than what it has counted, by primary key range, so ingest pays nothing and the work per
run follows the rows that arrived since the last run, not the table.

Why id ranges are safe: ids come from a sequence, so an id visible at time t was assigned before
t, and so were all smaller ids. Once t is older than an ingest transaction can last
(ROLLUP_SETTLE_SECONDS), every id up to the largest one visible at t is committed or gone for
good: that range is counted once and for all ("settled"). The ids above it are counted again on
each run into a provisional tail that the overview adds on top, so figures are as fresh as the
last run. Events drained later from a spool get new ids and are counted too. Counts are arrivals:
a purge does not lower them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Max
from django.db.models.functions import TruncMinute
from django.utils import timezone

from events.models import Event
from eventsite.console.models import EventHour, EventMinute, RollupState

ROLLUP_SECONDS = 30
# Longer than any ingest transaction lasts (a 1 MiB batch commits in well under a second).
ROLLUP_SETTLE_SECONDS = 20
MINUTES_KEPT = timedelta(hours=2)
HOURS_KEPT = timedelta(days=8)


@dataclass(frozen=True)
class RollupResult:
    settled_id: int
    settled_events: int
    tail_events: int


def _minute_counts(*, after_id: int, up_to_id: int | None, since: datetime) -> list[dict]:
    rows = Event.objects.filter(pk__gt=after_id, received_at__gte=since)
    if up_to_id is not None:
        rows = rows.filter(pk__lte=up_to_id)
    return list(
        rows.annotate(minute=TruncMinute("received_at"))
        .values("datasource_id", "minute")
        .annotate(events=Count("pk"), last_received_at=Max("received_at"))
        .order_by()
    )


def _add(model, key: str, *, datasource_id: int, start: datetime, events: int, last: datetime) -> None:
    updated = model.objects.filter(datasource_id=datasource_id, **{key: start}).update(
        events=F("events") + events, last_received_at=last
    )
    if not updated:
        model.objects.create(datasource_id=datasource_id, events=events, last_received_at=last, **{key: start})


def _settle(counts: list[dict]) -> None:
    hours: dict[tuple[int, datetime], list] = {}
    for row in counts:
        _add(EventMinute, "minute", datasource_id=row["datasource_id"], start=row["minute"], events=row["events"],
             last=row["last_received_at"])
        hour_key = (row["datasource_id"], row["minute"].replace(minute=0))
        total = hours.setdefault(hour_key, [0, row["last_received_at"]])
        total[0] += row["events"]
        total[1] = max(total[1], row["last_received_at"])
    for (datasource_id, hour), (events, last) in hours.items():
        _add(EventHour, "hour", datasource_id=datasource_id, start=hour, events=events, last=last)


@transaction.atomic
def events_rollup(*, now: datetime | None = None) -> RollupResult:
    """Count the events that arrived since the last run. Safe to run concurrently (one waits)."""
    now = now or timezone.now()
    state = RollupState.objects.select_for_update().filter(pk=1).first() or RollupState.objects.create(pk=1)
    newest = Event.objects.aggregate(newest=Max("pk"))["newest"] or 0
    marks = [*state.marks, [now.timestamp(), newest]]
    settle_before = now.timestamp() - ROLLUP_SETTLE_SECONDS
    old_enough = [mark_id for at, mark_id in marks if at <= settle_before]
    settle_to = max([state.settled_id, *old_enough])
    since = now - HOURS_KEPT
    settled_events = 0
    if settle_to > state.settled_id:
        counts = _minute_counts(after_id=state.settled_id, up_to_id=settle_to, since=since)
        _settle(counts)
        settled_events = sum(row["events"] for row in counts)
    tail = _minute_counts(after_id=settle_to, up_to_id=None, since=since)
    # Keep the newest settled mark (the next run may still need it) and the younger ones.
    state.marks = [[at, mark_id] for at, mark_id in marks if at > settle_before or mark_id == settle_to][-20:]
    state.settled_id = settle_to
    state.tail = [
        {"datasource_id": row["datasource_id"], "minute": row["minute"].isoformat(), "events": row["events"],
         "last_received_at": row["last_received_at"].isoformat()}
        for row in tail
    ]
    state.ran_at = now
    state.save()
    EventMinute.objects.filter(minute__lt=now - MINUTES_KEPT).delete()
    EventHour.objects.filter(hour__lt=now - HOURS_KEPT).delete()
    return RollupResult(settled_id=settle_to, settled_events=settled_events,
                        tail_events=sum(row["events"] for row in tail))
