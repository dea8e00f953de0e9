"""Figures the console shows, collected off the request path.

Event counts come from a periodic rollup over new rows (eventsite.console.rollup); rejected
API requests from in-process counters flushed by a background thread
(eventsite.console.rejections); task runs from Celery signals (eventsite.console.taskruns).
Nothing here is written by an ingest request.
"""

from django.db import models


class EventMinute(models.Model):
    """Events received per datasource and minute: kept two hours, for "the last hour"."""

    # A plain id, not a foreign key: figures of a deleted datasource simply age out.
    datasource_id = models.BigIntegerField()
    minute = models.DateTimeField()
    events = models.BigIntegerField(default=0)
    last_received_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["datasource_id", "minute"], name="eventminute_unique")]


class EventHour(models.Model):
    """Events received per datasource and hour: kept eight days, for today, 7 days and the chart."""

    datasource_id = models.BigIntegerField()
    hour = models.DateTimeField()
    events = models.BigIntegerField(default=0)
    last_received_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["datasource_id", "hour"], name="eventhour_unique")]


class RollupState(models.Model):
    """The rollup's progress (one row).

    settled_id: every event with an id up to it is counted in EventMinute/EventHour.
    marks: recent [unix time, max event id] pairs; an id visible at time t was assigned before t,
    so once t is older than any ingest transaction lasts, no id below it can still appear.
    tail: counts of the newer, not yet settled ids, recomputed on every run (shown, never added).
    """

    settled_id = models.BigIntegerField(default=0)
    marks = models.JSONField(default=list)
    tail = models.JSONField(default=list)
    ran_at = models.DateTimeField(null=True)


class RejectionHour(models.Model):
    """API requests refused per hour, datasource (slug, "" when unknown) and status code."""

    hour = models.DateTimeField()
    datasource_slug = models.CharField(max_length=64, blank=True, default="")
    status = models.PositiveSmallIntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "datasource_slug", "status"], name="rejectionhour_unique")
        ]
        indexes = [models.Index(fields=["hour"], name="rejectionhour_hour")]


class TaskRun(models.Model):
    """The last run of each Celery task name: the worker heartbeat and the sweeps' last run."""

    name = models.CharField(max_length=200, unique=True)
    last_started_at = models.DateTimeField(null=True)
    last_finished_at = models.DateTimeField(null=True)
    last_state = models.CharField(max_length=32, blank=True)
    hostname = models.CharField(max_length=200, blank=True)
    runs = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return self.name


class WorkerSeen(models.Model):
    """A Celery worker that says it is alive, with the queues it consumes (eventsite.console.taskruns).

    Written by a thread of the worker's main process every WORKER_BEAT_SECONDS, whatever its task
    slots are doing, so a worker busy with long exports still counts as alive.
    """

    hostname = models.CharField(max_length=200, unique=True)
    queues = models.JSONField(default=list)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.hostname
