"""Celery wiring: every task is registered under its name, and publishing really reaches Redis."""


from eventsite.celery import app
from tests.services import REDIS_URL, requires_redis


def test_the_task_names_are_stable():
    # Queued messages name their task: renaming one strands the messages already in Redis.
    app.loader.import_default_modules()  # what a worker does at start: autodiscovers every tasks.py
    names = {name for name in app.tasks if not name.startswith("celery.")}
    assert names == {"reports.tasks.export_report", "reports.tasks.sweep_report_jobs",
                     "reports.tasks.reclaim_purged_epoch", "reports.tasks.reclaim_pending_epochs",
                     "eventsite.console.tasks.rollup_events", "events.tasks.drain_spool",
                     "events.tasks.apply_retention"}


def test_the_beat_schedule_names_registered_tasks():
    from django.conf import settings

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks


@requires_redis
def test_delay_publishes_to_redis_with_the_configured_retry_policy():
    import redis

    from reports.tasks import reclaim_purged_epoch

    queue = redis.Redis.from_url(REDIS_URL)
    before = queue.llen("celery")
    reclaim_purged_epoch.delay(987654321)  # the retry policy must be one kombu accepts
    assert queue.llen("celery") == before + 1
    queue.lpop("celery")  # the message just pushed (kombu LPUSHes, workers BRPOP)


def test_exports_have_their_own_queue_and_everything_else_the_default_one():
    # Purge reclaims, file deletions and sweeps must never wait behind hour-long exports.
    router = app.amqp.router
    assert router.route({}, "reports.tasks.export_report")["queue"].name == "exports"
    for name in ("reports.tasks.reclaim_purged_epoch", "reports.tasks.reclaim_pending_epochs",
                 "reports.tasks.sweep_report_jobs"):
        assert router.route({}, name)["queue"].name == "celery"


def test_the_procfile_runs_a_worker_for_each_queue():
    from pathlib import Path

    lines = dict(line.split(": ", 1) for line in (Path(__file__).parents[2] / "Procfile").read_text().splitlines())
    assert "--queues celery " in lines["worker"] and "--queues exports " in lines["exports"]


@requires_redis
def test_an_export_is_published_to_the_exports_queue_in_redis():
    import redis

    from reports.tasks import export_report

    queue = redis.Redis.from_url(REDIS_URL)
    before = queue.llen("exports"), queue.llen("celery")
    export_report.delay("00000000-0000-0000-0000-000000000000")
    assert (queue.llen("exports"), queue.llen("celery")) == (before[0] + 1, before[1])
    queue.lpop("exports")
