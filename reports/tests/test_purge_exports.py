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

pytestmark = pytest.mark.django_db(transaction=True)
WATCHLIST = {"filter": {"customer": "TGAM", "product": "WATCHLIST"}}


@pytest.fixture
def catalog(ingest_token):
    from events.catalog import catalog_cache_clear, catalog_import
    from events.tests.test_barchart_api import SMALL_CATALOG

    catalog_import(datasource=ingest_token.token.datasource, document={
        **SMALL_CATALOG, "products": [*SMALL_CATALOG["products"], {"code": "ALERT"}],
        "eventTypes": [*SMALL_CATALOG["eventTypes"], {"code": "ALERT-CREATED", "product": "ALERT",
                                                      "contextKeys": ["userId"], "contextRules": {}}]})
    catalog_cache_clear()


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
    running = ReportJob.objects.create(customer="OTHER", product="X")
    purge_dataset(datasource=ingest_token.token.datasource, actor=Actor(label="test"))
    assert ReportJob.objects.get(pk=running.pk).rerun_required is True
    purge_dataset_reclaim(reclaim_id=EpochReclaim.objects.get().pk)
    job = ReportJob.objects.get(customer="TGAM")
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
