"""Purges reach export files: files holding purged events are deleted (their links die) and a
report running during a purge is redone without the purged events."""

import csv
import io
import json

import pytest

from events.models import EpochReclaim, PurgeAudit
from reports import storage
from reports.models import ReportJob
from reports.purges import Actor, purge_dataset, purge_dataset_reclaim, purge_user
from reports.tests.test_reports_api import barchart_event, ingest, start
from tests.logins import console_login

pytestmark = pytest.mark.django_db(transaction=True)
WATCHLIST = {"filter": {"customer": "TGAM", "product": "WATCHLIST"}}


def import_catalog(datasource):
    from events.catalog import catalog_cache_clear, catalog_import
    from events.tests.test_barchart_api import SMALL_CATALOG

    catalog_import(datasource=datasource, document={
        **SMALL_CATALOG, "customers": [*SMALL_CATALOG["customers"], {"code": "CUSTX"}],
        "products": [*SMALL_CATALOG["products"], {"code": "ALERT"}],
        "eventTypes": [*SMALL_CATALOG["eventTypes"], {"code": "ALERT-CREATED", "product": "ALERT",
                                                      "contextKeys": ["userId"], "contextRules": {}}]})
    catalog_cache_clear()


@pytest.fixture
def catalog(ingest_token):
    import_catalog(ingest_token.token.datasource)


def download(client, headers, source) -> list[list[str]]:
    link = client.get(f"/reports/{source}", headers=headers).json()["link"].replace("http://testserver", "")
    return list(csv.reader(io.StringIO(b"".join(client.get(link).streaming_content).decode()), delimiter="|"))


def test_purge_user_deletes_the_files_that_hold_the_user(client, ingest_token, tgam_user, eager_celery, catalog):
    ingest(client, ingest_token.raw, [barchart_event(1), barchart_event(2),
                                      barchart_event(3, product="ALERT", type="ALERT-CREATED", context=["user-3"])])
    watchlist = start(client, tgam_user, WATCHLIST).json()["source"]
    alert = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "ALERT"}}).json()["source"]
    old_link = client.get(f"/reports/{watchlist}", headers=tgam_user).json()["link"].replace("http://testserver", "")
    assert len(download(client, tgam_user, watchlist)) == 3

    audit = purge_user(datasource=ingest_token.token.datasource, kind="internal_id", user_id="user-1",
                       actor=Actor(label="test"))
    assert (audit.events_deleted, audit.files_removed) == (1, 1)
    assert PurgeAudit.objects.get().files_removed == 1
    job = ReportJob.objects.get(customer="TGAM", product="WATCHLIST")
    assert job.file_deleted_at is not None and not storage.exists(key=job.file_key)
    assert client.get(old_link).status_code == 409  # the old link is dead
    assert client.get(f"/reports/{watchlist}", headers=tgam_user).status_code == 409
    assert len(download(client, tgam_user, alert)) == 2  # the other product's report is untouched
    # A new report no longer has the user.
    fresh = start(client, tgam_user, WATCHLIST).json()["source"]
    assert [row[2] for row in download(client, tgam_user, fresh)[1:]] == ["user-2"]


def test_purge_dataset_removes_the_files_when_reclaiming(client, ingest_token, tgam_user, eager_celery):
    ingest(client, ingest_token.raw, [barchart_event(1)])
    start(client, tgam_user, WATCHLIST)
    running = ReportJob.objects.create(customer="TGAM", product="WATCHLIST")  # it can read the purged events
    other = ReportJob.objects.create(customer="OTHER", product="X")  # it cannot
    app = eager_celery
    app.conf.task_always_eager = False  # the reclaim runs below, by hand
    purge_dataset(datasource=ingest_token.token.datasource, actor=Actor(label="test"))
    purge_dataset_reclaim(reclaim_id=EpochReclaim.objects.get().pk)
    assert ReportJob.objects.get(pk=running.pk).rerun_required is True
    assert ReportJob.objects.get(pk=other.pk).rerun_required is False
    job = ReportJob.objects.get(customer="TGAM", status="COMPLETE")
    assert job.file_deleted_at is not None and not storage.exists(key=job.file_key)
    assert PurgeAudit.objects.get().files_removed == 1


def test_a_report_running_during_a_purge_does_not_leak_the_purged_events(client, ingest_token, tgam_user, catalog,
                                                                        monkeypatch):
    from reports.services import report_job_run

    ingest(client, ingest_token.raw, [barchart_event(1), barchart_event(2)])
    from eventsite.celery import app

    app.conf.task_always_eager = False
    job = ReportJob.objects.create(customer="TGAM", product="WATCHLIST")
    real_upload = storage.upload
    purged = []

    def upload_while_a_purge_lands(*, key, path):
        # The export has read its rows (user-1 included); a purge commits during the upload.
        if not purged:
            purged.append(purge_user(datasource=ingest_token.token.datasource, kind="internal_id",
                                     user_id="user-1", actor=Actor(label="test")))
        return real_upload(key=key, path=path)

    monkeypatch.setattr(storage, "upload", upload_while_a_purge_lands)
    assert report_job_run(job_id=str(job.pk)) == "COMPLETE"
    job.refresh_from_db()
    assert job.rows == 1 and job.rerun_required is False
    rows = download(client, tgam_user, job.source)
    assert [row[2] for row in rows[1:]] == ["user-2"]
    assert json.dumps(rows).count("user-1") == 0


# --- A purge reaches only the files that can hold its events (issue 11, defect 5) -------------

@pytest.fixture
def second_source(db):
    from tests.factories import make_datasource, make_token

    return make_token(datasource=make_datasource(slug="app"), scope="ingest")


def custx(i, **overrides):
    return barchart_event(i, customer="CUSTX", **overrides)


CUSTX = {"filter": {"customer": "CUSTX", "product": "WATCHLIST"}}


def test_it_records_which_datasources_and_period_a_file_holds(client, ingest_token, second_source, staff_basic,
                                                             eager_celery):
    ingest(client, ingest_token.raw, [custx(5), custx(9)])
    ingest(client, second_source.raw, [custx(7), barchart_event(100)])
    start(client, staff_basic, CUSTX)
    job = ReportJob.objects.get()
    web, app = ingest_token.token.datasource, second_source.token.datasource
    assert job.status == "COMPLETE" and job.rows == 3
    assert job.exported_datasources == {str(web.pk): web.epoch, str(app.pk): app.epoch}
    assert (job.exported_min_ms, job.exported_max_ms) == (custx(5)["timestamp"], custx(9)["timestamp"])


def test_purge_dataset_spares_a_custx_file_without_events_of_that_datasource(client, ingest_token, second_source,
                                                                             staff_basic, eager_celery):
    ingest(client, ingest_token.raw, [custx(1), custx(2)])
    spared = start(client, staff_basic, CUSTX).json()["source"]
    ingest(client, second_source.raw, [custx(3)])  # CUSTX events in the other datasource, after that export
    reached = start(client, staff_basic, CUSTX).json()["source"]
    # The reclaim's scan finds (CUSTX, WATCHLIST) among the purged events: both files match the
    # pair, only the second holds events of the purged datasource.
    audit = purge_dataset(datasource=second_source.token.datasource, actor=Actor(label="test"))
    audit.refresh_from_db()
    assert (audit.events_deleted, audit.files_removed) == (1, 1)
    kept, lost = ReportJob.objects.get(pk=spared[4:]), ReportJob.objects.get(pk=reached[4:])
    assert kept.file_deleted_at is None and kept.file_delete_requested_at is None and storage.exists(key=kept.file_key)
    assert len(download(client, staff_basic, spared)) == 3
    assert lost.file_deleted_at is not None and not storage.exists(key=lost.file_key)
    assert client.get(f"/reports/{reached}", headers=staff_basic).status_code == 409


def test_purge_user_spares_files_of_other_datasources_and_periods(client, ingest_token, second_source, staff_basic,
                                                                 eager_celery, catalog):
    import_catalog(second_source.token.datasource)
    ingest(client, ingest_token.raw, [custx(1), custx(2)])
    ingest(client, second_source.raw, [custx(50, context=["user-1", "x", "y"])])  # user-1 in both
    early = start(client, staff_basic, {"filter": {**CUSTX["filter"], "end": custx(10)["timestamp"]}})
    whole = start(client, staff_basic, CUSTX)
    late = start(client, staff_basic, {"filter": {**CUSTX["filter"], "start": custx(10)["timestamp"]}})
    audit = purge_user(datasource=second_source.token.datasource, kind="internal_id", user_id="user-1",
                       actor=Actor(label="test"))
    assert (audit.events_deleted, audit.files_removed) == (1, 2)
    files = {name: ReportJob.objects.get(pk=response.json()["job"])
             for name, response in (("early", early), ("whole", whole), ("late", late))}
    # "early" read web's user-1 event, never app's: it keeps its file.
    assert files["early"].file_deleted_at is None and storage.exists(key=files["early"].file_key)
    assert files["whole"].file_deleted_at is not None and files["late"].file_deleted_at is not None


def test_a_running_report_reruns_only_if_it_can_read_the_purged_events(client, ingest_token, staff_basic, catalog):
    ingest(client, ingest_token.raw, [custx(1, context=["user-1", "x", "y"]), barchart_event(2)])
    before = ReportJob.objects.create(customer="CUSTX", product="WATCHLIST", end_ms=custx(1)["timestamp"])
    other_type = ReportJob.objects.create(customer="CUSTX", product="WATCHLIST", types=["OTHER"])
    other_customer = ReportJob.objects.create(customer="TGAM", product="WATCHLIST")
    reads_it = ReportJob.objects.create(customer="CUSTX", product="WATCHLIST", start_ms=custx(1)["timestamp"])
    purge_user(datasource=ingest_token.token.datasource, kind="internal_id", user_id="user-1",
               actor=Actor(label="test"))
    flagged = set(ReportJob.objects.filter(rerun_required=True).values_list("pk", flat=True))
    assert flagged == {reads_it.pk}
    assert {before.pk, other_type.pk, other_customer.pk}.isdisjoint(flagged)


# --- A deletion storage did not confirm stays pending and is retried (issue 11, defect 4) -----

def test_a_purge_while_s3_is_down_keeps_the_deletion_pending_until_s3_confirms(
        client, ingest_token, tgam_user, eager_celery, settings, s3_endpoint, catalog):
    from reports.services import report_files_pending, report_jobs_sweep
    from reports.tests.conftest import closed_port
    from reports.tests.test_s3_exports import objects, s3_storage

    settings.STORAGES = {**settings.STORAGES, "exports": s3_storage(s3_endpoint)}
    ingest(client, ingest_token.raw, [barchart_event(1), barchart_event(2)])
    source = start(client, tgam_user, WATCHLIST).json()["source"]
    second = ReportJob.objects.get(pk=start(client, tgam_user, WATCHLIST).json()["job"])
    job = ReportJob.objects.get(pk=source[4:])
    assert job.status == "COMPLETE" and job.file_key in objects(s3_endpoint)

    settings.STORAGES = {**settings.STORAGES, "exports": s3_storage(f"http://127.0.0.1:{closed_port()}")}  # S3 down
    audit = purge_user(datasource=ingest_token.token.datasource, kind="internal_id", user_id="user-1",
                       actor=Actor(label="test"))
    job.refresh_from_db()
    second.refresh_from_db()
    assert audit.files_removed == 2
    assert job.file_delete_pending and job.file_deleted_at is None and second.file_delete_pending
    assert job.file_key in objects(s3_endpoint)  # the object is still there...
    response = client.get(f"/reports/{source}", headers=tgam_user)
    assert response.status_code == 409 and "purge" in response.json()[0]["value"]["message"]  # ...but no link
    assert report_files_pending() == 2
    assert report_jobs_sweep()["pending"] == 2  # still down: still pending
    job.refresh_from_db()
    assert job.file_deleted_at is None

    settings.STORAGES = {**settings.STORAGES, "exports": s3_storage(s3_endpoint)}  # S3 back
    assert report_jobs_sweep() == {"stuck": 0, "expired": 0, "deleted": 2, "pending": 0}
    job.refresh_from_db()
    assert job.file_deleted_at is not None and not job.file_delete_pending
    assert job.file_key not in objects(s3_endpoint) and second.file_key not in objects(s3_endpoint)
    assert report_files_pending() == 0


def test_the_console_lists_pending_file_deletions(client, ingest_token, tgam_user, eager_celery):
    from django.contrib.auth.models import User
    from django.utils import timezone

    ingest(client, ingest_token.raw, [barchart_event(1)])
    start(client, tgam_user, WATCHLIST)
    start(client, tgam_user, WATCHLIST)
    pending, done = ReportJob.objects.order_by("created_at")
    ReportJob.objects.filter(pk=pending.pk).update(file_delete_requested_at=timezone.now())
    ReportJob.objects.filter(pk=done.pk).update(file_delete_requested_at=timezone.now(), file_deleted_at=timezone.now())
    console_login(client, User.objects.create_user("boss", password="x", is_staff=True, is_superuser=True))
    page = client.get("/admin/reports/reportjob/?file_deletion=pending")
    assert page.status_code == 200
    html = page.content.decode()
    assert pending.source in html and "deletion pending" in html and done.source not in html
