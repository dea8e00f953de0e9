"""End to end with a real Celery worker process on Redis and PostgreSQL, files on S3 (moto):
start a report over HTTP, poll, fetch the presigned link; kill a worker mid-export."""

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests
from django.db import connection

from events.models import Event
from events.parsing import IngestLimits, barchart_rows
from events.services import events_ingest
from reports.models import ReportJob
from reports.tests.conftest import BUCKET
from reports.tests.test_reports_api import barchart_event, start
from reports.tests.test_s3_exports import objects, s3_storage
from tests.services import REDIS_URL, requires_postgres, requires_redis

pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def start_worker(s3_endpoint: str, visibility_timeout: int = 3) -> subprocess.Popen:
    settings_dict = connection.settings_dict
    database_url = (f"postgres://{settings_dict['USER'] or 'postgres'}@{settings_dict['HOST']}:"
                    f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "EVENTSITE_TESTING": "1",
           "S3_BUCKET": BUCKET, "S3_ENDPOINT_URL": s3_endpoint, "S3_ACCESS_KEY_ID": "test",
           "S3_SECRET_ACCESS_KEY": "test", "BROKER_VISIBILITY_TIMEOUT": str(visibility_timeout)}
    return subprocess.Popen(
        # Both queues, as the Procfile's worker and exports processes between them do.
        [sys.executable, "-m", "celery", "-A", "eventsite", "worker", "--queues", "celery,exports",
         "--pool=solo", "--without-heartbeat",
         "--without-mingle", "--without-gossip", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(worker: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def wait_for(predicate, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def load_events(datasource, count: int) -> None:
    limits = IngestLimits(max_events=1000, max_event_bytes=65536, max_depth=32)
    for first in range(0, count, 1000):
        rows = barchart_rows({"events": [barchart_event(i) for i in range(first, min(first + 1000, count))]},
                             limits=limits)
        events_ingest(datasource=datasource, rows=rows)


@pytest.fixture
def purge_redis_queue():
    import redis

    redis.Redis.from_url(REDIS_URL).delete("celery", "exports")  # leftovers of earlier tests would slow the worker
    yield


def test_a_real_worker_exports_to_s3_and_the_link_serves_the_file(client, ingest_token, tgam_user, settings,
                                                                  s3_endpoint, purge_redis_queue):
    settings.STORAGES = {**settings.STORAGES, "exports": s3_storage(s3_endpoint)}
    load_events(ingest_token.token.datasource, 2_000)
    worker = start_worker(s3_endpoint)
    try:
        response = start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}})
        assert response.status_code == 200 and response.json()["status"] == "RUNNING"
        source = response.json()["source"]
        wait_for(lambda: client.get(f"/reports/{source}/availability", headers=tgam_user).json()["status"]
                 == "COMPLETE", timeout=60, step=0.2)
    finally:
        stop(worker)
    link = client.get(f"/reports/{source}", headers=tgam_user).json()["link"]
    rows = list(csv.reader(io.StringIO(requests.get(link, timeout=10).text), delimiter="|"))
    assert len(rows) == 2_001
    assert rows[1] == [str(barchart_event(0)["timestamp"]), "WATCHLIST-SYMBOL-ADDED", *barchart_event(0)["context"]]


def test_a_worker_killed_mid_export_leaves_exactly_one_complete_file(client, ingest_token, tgam_user, settings,
                                                                     s3_endpoint, purge_redis_queue):
    settings.STORAGES = {**settings.STORAGES, "exports": s3_storage(s3_endpoint)}
    total = 60_000
    load_events(ingest_token.token.datasource, total)
    assert Event.objects.count() == total
    first = start_worker(s3_endpoint)
    try:
        start(client, tgam_user, {"filter": {"customer": "TGAM", "product": "WATCHLIST"}})
        job = ReportJob.objects.get()
        wait_for(lambda: ReportJob.objects.filter(pk=job.pk, started_at__isnull=False).exists(), timeout=60,
                 step=0.01)
    finally:
        stop(first, signal.SIGKILL)  # dies mid-export: the task was never acknowledged
    job.refresh_from_db()
    assert job.status == "RUNNING" and job.attempts == 1
    assert f"reports/{job.id}.csv" not in objects(s3_endpoint)
    time.sleep(3.5)  # past the broker's visibility timeout: the task is handed out again
    second = start_worker(s3_endpoint)
    try:
        wait_for(lambda: ReportJob.objects.get(pk=job.pk).status != "RUNNING", timeout=90, step=0.2)
    finally:
        stop(second)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.rows) == ("COMPLETE", 2, total)
    keys = [key for key in objects(s3_endpoint) if str(job.id) in key]
    assert keys == [f"reports/{job.id}.csv"]
    body = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test").get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
    assert body.count(b"\n") == total + 1
