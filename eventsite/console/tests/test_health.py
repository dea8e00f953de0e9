"""The health panel and the stalled-report flags: each check answers, in bounded time, in words."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from eventsite.console.health import WORKER_SILENT, health_checks
from eventsite.console.models import TaskRun, WorkerSeen
from reports.models import ReportJob

pytestmark = pytest.mark.django_db


def by_name(checks):
    return {check.name: check for check in checks}


def test_the_health_page_answers_with_every_check(admin_client, settings):
    response = admin_client.get("/admin/health/")
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("Workers: default queue", "Workers: exports queue", "Workers (ping)", "Task queue",
                 "Object storage", "Last task finished", "Database size", "Oldest running report", "Ingest spool",
                 "Scheduled: sweep-report-jobs", "Scheduled: console-rollup-events"):
        assert f'data-check="{name}"' in html, name


def seen(hostname: str, queues: list[str], *, ago: timedelta = timedelta(seconds=5)) -> WorkerSeen:
    now = timezone.now()
    return WorkerSeen.objects.create(hostname=hostname, queues=queues, started_at=now - timedelta(hours=1),
                                     seen_at=now - ago)


def test_without_workers_each_queue_says_what_to_start(db):
    seen("exports@old", ["exports"], ago=WORKER_SILENT + timedelta(seconds=1))  # silent too long: gone
    checks = by_name(health_checks(live=False))
    assert checks["Workers: default queue"].state == "failed"
    assert "--queues celery" in checks["Workers: default queue"].action
    assert checks["Workers: exports queue"].state == "failed"
    assert "--queues exports" in checks["Workers: exports queue"].action
    assert checks["Last task finished"].state == "failed" and "celery -A eventsite beat" in checks[
        "Last task finished"].action


def test_workers_that_report_themselves_are_listed_per_queue(db):
    seen("worker@a", ["celery"])
    seen("exports@a", ["exports"])
    checks = by_name(health_checks(live=False))
    assert checks["Workers: default queue"].state == "ok" and "worker@a" in checks["Workers: default queue"].summary
    assert checks["Workers: exports queue"].state == "ok" and "exports@a" in checks["Workers: exports queue"].summary


def test_a_task_run_by_celery_is_recorded_as_the_last_task_and_as_its_sweep(db):
    from eventsite.celery import app
    from eventsite.console.tasks import rollup_events

    app.conf.task_always_eager = True
    try:
        rollup_events.delay()
    finally:
        app.conf.task_always_eager = False

    run = TaskRun.objects.get(name="eventsite.console.tasks.rollup_events")
    assert run.runs == 1 and run.last_state == "SUCCESS"
    checks = by_name(health_checks(live=False))
    assert checks["Last task finished"].state == "ok"
    assert checks["Scheduled: console-rollup-events"].state == "ok"
    assert checks["Scheduled: sweep-report-jobs"].state == "unknown"  # never ran here


def test_a_sweep_that_stopped_running_is_late(db):
    TaskRun.objects.create(name="reports.tasks.sweep_report_jobs", last_finished_at=timezone.now() - timedelta(
        minutes=30), hostname="celery@w1", runs=4)
    check = by_name(health_checks(live=False))["Scheduled: sweep-report-jobs"]
    assert check.state == "warning" and "30\xa0minutes ago" in check.summary and "celery@w1" in check.summary
    assert "celery -A eventsite beat" in check.action


def test_local_storage_and_the_database_size_are_reported(db):
    checks = by_name(health_checks())
    assert checks["Object storage"].state == "ok"
    assert checks["Database size"].state == "ok" and "MiB" in checks["Database size"].summary
    assert checks["Task queue"].state in ("ok", "unknown")
    assert checks["Workers (ping)"].state in ("failed", "unknown")  # no worker runs in this test


def make_running_job(minutes_ago: int, *, started: bool = True) -> ReportJob:
    job = ReportJob.objects.create(id=uuid.uuid4(), customer="TGAM", product="WATCHLIST")
    at = timezone.now() - timedelta(minutes=minutes_ago)
    ReportJob.objects.filter(pk=job.pk).update(created_at=at, started_at=at if started else None)
    job.refresh_from_db()
    return job


def test_a_report_whose_export_worker_is_gone_is_flagged_in_the_list_and_on_its_page(admin_client):
    job = make_running_job(minutes_ago=12)
    seen("worker@a", ["celery"])  # only the default queue has a worker

    listing = admin_client.get("/admin/reports/reportjob/", follow=True).content.decode()
    page = admin_client.get(f"/admin/reports/reportjob/{job.pk}/change/").content.decode()

    for html in (listing, page):
        assert "Stalled: started 12" in html
        assert "Start an export worker" in html and "--queues exports" in html
    assert 'title="Stalled: started 12' in listing and ">Stalled</strong>" in listing  # the attention column
    check = by_name(health_checks(live=False))["Oldest running report"]
    assert check.state == "failed" and job.source in check.summary


def test_a_report_nobody_took_says_whether_export_workers_are_missing_or_busy(admin_client):
    make_running_job(minutes_ago=9, started=False)
    assert "Stalled: waiting 9" in admin_client.get("/admin/reports/reportjob/").content.decode()
    seen("exports@a", ["exports"])
    assert "all 1 export worker(s) are busy" in admin_client.get("/admin/reports/reportjob/").content.decode()


def test_a_report_running_while_an_export_worker_is_alive_is_not_flagged(admin_client):
    make_running_job(minutes_ago=12)
    seen("exports@a", ["exports"])

    listing = admin_client.get("/admin/reports/reportjob/").content.decode()

    assert "Stalled" not in listing and "column-attention" not in listing  # no extra column either
    assert by_name(health_checks(live=False))["Oldest running report"].state == "ok"


def test_a_report_past_its_time_limit_is_overdue_even_with_workers(admin_client, settings):
    settings.REPORT_TIME_LIMIT_SECONDS = 60
    make_running_job(minutes_ago=30)
    seen("exports@a", ["exports"])
    assert "Overdue: RUNNING for 30" in admin_client.get("/admin/reports/reportjob/").content.decode()
    assert "Overdue" in admin_client.get("/admin/").content.decode()  # the overview's health summary


def test_the_spool_is_shown_with_a_warning_when_its_oldest_batch_is_old(datasource):
    import uuid as uuid_module

    from events.parsing import IngestLimits, ksense_rows
    from events.spool import spool_append, spool_seal
    from eventsite.console.health import spool_check

    assert spool_check(now=timezone.now()).state == "ok"  # empty
    received = timezone.now() - timedelta(minutes=15)  # spooled during an outage a quarter of an hour ago
    rows = ksense_rows([{"type": "pv"}] * 3, limits=IngestLimits.from_settings(), now=received)
    spool_append(batch=uuid_module.uuid4(), datasource_id=datasource.pk, received_at=received, rows=rows)
    spool_seal()

    check = spool_check(now=timezone.now())

    assert check.state == "warning", check
    assert "1 batch(es) waiting" in check.summary and "15\xa0minutes old" in check.summary
    assert "spool drain" in check.action
